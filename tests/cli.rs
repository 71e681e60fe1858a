//! The `orderbus` binary as users run it: `publish` from files and flags, `topics create`,
//! config errors that name the key, secrets that never print. The demo has `tests/demo.rs`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output};

use events::{EventType, samples::Generator};
use rdkafka::message::Message;

fn orderbus(topics: Option<&producers::TopicsConfig>) -> Command {
    let mut cmd = testkit::orderbus!();
    if let Some(t) = topics {
        testkit::cli::with_topics(&mut cmd, t);
    }
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line_of(event: &events::Envelope) -> Vec<u8> {
    let mut l = event.encode().expect("valid");
    l.push(b'\n');
    l
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_file_sends_exactly_the_good_lines_and_reports_the_bad_ones() {
    let topics = testkit::topics::fresh_topics(3).await;
    let mut generator = Generator::new(5, "it");
    let good: Vec<events::Envelope> = (0..4).flat_map(|n| generator.order_flow(n)).collect();
    let mut file = tempfile::NamedTempFile::new().expect("file");
    let mut bad_lines = Vec::new();
    let mut line = 0;
    let mut write = |bytes: &[u8]| {
        file.write_all(bytes).expect("write");
        line += 1;
        line
    };
    for (i, e) in good.iter().enumerate() {
        write(&line_of(e));
        match i {
            1 => bad_lines.push((write(b"this is not json\n"), "not JSON")),
            3 => bad_lines.push((
                write(b"{\"event_type\":\"order.exploded\",\"order_id\":\"o1\",\"data\":{}}\n"),
                "unknown event_type `order.exploded`",
            )),
            5 => {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&e.encode().expect("valid")).expect("json");
                v["data"].as_object_mut().expect("data").remove("customer");
                v["event_id"] = uuid::Uuid::now_v7().to_string().into();
                bad_lines.push((
                    write(format!("{v}\n").as_bytes()),
                    "missing field `data.customer`",
                ));
            }
            7 => bad_lines.push((write(b"\xff\xfe not utf-8\n"), "not UTF-8")),
            9 => {
                write(b"\n"); // blank lines are skipped, not errors
            }
            _ => {}
        }
    }
    file.flush().expect("flush");
    let out = orderbus(Some(&topics))
        .args(["publish", "--file"])
        .arg(file.path())
        .output()
        .expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (n, reason) in &bad_lines {
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&format!("line {n}: ")))
            .unwrap_or_else(|| panic!("line {n} not reported:\n{stderr}"));
        assert!(reported.contains(reason), "line {n}: {reported}");
    }
    assert!(
        stderr.contains(&format!(
            "published {} of {}",
            good.len(),
            good.len() + bad_lines.len()
        )),
        "{stderr}"
    );

    let orders = good
        .iter()
        .filter(|e| e.event_type().stream() == events::Stream::Order)
        .count();
    let mut read = testkit::reader::read(&topics.order_events, orders);
    read.extend(testkit::reader::read(
        &topics.payment_events,
        good.len() - orders,
    ));
    let got: BTreeSet<uuid::Uuid> = read
        .iter()
        .map(|m| {
            events::decode(m.payload().expect("payload"))
                .expect("decodes")
                .event_id
        })
        .collect();
    let want: BTreeSet<uuid::Uuid> = good.iter().map(|e| e.event_id).collect();
    assert_eq!(got, want, "exactly the good lines were sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_on_error_sends_nothing_after_the_first_bad_line() {
    let topics = testkit::topics::fresh_topics(1).await;
    let mut generator = Generator::new(6, "it");
    let first = generator.one(EventType::OrderCreated, 1);
    let after = generator.one(EventType::OrderShipped, 2);
    let mut input = line_of(&first);
    input.extend_from_slice(b"{\"broken\": true}\n");
    input.extend(line_of(&after));
    let mut child = orderbus(Some(&topics))
        .args(["publish", "--file", "-", "--stop-on-error"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 2: unknown field `broken`"),
        "{stderr}"
    );
    let read = testkit::reader::read(&topics.order_events, 1);
    assert_eq!(read[0].key(), Some(first.order_id.as_bytes()));
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_one_event_from_flags_and_create_topics_twice() {
    let topics = producers::TopicsConfig {
        order_events: testkit::unique("it-cli-orders"),
        payment_events: testkit::unique("it-cli-payments"),
        ..Default::default()
    };
    for round in ["created", "exists"] {
        let out = orderbus(Some(&topics))
            .args(["topics", "create", "--partitions", "2"])
            .output()
            .expect("run");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(round) && l.contains(&topics.order_events)),
            "{stdout}"
        );
    }
    let publish = |order_id: &str, data: &str| {
        orderbus(Some(&topics))
            .args([
                "publish",
                "--type",
                "order.cancelled",
                "--order-id",
                order_id,
                "--data",
                data,
            ])
            .output()
            .expect("run")
    };
    let data = r#"{"customer":{"customer_id":"cus_1","email":"a@example.com"},"reason":"customer_request"}"#;
    let out = publish("ord_cli_1", data);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "order.cancelled ord_cli_1 -> {}[",
            topics.order_events
        )),
        "{stdout}"
    );
    let read = testkit::reader::read(&topics.order_events, 1);
    let event = events::decode(read[0].payload().expect("payload")).expect("decodes");
    assert_eq!(event.order_id, "ord_cli_1");
    assert_eq!(event.producer, "orderbus");

    let out = publish("ord_cli_2", r#"{"reason":"bored"}"#);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("data.customer") || stderr.contains("data.reason"),
        "{stderr}"
    );
}

