//! `orderbus demo`: the whole pipeline on an embedded broker (rdkafka's in-process MockCluster),
//! so it runs anywhere with no set-up. It publishes realistic order and payment flows (plus two
//! malformed events) through the typed producers; the payment group charges new card and wallet
//! orders through the `log` gateway and publishes the outcomes; then the notification
//! (`log` SMS and e-mail providers), analytics and cache-warming groups run side by side with
//! live progress. Stores are the real PostgreSQL and Redis when they answer, in-memory stand-ins
//! otherwise (`stores`). It ends with a summary and exits 0 when every event was accounted for.

mod settle;
mod stores;
mod summary;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::payment::{LogPaymentConfig, PaymentConfig};
use anyhow::bail;
use consumers::runtime::{
    ConsumerGroup, GroupConfig, GroupStats, Handler, dead_letter_topic, retry_topic,
};
use events::{Stream, headers, samples::Generator};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use producers::admin::TopicSpec;
use producers::{
    EventProducer, KafkaConfig, OrderProducer, PaymentProducer, RawRecord, TopicsConfig,
};
use tokio::sync::oneshot;
use workers::payment::{PaymentWorker, PaymentWorkerConfig};

use crate::cli::embedded::Embedded;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Orders to simulate (each is 3-6 events).
    #[arg(long, default_value_t = 500)]
    orders: u64,
    /// Partitions per topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Seed for the generated orders.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// The groups the demo runs, after the payment group.
const DOWNSTREAM: [&str; 3] = ["notification", "analytics", "cache-warming"];

pub async fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let embedded = Embedded::start(3, &config.kafka)?;
    let kafka = embedded.kafka();
    println!(
        "embedded broker: rdkafka MockCluster, 3 brokers at {}",
        kafka.bootstrap_servers
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let topics = config.topics.clone();
    let group_of = |worker: &str| format!("demo-{worker}-{run_id}");
    let mut names = vec![topics.order_events.clone(), topics.payment_events.clone()];
    for worker in DOWNSTREAM.iter().chain(&["payment"]) {
        names.push(dead_letter_topic(&group_of(worker)));
        names.push(retry_topic(&group_of(worker)));
    }
    let specs: Vec<TopicSpec> = names
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions: args.partitions,
            replication_factor: 1,
        })
        .collect();
    embedded.create_topics(&specs)?;
    println!(
        "topics: {}, {} and each group's .dlq and .retry ({} partitions)",
        topics.order_events, topics.payment_events, args.partitions
    );
    let stores = stores::Stores::open(config, &run_id).await?;

    let shared = EventProducer::new(kafka, &config.producer, &topics)?;
    let published = publish(&shared, &topics, &args).await?;
    println!(
        "\npublished {} events for {} orders ({} order events) and 2 malformed ones",
        published.total, args.orders, published.order_events
    );

    let progress = MultiProgress::new();
    // Phase 1: payments. The payment worker publishes its outcomes, which phase 2 then reads.
    let gateway = PaymentConfig::Log(LogPaymentConfig::default()).build()?;
    let payment = PaymentWorker::new(
        gateway,
        PaymentProducer::new(shared.clone()),
        PaymentWorkerConfig::default(),
    )?;
    let order_ends = settle::Ends::now(kafka, std::slice::from_ref(&topics.order_events)).await?;
    let paying = Group::start(
        &group_of("payment"),
        group_config(vec![topics.order_events.clone()]),
        kafka,
        &topics,
        payment,
        &shared,
    )?;
    let payment_stats = Arc::clone(&paying.stats);
    watch(&progress, kafka, &[("payment", &paying, &order_ends)]).await?;
    paying.stop().await?;
    shared.flush(Duration::from_secs(30)).await?;

    // Phase 2: everything downstream, side by side, over both topics.
    let both = vec![topics.order_events.clone(), topics.payment_events.clone()];
    let all = settle::Ends::now(kafka, &both).await?;
    // What the payment topic holds beyond the published payment events (a redelivered order
    // event republishes its outcome under the same event id, which consumers deduplicate).
    let outcomes = all.total() - order_ends.total() - (published.total - published.order_events);
    println!("payment group published {outcomes} payment outcomes");
    let groups = [
        Group::start(
            &group_of("notification"),
            group_config(both.clone()),
            kafka,
            &topics,
            Arc::clone(&stores.notification),
            &shared,
        )?,
        Group::start(
            &group_of("analytics"),
            group_config(both.clone()),
            kafka,
            &topics,
            Arc::clone(&stores.analytics),
            &shared,
        )?,
        Group::start(
            &group_of("cache-warming"),
            group_config(both),
            kafka,
            &topics,
            Arc::clone(&stores.cache),
            &shared,
        )?,
    ];
    let watched: Vec<(&str, &Group, &settle::Ends)> = DOWNSTREAM
        .iter()
        .zip(&groups)
        .map(|(name, g)| (*name, g, &all))
        .collect();
    watch(&progress, kafka, &watched).await?;
    let mut per_group = vec![summary::GroupRun {
        name: "payment".to_owned(),
        stats: payment_stats,
        events: order_ends.total(),
    }];
    for (name, g) in DOWNSTREAM.iter().zip(groups) {
        per_group.push(summary::GroupRun {
            name: (*name).to_owned(),
            stats: Arc::clone(&g.stats),
            events: all.total(),
        });
        g.stop().await?;
    }
    shared.flush(Duration::from_secs(30)).await?;
    // The stops committed once more; every group must still account for every event.
    for run in &per_group {
        let (group, ends) = (
            group_of(&run.name),
            if run.name == "payment" {
                &order_ends
            } else {
                &all
            },
        );
        let p = settle::progress(kafka, &group, ends, &retry_topic(&group)).await?;
        if !p.settled(ends) {
            eprintln!(
                "error: group {} finished {} of {} events ({} still parked)",
                run.name,
                p.finished,
                ends.total(),
                p.parked
            );
            return Ok(ExitCode::FAILURE);
        }
    }

    let dead = summary::dead_letters(kafka, &per_group, &group_of).await?;
    summary::print(&stores, &per_group, &dead, &published.order_ids).await?;
    stores.clean_up().await?;
    Ok(ExitCode::SUCCESS)
}

