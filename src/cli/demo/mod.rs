//! `orderbus demo`: the whole pipeline on an embedded broker (rdkafka's in-process MockCluster),
//! so it runs anywhere with no set-up. It publishes realistic order and payment flows (plus two
//! malformed events) through the typed producers (`publish`); the payment group charges new card
//! and wallet orders through the `log` gateway and publishes the outcomes; then the notification
//! (`log` SMS and e-mail providers), analytics and cache-warming groups run side by side with
//! live progress (`groups`). Stores are the real PostgreSQL and Redis when they answer, in-memory
//! stand-ins otherwise (`stores`). It ends with a summary and exits 0 when every event was
//! accounted for. Its screen is the bars and the summary: log lines are off unless `RUST_LOG`
//! asks for them, and warnings are counted and listed at the end.

mod groups;
mod publish;
mod settle;
mod stores;
mod summary;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adapters::payment::{LogPaymentConfig, PaymentConfig};
use consumers::runtime::{GroupConfig, Handler, dead_letter_topic, retry_topic};
use indicatif::MultiProgress;
use producers::admin::TopicSpec;
use producers::{EventProducer, KafkaConfig, PaymentProducer, TopicsConfig};
use workers::payment::{PaymentWorker, PaymentWorkerConfig};

use self::groups::{Group, watch};
use self::publish::Published;
use self::settle::Ends;
use self::summary::GroupRun;
use crate::cli::embedded::Embedded;
use crate::config::Config;
use crate::telemetry::Screen;

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

pub async fn run(config: &Config, args: Args, screen: &Screen) -> anyhow::Result<ExitCode> {
    let outcome = run_demo(config, args).await;
    // Also when the demo failed: its warnings are likely to say why.
    if let Screen::Quiet(warnings) = screen {
        summary::warnings(warnings);
    }
    outcome
}

async fn run_demo(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let embedded = Embedded::start(3, &config.kafka)?;
    let kafka = embedded.kafka();
    println!(
        "embedded broker: rdkafka MockCluster, 3 brokers at {}",
        kafka.bootstrap_servers
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let topics = config.topics.clone();
    create_topics(&embedded, &topics, &run_id, args.partitions)?;
    let stores = stores::Stores::open(config, &run_id).await?;
    let demo = Demo {
        kafka,
        shared: EventProducer::new(kafka, &config.producer, &topics)?,
        topics,
        run_id,
        progress: MultiProgress::new(),
    };
    let published = publish::publish(&demo.shared, &demo.topics, &args).await?;
    println!(
        "\npublished {} events for {} orders ({} order events) and 2 malformed ones",
        published.total, args.orders, published.order_events
    );
    let (payment, order_ends) = demo.pay().await?;
    let (downstream, all) = demo.downstream(&stores, &published, &order_ends).await?;
    let per_group: Vec<GroupRun> = std::iter::once(payment).chain(downstream).collect();
    if !demo.settled(&per_group, &order_ends, &all).await? {
        return Ok(ExitCode::FAILURE);
    }
    let dead = summary::dead_letters(kafka, &per_group, |worker: &str| demo.group(worker)).await?;
    summary::print(&stores, &per_group, &dead, &published.order_ids).await?;
    stores.clean_up().await?;
    Ok(ExitCode::SUCCESS)
}

/// The topics, and each group's dead-letter and retry topics: MockCluster serves no
/// CreateTopics, so the groups cannot make theirs.
fn create_topics(
    embedded: &Embedded,
    topics: &TopicsConfig,
    run_id: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let mut names = vec![topics.order_events.clone(), topics.payment_events.clone()];
    for worker in DOWNSTREAM.iter().chain(&["payment"]) {
        names.push(dead_letter_topic(&group_name(run_id, worker)));
        names.push(retry_topic(&group_name(run_id, worker)));
    }
    let specs: Vec<TopicSpec> = names
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions,
            replication_factor: 1,
        })
        .collect();
    embedded.create_topics(&specs)?;
    println!(
        "topics: {}, {} and each group's .dlq and .retry ({} partitions)",
        topics.order_events, topics.payment_events, partitions
    );
    Ok(())
}