fn config_error(toml: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("orderbus.toml");
    std::fs::write(&path, toml).expect("write");
    let mut cmd = orderbus(None);
    // Only the file and `env` under test: the broker override would mask file errors.
    cmd.env_remove("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS");
    cmd.arg("--config").arg(&path).args(["config", "check"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bad config must exit 2: {toml:?} {env:?}: {stderr}"
    );
    stderr
}

#[test]
fn bad_config_fails_at_start_naming_the_key() {
    let e = config_error("[producer]\nlinger_ms = \"soon\"\n", &[]);
    assert!(
        e.contains("`producer.linger_ms`") && e.contains("orderbus.toml"),
        "{e}"
    );
    let e = config_error("[producer]\nlingr_ms = 5\n", &[]);
    assert!(
        e.contains("`producer.lingr_ms`") && e.contains("unknown key"),
        "{e}"
    );
    let e = config_error("", &[("ORDERBUS_PRODUCER__ACKS", "leader")]);
    assert!(
        e.contains("`producer.acks`") && e.contains("enable_idempotence"),
        "{e}"
    );
    let e = config_error("[kafka]\nbootstrap_servers = \"nohost\"\n", &[]);
    assert!(e.contains("`kafka.bootstrap_servers`"), "{e}");
    let e = config_error(
        "[kafka.properties]\n\"socket.timeout.ms\" = \"soon\"\n",
        &[],
    );
    assert!(e.contains("kafka.properties.\"socket.timeout.ms\""), "{e}");
    let e = config_error("[topics]\norder_events = \"has space\"\n", &[]);
    assert!(e.contains("`topics.order_events`"), "{e}");
}

#[test]
fn secrets_never_appear_in_output_or_errors() {
    let toml = "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\n[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"svc\"\npassword = \"hunter2\"\n";
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("orderbus.toml");
    std::fs::write(&path, toml).expect("write");
    let out = orderbus(None)
        .arg("--config")
        .arg(&path)
        .args(["config", "show"])
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("username = \"svc\"") && stdout.contains("***"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    // A mistyped secret is reported by key, without its value.
    let e = config_error(&toml.replace("\"hunter2\"", "[\"hunter2\"]"), &[]);
    assert!(
        e.contains("`kafka.sasl.password`") && !e.contains("hunter2"),
        "{e}"
    );
    let e = config_error(
        "[kafka.properties]\n\"ssl.key.pem\" = \"hunter2\"\n\"ssl.key.password\" = \"hunter2\"\n",
        &[],
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn string_settings_take_numeric_looking_values_from_the_environment() {
    let toml = "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\n[kafka.sasl]\nmechanism = \"PLAIN\"\nusername = \"svc\"\npassword = \"x\"\n";
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("orderbus.toml");
    std::fs::write(&path, toml).expect("write");
    let out = orderbus(None)
        .arg("--config")
        .arg(&path)
        .args(["config", "show"])
        .env("ORDERBUS_KAFKA__SASL__PASSWORD", "12345678")
        .env("ORDERBUS_KAFKA__SASL__USERNAME", "true")
        .env("ORDERBUS_PRODUCER__NAME", "0042")
        .env("ORDERBUS_PRODUCER__LINGER_MS", "7")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // The variable's exact text, leading zero included; numbers stay numbers where expected.
    assert!(stdout.contains("name = \"0042\""), "{stdout}");
    assert!(stdout.contains("username = \"true\""), "{stdout}");
    assert!(stdout.contains("linger_ms = 7"), "{stdout}");
    assert!(!stdout.contains("12345678") && !stderr.contains("12345678"));
    // A number where a number is expected is still checked.
    let e = config_error("", &[("ORDERBUS_PRODUCER__LINGER_MS", "soon")]);
    assert!(e.contains("`producer.linger_ms`"), "{e}");
}