fn group_config(topics: Vec<String>) -> GroupConfig {
    GroupConfig {
        topics,
        consumers: 2,
        processors: 32,
        // The end of the demo is read from the commits (see `settle`).
        commit_interval_ms: 200,
        // Short retry rounds: a demo should not wait a minute for a parked event.
        retry_delays_ms: vec![200, 1_000],
        ..GroupConfig::default()
    }
}

struct Published {
    total: u64,
    order_events: u64,
    order_ids: Vec<String>,
}

/// The generated flows through the typed producers, plus a line that is not JSON and an event
/// without its customer, which every group must dead-letter with the reason.
async fn publish(
    shared: &EventProducer,
    topics: &TopicsConfig,
    args: &Args,
) -> anyhow::Result<Published> {
    let orders = OrderProducer::new(shared.clone());
    let payments = PaymentProducer::new(shared.clone());
    let mut generator = Generator::new(args.seed, shared.name());
    let (mut pending, mut order_events, mut order_ids) = (Vec::new(), 0, Vec::new());
    for n in 0..args.orders {
        let flow = generator.order_flow(n);
        if let Some(first) = flow.first() {
            order_ids.push(first.order_id.clone());
        }
        for event in flow {
            pending.push(match event.event_type().stream() {
                Stream::Order => {
                    order_events += 1;
                    orders.enqueue_envelope(&event, None).await?
                }
                Stream::Payment => payments.enqueue_envelope(&event, None).await?,
            });
        }
    }
    let total = pending.len() as u64;
    for p in pending {
        p.await?;
    }
    let malformed: [(&str, &[u8]); 2] = [
        ("ord_broken_1", b"this is not JSON"),
        (
            "ord_broken_2",
            br#"{"event_id":"0190f5d2-3b6c-7d4e-8f00-000000000001","event_type":"order.created","schema_version":1,"occurred_at":"2026-01-01T00:00:00Z","order_id":"ord_broken_2","producer":"demo","data":{}}"#,
        ),
    ];
    for (key, payload) in malformed {
        shared
            .enqueue_raw(
                RawRecord {
                    topic: &topics.order_events,
                    key: key.as_bytes(),
                    payload,
                    headers: vec![(headers::EVENT_TYPE, b"order.created")],
                    partition: None,
                    timestamp_ms: None,
                },
                uuid::Uuid::nil(),
            )
            .await?
            .await?;
    }
    Ok(Published {
        total,
        order_events,
        order_ids,
    })
}

/// A running group.
struct Group {
    name: String,
    stats: Arc<GroupStats>,
    stop: oneshot::Sender<()>,
    run: tokio::task::JoinHandle<consumers::Result<()>>,
}

impl Group {
    fn start(
        name: &str,
        config: GroupConfig,
        kafka: &KafkaConfig,
        topics: &TopicsConfig,
        handler: impl Handler,
        producer: &EventProducer,
    ) -> anyhow::Result<Self> {
        let group = ConsumerGroup::new(
            name,
            config,
            kafka.clone(),
            topics,
            handler,
            producer.clone(),
        )?;
        let stats = group.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(group.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            name: name.to_owned(),
            stats,
            stop,
            run,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.run.await??;
        Ok(())
    }
}

/// Shows a bar per group until each has finished every event of its topics (by its commits,
/// see `settle`); fails if none moves for a minute.
async fn watch(
    progress: &MultiProgress,
    kafka: &KafkaConfig,
    groups: &[(&str, &Group, &settle::Ends)],
) -> anyhow::Result<()> {
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{bar:30}] {pos:>6}/{len:6} {per_sec:>12} {msg}",
    )?
    .progress_chars("=> ");
    let bars: Vec<ProgressBar> = groups
        .iter()
        .map(|(name, _, ends)| {
            let bar = progress.add(ProgressBar::new(ends.total()));
            bar.set_style(style.clone());
            bar.set_prefix((*name).to_owned());
            bar
        })
        .collect();
    let mut last_move = Instant::now();
    let mut last_total = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let mut done = true;
        let mut total = 0;
        let mut state = Vec::new();
        for ((name, group, ends), bar) in groups.iter().zip(&bars) {
            let p = settle::progress(kafka, &group.name, ends, &retry_topic(&group.name)).await?;
            total += p.finished;
            bar.set_position(p.finished.min(ends.total()));
            state.push(format!("{name} {}/{}", p.finished, ends.total()));
            if !p.settled(ends) {
                done = false;
                if p.parked > 0 {
                    bar.set_message(format!("{} parked", p.parked));
                }
            } else if !bar.is_finished() {
                bar.finish_with_message("done");
            }
        }
        if done {
            return Ok(());
        }
        if total != last_total {
            (last_total, last_move) = (total, Instant::now());
        } else if last_move.elapsed() > Duration::from_secs(60) {
            bail!(
                "the demo's groups made no progress for a minute: {}",
                state.join(", ")
            );
        }
    }
}
