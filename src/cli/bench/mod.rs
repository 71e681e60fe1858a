//! `orderbus bench`: its arguments and which benchmark runs. Each benchmark measures orderbus
//! against a bare rdkafka client in the same process, on the same broker, so the ratio says what
//! orderbus itself costs.

mod bare;
mod broker;
mod consume;
mod latency;
mod load;
mod publish;
mod stats;

use std::process::ExitCode;

use workers::WorkerKind;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish throughput and delivery latency, orderbus vs a bare rdkafka producer.
    Publish(PublishArgs),
    /// Consume throughput, peak RSS and publish-to-handled latency, orderbus vs a bare consumer.
    Consume(ConsumeArgs),
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Events per round and variant.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Rounds; each runs bare then orderbus.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Use the in-process MockCluster instead of the configured broker.
    #[arg(long)]
    embedded: bool,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Send at this many events/s instead of as fast as possible (for latency at a fixed load).
    #[arg(long)]
    rate: Option<u64>,
    /// Also run orderbus's producer on the pre-encoded bytes (`enqueue_raw`), which separates
    /// the producer's own overhead from the cost of encoding and validating.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Events to consume.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Use the in-process MockCluster (its stored messages then count in RSS).
    #[arg(long)]
    embedded: bool,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Processors of the orderbus group.
    #[arg(long, default_value_t = 16)]
    processors: usize,
    /// Publish at this rate while consuming and report latency instead of throughput.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// Only fill a new topic with `--events` events and print its name.
    #[arg(long, conflicts_with_all = ["rate", "topic"])]
    produce_only: bool,
    /// Consume this existing topic (from `--produce-only`) instead of producing first, so the
    /// process's peak RSS is the consumer's alone.
    #[arg(long, conflicts_with = "rate")]
    topic: Option<String>,
    /// Only this variant (`bare` or `orderbus`); default both.
    #[arg(long)]
    only: Option<String>,
    /// Run this worker (`analytics`, `cache-warming`, ...) in the orderbus variant instead of
    /// the no-op handler, against the stores `[workers]` (or DATABASE_URL / REDIS_URL) names.
    /// Analytics works in a schema of its own and cache keys get their own prefix and a short
    /// TTL, so a run leaves no lasting data behind.
    #[arg(long)]
    worker: Option<WorkerKind>,
}

pub async fn run(config: &Config, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Publish(args) => publish::run(config, &args).await?,
        Command::Consume(args) => {
            let session = consume::Session::start(config, &args)?;
            match args.rate {
                None => consume::run(&session).await?,
                Some(rate) => latency::run(&session, rate).await?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
