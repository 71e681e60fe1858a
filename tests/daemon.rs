//! `orderbus consume` as a child process against the broker: SIGTERM drains and commits, SIGKILL
//! loses nothing (every event handled at least once after a restart, commits never ahead of
//! handled events), health, readiness and metrics answer. What the daemon handled is read from
//! its JSON log lines (the `log` worker logs each event with its partition and offset).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use events::{Envelope, samples::Generator};
use producers::{EventProducer, TopicsConfig};
use testkit::daemon::{Daemon, http_get, unique_ids};

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
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        topics,
    )
    .expect("producer");
    for e in events {
        producer.publish(e).await.expect("published");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_commits_and_exits_zero_and_the_http_port_answers() {
    let topics = testkit::topics::fresh_topics(4).await;
    let events: Vec<Envelope> = (0..200)
        .flat_map(|n| Generator::new(3, "it").order_flow(n))
        .collect();
    publish(&topics, &events).await;
    let group = testkit::unique("it-daemon-term");
    let config = config_file(&topics, &group, true);
    let mut daemon = Daemon::start(testkit::orderbus!(), config.path(), &group);
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
    // Every partition is committed at its end: the broker's high watermark, which the last
    // handled event of the partition also reaches.
    let committed =
        testkit::reader::committed(&group, &[&topics.order_events, &topics.payment_events]);
    for topic in [&topics.order_events, &topics.payment_events] {
        for (partition, high) in testkit::reader::high_watermarks(topic) {
            let key = (topic.clone(), partition);
            let at = committed.get(&key).copied().unwrap_or(0);
            assert_eq!(at, high, "{key:?} committed at the drain");
            if high > 0 {
                assert_eq!(
                    last.get(&key),
                    Some(&(high - 1)),
                    "{key:?} handled to its end"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_then_restart_handles_every_event_at_least_once() {
    let topics = testkit::topics::fresh_topics(4).await;
    let events: Vec<Envelope> = (0..600)
        .flat_map(|n| Generator::new(4, "it").order_flow(n))
        .collect();
    publish(&topics, &events).await;
    let group = testkit::unique("it-daemon-kill");
    let config = config_file(&topics, &group, false);

    let mut first = Daemon::start(testkit::orderbus!(), config.path(), &group);
    let mut handled = Vec::new();
    first.read_until(&mut handled, |h| h.len() >= events.len() / 3);
    assert!(
        handled.iter().all(|h| !h.in_span),
        "by default log lines carry no per-event span"
    );
    first.signal("KILL");
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
    for ((topic, partition), at) in
        testkit::reader::committed(&group, &[&topics.order_events, &topics.payment_events])
    {
        for o in 0..at {
            assert!(
                handled_offsets.contains(&(topic.clone(), partition, o)),
                "{topic}[{partition}] committed {at} but offset {o} was never handled"
            );
        }
    }

    // Restarted at once: the killed member has not left the group, so the new one joins beside
    // it and gets its partitions when the coordinator expires the dead session.
    let mut second = Daemon::start(testkit::orderbus!(), config.path(), &group);
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
