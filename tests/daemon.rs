//! `orderbus consume` as a child process against the broker: SIGTERM drains and commits, SIGKILL
//! loses nothing (every event handled at least once after a restart, commits never ahead of
//! handled events), health, readiness and metrics answer. What the daemon handled is read from
//! its JSON log lines (the `log` worker logs each event with its partition and offset).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use events::{Envelope, samples::Generator};
use producers::{EventProducer, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// What the log worker reported handling.
#[derive(Debug, Clone)]
struct Handled {
    event_id: String,
    topic: String,
    partition: i32,
    offset: i64,
    /// The line carries the event's span (`log.event_spans`).
    in_span: bool,
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    listen: Option<String>,
}

impl Daemon {
    fn start(config: &std::path::Path, group: &str) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderbus"))
            .current_dir(std::env::temp_dir())
            .env("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS", common::bootstrap())
            .env("ORDERBUS_LOG__FORMAT", "json")
            .env("RUST_LOG", "info,rdkafka=warn")
            .args([
                "consume",
                "--group",
                group,
                "--listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daemon");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            listen: None,
        }
    }

    /// Reads log lines until `enough` says stop; collects handled events on the way.
    fn read_until(
        &mut self,
        handled: &mut Vec<Handled>,
        mut enough: impl FnMut(&[Handled]) -> bool,
    ) {
        // A bound that turns a stall into a failure; the assertion is on the events.
        let give_up = Instant::now() + Duration::from_secs(180);
        while !enough(handled) {
            let remaining = give_up.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(remaining).unwrap_or_else(|_| {
                panic!("daemon stalled after {} handled events", handled.len())
            });
            self.take(&line, handled);
        }
    }

    fn take(&mut self, line: &serde_json::Value, handled: &mut Vec<Handled>) {
        let fields = &line["fields"];
        if fields["message"] == "consumer group starting" {
            self.listen = fields["listen"].as_str().map(str::to_owned);
        }
        if fields["message"] == "handled" {
            handled.push(Handled {
                event_id: fields["event_id"].as_str().expect("event_id").to_owned(),
                topic: fields["topic"].as_str().expect("topic").to_owned(),
                partition: fields["partition"].as_i64().expect("partition") as i32,
                offset: fields["offset"].as_i64().expect("offset"),
                in_span: line["span"]["name"] == consumers::runtime::EVENT_SPAN,
            });
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end, then takes every line it logged before it ended (the
    /// reader thread stops at EOF), so nothing handled goes unseen.
    fn finish(mut self, handled: &mut Vec<Handled>) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv() {
            self.take(&line, handled);
        }
        status
    }
}

/// A test that fails midway must not leave its daemon running (and consuming) after it.
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The group config for these tests. `max_poll_interval_ms` is also the rebalance timeout: a
/// SIGKILLed member never leaves the group, and a broker may hold the next rebalance until that
/// timeout instead of the session timeout, so it is kept short here.
fn config_file(topics: &TopicsConfig, group: &str, event_spans: bool) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("file");
    write!(
        f,
        "[log]\nevent_spans = {event_spans}\n\n\
         [topics]\norder_events = \"{}\"\npayment_events = \"{}\"\npartitions = 4\n\n\
         [groups.{group}]\nworker = \"log\"\nprocessors = 8\nmax_in_flight = 64\n\
         session_timeout_ms = 6000\nmax_poll_interval_ms = 10000\ncommit_interval_ms = 100\n",
        topics.order_events,
        topics.payment_events,
        group = group
    )
    .expect("write");
    f
}

async fn publish(topics: &TopicsConfig, events: &[Envelope]) {
    let producer =
        EventProducer::new(&common::kafka(), &common::unbatched(), topics).expect("producer");
    for e in events {
        producer.publish(e).await.expect("published");
    }
}

/// Waits until the killed member's session is over: the coordinator lists no members (Kafka
/// evicts on expiry), or the session timeout (6 s in `config_file`) has passed since the kill.
/// Tansu evicts lazily, on the next JoinGroup after expiry, so there the listing never empties
/// and the expiry itself is the condition; a join before it can get the dead member's
/// generation with no partitions.
fn wait_out_the_killed_session(group: &str, killed: Instant) {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::bootstrap())
        .create()
        .expect("client");
    let expired = killed + Duration::from_millis(6_000 + 1_000);
    while Instant::now() < expired {
        let members = client
            .fetch_group_list(Some(group), Duration::from_secs(5))
            .ok()
            .and_then(|list| list.groups().first().map(|g| g.members().len()));
        if members == Some(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn committed(group: &str, topics: &TopicsConfig) -> HashMap<(String, i32), i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::bootstrap())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in [&topics.order_events, &topics.payment_events] {
        for p in 0..4 {
            tpl.add_partition(t, p);
        }
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect()
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("response");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (code, body)
}

fn unique_ids(handled: &[Handled]) -> HashSet<&str> {
    handled.iter().map(|h| h.event_id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_commits_and_exits_zero_and_the_http_port_answers() {
    let topics = common::fresh_topics(4).await;
    let events: Vec<Envelope> = (0..200)
        .flat_map(|n| Generator::new(3, "it").order_flow(n))
        .collect();
    publish(&topics, &events).await;
    let group = common::unique("it-daemon-term");
    let config = config_file(&topics, &group, true);
    let mut daemon = Daemon::start(config.path(), &group);
    let mut handled = Vec::new();
    daemon.read_until(&mut handled, |h| unique_ids(h).len() >= events.len());
    assert!(
        handled.iter().all(|h| h.in_span),
        "with log.event_spans every handled line carries the event's span"
    );
    let addr = daemon.listen.clone().expect("listen address logged");
    assert_eq!(http_get(&addr, "/healthz").0, 200);
    assert_eq!(
        http_get(&addr, "/readyz").0,
        200,
        "assigned and the broker answers"
    );
    let (code, metrics) = http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    let created = events
        .iter()
        .filter(|e| e.event_type() == events::EventType::OrderCreated)
        .count();
    for line in [
        format!(
            "orderbus_events_handled_total{{group=\"{group}\",event_type=\"order.created\"}} {created}"
        ),
        format!(
            "orderbus_events_dead_lettered_total{{group=\"{group}\",event_type=\"unknown\"}} 0"
        ),
        format!(
            "orderbus_handler_duration_seconds_count{{group=\"{group}\"}} {}",
            handled.len()
        ),
        format!(
            "orderbus_event_age_seconds_count{{group=\"{group}\"}} {}",
            handled.len()
        ),
        // Order, payment and the group's retry topic, 4 partitions each.
        format!("orderbus_assigned_partitions{{group=\"{group}\"}} 12"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in\n{metrics}"
        );
    }
    // Lag per partition comes from librdkafka's statistics, every second: wait for the report
    // that covers every partition of the order topic (the bound only turns a stall into a
    // failure).
    let lag_prefix = format!(
        "orderbus_consumer_lag{{group=\"{group}\",topic=\"{}\",partition=",
        topics.order_events
    );
    let lag_lines = |metrics: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with(&lag_prefix))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut metrics = metrics;
    while lag_lines(&metrics) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = http_get(&addr, "/metrics").1;
    }
    assert_eq!(
        lag_lines(&metrics),
        4,
        "lag of each order partition in\n{metrics}"
    );
    daemon.signal("TERM");
    let status = daemon.finish(&mut handled);
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");

    let mut last: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for h in &handled {
        let e = last
            .entry((h.topic.clone(), h.partition))
            .or_insert(h.offset);
        *e = (*e).max(h.offset);
    }
    let committed = committed(&group, &topics);
    for (partition, offset) in &last {
        assert_eq!(
            committed.get(partition),
            Some(&(offset + 1)),
            "{partition:?} committed at the drain"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_then_restart_handles_every_event_at_least_once() {
    let topics = common::fresh_topics(4).await;
    let events: Vec<Envelope> = (0..600)
        .flat_map(|n| Generator::new(4, "it").order_flow(n))
        .collect();
    publish(&topics, &events).await;
    let group = common::unique("it-daemon-kill");
    let config = config_file(&topics, &group, false);

    let mut first = Daemon::start(config.path(), &group);
    let mut handled = Vec::new();
    first.read_until(&mut handled, |h| h.len() >= events.len() / 3);
    assert!(
        handled.iter().all(|h| !h.in_span),
        "by default log lines carry no per-event span"
    );
    first.signal("KILL");
    let killed = Instant::now();
    // Events handled (and maybe committed) between the last line read and the kill are still
    // in the pipe: take them all before comparing with the commits.
    let status = first.finish(&mut handled);
    assert_eq!(status.code(), None, "killed by a signal");
    // Whatever the last commit was, it is never ahead of what was handled: every offset below
    // it in each partition was handled (offsets are dense here: one event per offset).
    let handled_offsets: HashSet<(String, i32, i64)> = handled
        .iter()
        .map(|h| (h.topic.clone(), h.partition, h.offset))
        .collect();
    for ((topic, partition), at) in committed(&group, &topics) {
        for o in 0..at {
            assert!(
                handled_offsets.contains(&(topic.clone(), partition, o)),
                "{topic}[{partition}] committed {at} but offset {o} was never handled"
            );
        }
    }

    // The killed member never left the group. Kafka rebalances when a new member joins; Tansu
    // 0.6.0 can instead hand a member that joins before the dead one's session expired the old
    // generation with no partitions, and never rebalance. Restarting after the expiry works on
    // both (the events since the last commit are still handled again, which is the point).
    wait_out_the_killed_session(&group, killed);
    let mut second = Daemon::start(config.path(), &group);
    let want: HashSet<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    second.read_until(&mut handled, |h| unique_ids(h).len() >= want.len());
    second.signal("TERM");
    assert_eq!(second.finish(&mut handled).code(), Some(0));
    let got: HashSet<String> = handled.iter().map(|h| h.event_id.clone()).collect();
    assert_eq!(
        got, want,
        "every event handled at least once across the kill"
    );
    println!(
        "{} events, {} handlings across a SIGKILL",
        want.len(),
        handled.len()
    );
}
