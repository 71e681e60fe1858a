//! orderbus on a real `SASL_SSL` listener: a broker of the test's own with SCRAM-SHA-512 users and
//! a certificate signed by a CA the test makes with openssl. With the documented config,
//! `orderbus topics create`, `orderbus publish` and a daemon work through it; a wrong password
//! or an untrusted certificate fails the command at start with a clear reason that never shows
//! the secret; a client without credentials gets nothing.

use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use events::samples::Generator;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use testkit::daemon::{Daemon, unique_ids};
use testkit::kafka::Cluster;
use testkit::tls::TlsMaterial;

const USER: &str = "orderbus-svc";
const PASSWORD: &str = "s3cret-Scram-pass";
const WRONG: &str = "not-the-Password-9";

fn secure_broker(tls: &TlsMaterial) -> Cluster {
    let keystore = tls.keystore.display().to_string();
    Cluster::single()
        .listener("SASL_SSL", "SASL_SSL")
        .scram(&format!("SCRAM-SHA-512=[name={USER},password={PASSWORD}]"))
        .prop("sasl.enabled.mechanisms", "SCRAM-SHA-512")
        .prop(
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        )
        .prop("ssl.keystore.type", "PKCS12")
        .prop("ssl.keystore.location", &keystore)
        .prop("ssl.keystore.password", &tls.keystore_password)
        .prop("ssl.key.password", &tls.keystore_password)
        .prop("ssl.client.auth", "none")
        .start()
}

/// The README's SASL_SSL config, with the test's topics, group and a password and CA of choice.
fn config(
    dir: &Path,
    bootstrap: &str,
    password: &str,
    ca: &Path,
    topics: &(String, String),
    group: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("orderbus-{}.toml", testkit::unique("cfg")));
    let mut f = std::fs::File::create(&path).expect("config");
    write!(
        f,
        "[kafka]\nbootstrap_servers = \"{bootstrap}\"\nsecurity_protocol = \"sasl_ssl\"\n\n\
         [kafka.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"{USER}\"\npassword = \"{password}\"\n\n\
         [kafka.tls]\nca_location = \"{}\"\n\n\
         [topics]\norder_events = \"{}\"\npayment_events = \"{}\"\npartitions = 2\n\n\
         [groups.{group}]\nworker = \"log\"\nsession_timeout_ms = 6000\n",
        ca.display(),
        topics.0,
        topics.1,
    )
    .expect("write");
    path
}

fn run(config: &Path, args: &[&str]) -> Output {
    let mut cmd = testkit::orderbus!();
    cmd.env_remove("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run orderbus")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A plain client on the `SASL_SSL` port with `settings`: true when it got metadata.
fn gets_metadata(bootstrap: &str, settings: &[(&str, &str)]) -> bool {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in settings {
        c.set(*k, *v);
    }
    let client: BaseConsumer = c.create().expect("client");
    client.fetch_metadata(None, Duration::from_secs(5)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_ssl_works_with_the_documented_config_and_fails_clearly_without_it() {
    let dir = tempfile::tempdir().expect("dir");
    let tls = testkit::tls::make(dir.path());
    let broker = secure_broker(&tls);
    let secure = broker.listener_bootstrap("SASL_SSL");
    let topics = (
        testkit::unique("sec-orders"),
        testkit::unique("sec-payments"),
    );
    let group = testkit::unique("sec-group");
    let good = config(dir.path(), &secure, PASSWORD, &tls.ca_pem, &topics, &group);

    // Through the secure listener with the documented settings.
    let out = run(&good, &["topics", "create"]);
    assert!(out.status.success(), "topics create: {}", text(&out));
    let events: Vec<_> = (0..20)
        .flat_map(|n| Generator::new(12, "sec").order_flow(n))
        .collect();
    let file = dir.path().join("events.jsonl");
    let mut lines = Vec::new();
    for e in &events {
        lines.extend(e.encode().expect("valid"));
        lines.push(b'\n');
    }
    std::fs::write(&file, lines).expect("events");
    let out = run(&good, &["publish", "--file", file.to_str().expect("path")]);
    assert!(out.status.success(), "publish: {}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));

    let mut cmd = testkit::orderbus!();
    cmd.env_remove("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS");
    let mut daemon = Daemon::start(cmd, &good, &group);
    let mut handled = Vec::new();
    daemon.read_until(&mut handled, |h| unique_ids(h).len() >= events.len());
    daemon.signal("TERM");
    let raw = std::sync::Arc::clone(&daemon.raw);
    assert_eq!(daemon.finish(&mut handled).code(), Some(0));
    assert!(
        !raw.lock()
            .expect("lock")
            .iter()
            .any(|l| l.contains(PASSWORD)),
        "the daemon logged the password"
    );

    // A wrong password: every command fails at start, naming the authentication failure.
    let wrong = config(dir.path(), &secure, WRONG, &tls.ca_pem, &topics, &group);
    for args in [
        &["publish", "--file", file.to_str().expect("path")][..],
        &[
            "consume",
            "--group",
            &group,
            "--listen",
            "127.0.0.1:0",
            "--connect-timeout-secs",
            "10",
        ],
    ] {
        let out = run(&wrong, args);
        let said = text(&out);
        println!("wrong password, {}: {}", args[0], said.trim());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.to_ascii_lowercase().contains("authentication"),
            "{args:?} does not say the authentication failed: {said}"
        );
        assert!(!said.contains(WRONG) && !said.contains(PASSWORD), "{said}");
    }

    // A CA that did not sign the broker's certificate: refused at start, saying why.
    let untrusted = config(
        dir.path(),
        &secure,
        PASSWORD,
        &tls.other_ca_pem,
        &topics,
        &group,
    );
    let out = run(&untrusted, &["topics", "create"]);
    let said = text(&out);
    println!("untrusted CA: {}", said.trim());
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("certificate verify failed"), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");

    // Without credentials nothing is served on the secure listener: neither plain text, nor
    // TLS alone, nor SASL with a user the broker does not know.
    let ca = tls.ca_pem.display().to_string();
    assert!(!gets_metadata(&secure, &[]));
    assert!(!gets_metadata(
        &secure,
        &[("security.protocol", "ssl"), ("ssl.ca.location", &ca)]
    ));
    assert!(!gets_metadata(
        &secure,
        &[
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", &ca),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "nobody"),
            ("sasl.password", "nothing"),
        ]
    ));
    // ... while the right ones are (the same check, so the refusals above mean something).
    assert!(gets_metadata(
        &secure,
        &[
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", &ca),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", USER),
            ("sasl.password", PASSWORD),
        ]
    ));
}
