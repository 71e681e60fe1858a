//! `orderbus demo`: the whole pipeline on an embedded broker (rdkafka's in-process MockCluster),
//! so it runs anywhere with no set-up. It publishes realistic order and payment flows (plus two
//! malformed events) through the typed producers (`publish`); the payment group charges new card
//! and wallet orders through the `log` gateway and publishes the outcomes; then the notification
//! (`log` SMS and e-mail providers), analytics and cache-warming groups run side by side with
//! live progress (`groups`). Stores are the real PostgreSQL and Redis when they answer, in-memory
//! stand-ins otherwise (`stores`). It ends when every group's commits reached the end of its
//! topics (`settle`), then checks, counted by event, that each group handled or dead-lettered
//! every event (`tally`, `account`), and exits 1 naming what is missing if one did not;
//! otherwise it prints a summary and exits 0. Its screen is the bars and the summary: log lines
//! are off unless `RUST_LOG` asks for them, and warnings are counted and listed at the end.

mod account;
mod groups;
mod hold;
mod phases;
mod publish;
mod settle;
mod stores;
mod summary;
mod tally;

use std::process::ExitCode;

use consumers::runtime::{GroupConfig, dead_letter_topic, retry_topic};
use indicatif::MultiProgress;
use producers::admin::TopicSpec;
use producers::{EventProducer, TopicsConfig};

use self::account::GroupRun;
use self::phases::Demo;
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
    /// Test hook: once the notification group's handler has been called this many times, a
    /// second member joins the group, forcing a rebalance mid-run, and the first member's
    /// further calls wait for it, so that the rebalance redelivers events for certain.
    #[arg(long, hide = true)]
    rebalance_after: Option<u64>,
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
        rebalance_after: args.rebalance_after,
    };
    let published = publish::publish(&demo.shared, &demo.topics, &args).await?;
    println!(
        "\npublished {} events for {} orders ({} order events) and {} malformed ones",
        published.events.len(),
        args.orders,
        published.order_events.len(),
        published.malformed.len()
    );
    let (payment, order_ends) = demo.pay(&published).await?;
    let (downstream, all) = demo.downstream(&stores, &published).await?;
    let per_group: Vec<GroupRun> = std::iter::once(payment).chain(downstream).collect();
    if !demo.settled(&per_group, &order_ends, &all).await? {
        return Ok(ExitCode::FAILURE);
    }
    let mut accounted = Vec::new();
    for run in per_group {
        let group = demo.group(&run.name);
        accounted.push(run.account(kafka, &group).await?);
    }
    let short: Vec<String> = accounted
        .iter()
        .flat_map(|a| a.shortfall.describe(&a.run.name))
        .collect();
    if !short.is_empty() {
        for line in short {
            eprintln!("error: {line}");
        }
        return Ok(ExitCode::FAILURE);
    }
    summary::print(&stores, &accounted, &published.order_ids).await?;
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