fn group_name(run_id: &str, worker: &str) -> String {
    format!("demo-{worker}-{run_id}")
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

/// What the demo's phases share.
struct Demo<'a> {
    kafka: &'a KafkaConfig,
    topics: TopicsConfig,
    run_id: String,
    /// The producer of the published events, and of every group's outcomes and dead letters.
    shared: EventProducer,
    progress: MultiProgress,
}

impl Demo<'_> {
    fn group(&self, worker: &str) -> String {
        group_name(&self.run_id, worker)
    }

    fn start(
        &self,
        worker: &str,
        topics: Vec<String>,
        handler: impl Handler,
    ) -> anyhow::Result<Group> {
        let name = self.group(worker);
        Group::start(
            &name,
            group_config(topics),
            self.kafka,
            &self.topics,
            handler,
            &self.shared,
        )
    }

    /// Phase 1: payments. The payment worker publishes its outcomes, which phase 2 then reads.
    async fn pay(&self) -> anyhow::Result<(GroupRun, Ends)> {
        let gateway = PaymentConfig::Log(LogPaymentConfig::default()).build()?;
        let payment = PaymentWorker::new(
            gateway,
            PaymentProducer::new(self.shared.clone()),
            PaymentWorkerConfig::default(),
        )?;
        let orders = vec![self.topics.order_events.clone()];
        let order_ends = Ends::now(self.kafka, &orders).await?;
        let paying = self.start("payment", orders, payment)?;
        let stats = Arc::clone(&paying.stats);
        watch(
            &self.progress,
            self.kafka,
            &[("payment", &paying, &order_ends)],
        )
        .await?;
        paying.stop().await?;
        self.shared.flush(Duration::from_secs(30)).await?;
        let run = GroupRun {
            name: "payment".to_owned(),
            stats,
            events: order_ends.total(),
        };
        Ok((run, order_ends))
    }

    /// Phase 2: everything downstream, side by side, over both topics.
    async fn downstream(
        &self,
        stores: &stores::Stores,
        published: &Published,
        order_ends: &Ends,
    ) -> anyhow::Result<(Vec<GroupRun>, Ends)> {
        let both = vec![
            self.topics.order_events.clone(),
            self.topics.payment_events.clone(),
        ];
        let all = Ends::now(self.kafka, &both).await?;
        // What the payment topic holds beyond the published payment events (a redelivered order
        // event republishes its outcome under the same event id, which consumers deduplicate).
        let outcomes =
            all.total() - order_ends.total() - (published.total - published.order_events);
        println!("payment group published {outcomes} payment outcomes");
        let groups = [
            self.start(
                "notification",
                both.clone(),
                Arc::clone(&stores.notification),
            )?,
            self.start("analytics", both.clone(), Arc::clone(&stores.analytics))?,
            self.start("cache-warming", both, Arc::clone(&stores.cache))?,
        ];
        let watched: Vec<(&str, &Group, &Ends)> = DOWNSTREAM
            .iter()
            .zip(&groups)
            .map(|(name, g)| (*name, g, &all))
            .collect();
        watch(&self.progress, self.kafka, &watched).await?;
        let mut runs = Vec::new();
        for (name, g) in DOWNSTREAM.iter().zip(groups) {
            runs.push(GroupRun {
                name: (*name).to_owned(),
                stats: Arc::clone(&g.stats),
                events: all.total(),
            });
            g.stop().await?;
        }
        self.shared.flush(Duration::from_secs(30)).await?;
        Ok((runs, all))
    }

    /// The stops committed once more; every group must still account for every event. Says
    /// which did not, if one did not.
    async fn settled(
        &self,
        runs: &[GroupRun],
        order_ends: &Ends,
        all: &Ends,
    ) -> anyhow::Result<bool> {
        for run in runs {
            let group = self.group(&run.name);
            let ends = if run.name == "payment" {
                order_ends
            } else {
                all
            };
            let p = settle::progress(self.kafka, &group, ends, &retry_topic(&group)).await?;
            if !p.settled(ends) {
                eprintln!(
                    "error: group {} finished {} of {} events ({} still parked)",
                    run.name,
                    p.finished,
                    ends.total(),
                    p.parked
                );
                return Ok(false);
            }
        }
        Ok(true)
    }
}
