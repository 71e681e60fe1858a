//! `orderbus consume` on a 3-broker cluster while one broker is down for 30 s (the one that
//! coordinates the daemon's group, so the coordinator moves too) and events keep arriving: the
//! daemon recovers on its own, handles every event at least once, says so on `/readyz`, and the
//! topics it created have the configured three replicas.

use std::io::Write;
use std::time::Duration;

use events::samples::Generator;
use producers::{EventProducer, ProducerConfig, TopicsConfig};
use testkit::daemon::{Daemon, http_get, unique_ids};
use testkit::kafka::Cluster;

/// Events per second the publisher sends, and for how long.
const RATE: usize = 500;
const SECONDS: usize = 45;

/// The `__consumer_offsets` partition that holds `group`'s offsets, hence its coordinator:
/// Java's `String.hashCode`, made non-negative, modulo the topic's 50 partitions.
fn coordinator_partition(group: &str) -> i32 {
    let h = group.encode_utf16().fold(0i32, |h, c| {
        h.wrapping_mul(31).wrapping_add(i32::from(c as i16))
    });
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % 50
}

fn config_file(topics: &TopicsConfig, group: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("file");
    write!(
        f,
        "[topics]\norder_events = \"{}\"\npayment_events = \"{}\"\npartitions = 4\n\
         replication_factor = 3\n\n\
         [groups.{group}]\nworker = \"log\"\nprocessors = 8\ncommit_interval_ms = 200\n\
         session_timeout_ms = 6000\nmax_poll_interval_ms = 10000\n",
        topics.order_events, topics.payment_events,
    )
    .expect("write");
    f
}

/// What a stalled run left unhandled, per partition, for the failure message.
fn missing_report(
    cluster: &Cluster,
    topics: &TopicsConfig,
    group: &str,
    handled: &[testkit::daemon::Handled],
    addr: &str,
) -> ! {
    let mut report = String::new();
    let committed = testkit::reader::committed_on(
        &cluster.bootstrap(),
        group,
        &[&topics.order_events, &topics.payment_events],
    );
    for topic in [&topics.order_events, &topics.payment_events] {
        for (p, high) in testkit::reader::high_watermarks_on(&cluster.bootstrap(), topic) {
            let seen: std::collections::HashSet<i64> = handled
                .iter()
                .filter(|h| &h.topic == topic && h.partition == p)
                .map(|h| h.offset)
                .collect();
            let missing: Vec<i64> = (0..high).filter(|o| !seen.contains(o)).collect();
            report.push_str(&format!(
                "{topic}[{p}]: high {high}, committed {:?}, {} missing, first {:?}\n",
                committed.get(&(topic.clone(), p)),
                missing.len(),
                missing.first()
            ));
        }
    }
    let (_, metrics) = http_get(addr, "/metrics");
    panic!("not every event was handled:\n{report}\n{metrics}");
}

fn ready(addr: &str) -> bool {
    http_get(addr, "/readyz").0 == 200
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_down_for_30_s_loses_nothing_and_the_daemon_recovers() {
    let mut cluster = Cluster::three().start();
    let kafka = testkit::kafka::kafka_at(&cluster.bootstrap());
    let topics = testkit::topics::fresh_topics_on(&kafka, 4, 3).await;
    let group = testkit::unique("it-daemon-outage");
    let config = config_file(&topics, &group);
    let mut cmd = testkit::orderbus!();
    cmd.env("ORDERBUS_KAFKA__BOOTSTRAP_SERVERS", cluster.bootstrap());
    let mut daemon = Daemon::start(cmd, config.path(), &group);
    let mut handled = Vec::new();
    let addr = daemon.wait_listen(&mut handled);
    testkit::wait_until("the daemon is ready", || ready(&addr)).await;

    let producer =
        EventProducer::new(&kafka, &ProducerConfig::default(), &topics).expect("producer");
    let published: Vec<_> = {
        let mut g = Generator::new(41, "it-daemon-outage");
        let mut out = Vec::new();
        let mut n = 0;
        while out.len() < RATE * SECONDS {
            out.extend(g.order_flow(n));
            n += 1;
        }
        out
    };
    let publishing = {
        let (producer, events) = (producer.clone(), published.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut pending = Vec::new();
            for chunk in events.chunks(RATE / 10) {
                tick.tick().await;
                for e in chunk {
                    pending.push(producer.enqueue(e, None).await.expect("enqueued"));
                }
            }
            for p in pending {
                p.await.expect("delivered with one broker of three down");
            }
        })
    };

    daemon.read_until(&mut handled, |h| h.len() >= RATE * 3);
    let coordinator = cluster.leader_of("__consumer_offsets", coordinator_partition(&group));
    assert!(coordinator > 0, "the group has a coordinator");
    cluster.kill(coordinator);
    println!("killed broker {coordinator}, the group's coordinator");
    // The outage the scenario asks for: 30 s of events arriving with a broker gone.
    let outage = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut handled_during = 0;
    while tokio::time::Instant::now() < outage {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = handled.len();
        daemon.drain(&mut handled);
        handled_during += handled.len() - before;
    }
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart(coordinator);
        cluster
    })
    .await
    .expect("restart");

    publishing.await.expect("publisher");
    let want: std::collections::HashSet<String> =
        published.iter().map(|e| e.event_id.to_string()).collect();
    let all = daemon.read_until_or_stall(
        &mut handled,
        |h| unique_ids(h).len() >= want.len(),
        Duration::from_secs(120),
    );
    if !all {
        missing_report(&cluster, &topics, &group, &handled, &addr);
    }
    let got: std::collections::HashSet<String> =
        handled.iter().map(|h| h.event_id.clone()).collect();
    assert_eq!(got, want, "every event handled at least once");
    testkit::wait_until("ready again after the outage", || ready(&addr)).await;
    println!(
        "{} events, {} handlings, {handled_during} handled while broker {coordinator} was down",
        want.len(),
        handled.len()
    );

    // The group's own topics were created with the configured replication factor.
    for topic in [
        consumers::runtime::retry_topic(&group),
        consumers::runtime::dead_letter_topic(&group),
    ] {
        let partitions = testkit::topics::describe(&cluster.bootstrap(), &topic)
            .unwrap_or_else(|| panic!("{topic} exists"));
        for p in partitions {
            assert_eq!(p.replicas.len(), 3, "{topic}[{}] replicas", p.id);
        }
    }

    daemon.signal("TERM");
    assert_eq!(daemon.finish(&mut handled).code(), Some(0));
}
