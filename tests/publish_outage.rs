//! `orderbus publish` when every broker of a 3-broker cluster dies mid-run, for longer than
//! `message.timeout.ms`: the lines sent before are delivered, every line after is named as
//! undelivered, the summary counts them and the exit code is 1; once the cluster is back it
//! holds exactly the events reported as published.

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;

use events::{EventType, samples::Generator};
use rdkafka::message::Message;
use testkit::kafka::Cluster;
use testkit::reader::{high_watermarks_on, read_to_end};

fn line_of(event: &events::Envelope) -> Vec<u8> {
    let mut l = event.encode().expect("valid");
    l.push(b'\n');
    l
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_cluster_mid_run_names_every_undelivered_line_and_exits_1() {
    let mut cluster = Cluster::three().start();
    let kafka = testkit::kafka::kafka_at(&cluster.bootstrap());
    let topics = testkit::topics::fresh_topics_on(&kafka, 3, 3).await;
    let mut cmd = testkit::orderbus!();
    testkit::cli::with_topics(&mut cmd, &topics);
    let mut child = cmd
        .env("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS", cluster.bootstrap())
        .env("ORDERBUS_PRODUCER__MESSAGE_TIMEOUT_MS", "4000")
        .args(["publish", "--file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orderbus publish");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut generator = Generator::new(6, "it-cli-outage");
    let before: Vec<_> = (0..50)
        .map(|n| generator.one(EventType::OrderPaid, n))
        .collect();
    for e in &before {
        stdin.write_all(&line_of(e)).expect("write");
    }
    stdin.flush().expect("flush");
    testkit::wait_until("the first 50 lines are on the cluster", || {
        high_watermarks_on(&cluster.bootstrap(), &topics.order_events)
            .values()
            .sum::<i64>()
            >= 50
    })
    .await;

    cluster.kill_all();
    for n in 50..100 {
        stdin
            .write_all(&line_of(&generator.one(EventType::OrderPaid, n)))
            .expect("write");
    }
    drop(stdin);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for line in 51..=100 {
        assert!(
            stderr.contains(&format!("line {line}: delivery failed"))
                || stderr.contains(&format!("line {line}: not sent")),
            "line {line} not named in:\n{stderr}"
        );
    }
    for line in 1..=50 {
        assert!(
            !stderr.contains(&format!("line {line}: ")),
            "line {line} was delivered:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("published 50 of 100 events; 50 lines failed (0 invalid, 50 undelivered)"),
        "{stderr}"
    );

    let cluster = tokio::task::spawn_blocking(move || {
        let ids = cluster.ids();
        cluster.restart_all(&ids);
        cluster
    })
    .await
    .expect("restart");
    let stored: HashSet<_> = read_to_end(&cluster.bootstrap(), &topics.order_events)
        .iter()
        .map(|m| {
            events::decode(m.payload().expect("payload"))
                .expect("event")
                .event_id
        })
        .collect();
    let want: HashSet<_> = before.iter().map(|e| e.event_id).collect();
    assert_eq!(
        stored, want,
        "the cluster holds exactly the 50 reported published"
    );
}
