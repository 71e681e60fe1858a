//! `orderbus topics create`: makes the order and payment topics through the admin API. Safe to
//! run twice: an existing topic is reported with its partition count, not an error.

use std::process::ExitCode;
use std::time::Duration;

use producers::admin::{TopicOutcome, TopicSpec, create_topics};

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the order and payment topics (idempotent).
    Create {
        /// Partitions (default: topics.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor (default: topics.replication_factor).
        #[arg(long)]
        replication_factor: Option<i32>,
        /// How long to wait for the broker.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

pub async fn run(config: &Config, cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Create {
        partitions,
        replication_factor,
        timeout_secs,
    } = cmd;
    let mut topics = config.topics.clone();
    topics.partitions = partitions.unwrap_or(topics.partitions);
    topics.replication_factor = replication_factor.unwrap_or(topics.replication_factor);
    topics.validate()?;
    let specs: Vec<TopicSpec> = [&topics.order_events, &topics.payment_events]
        .into_iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions: topics.partitions,
            replication_factor: topics.replication_factor,
        })
        .collect();
    let outcomes = create_topics(&config.kafka, &specs, Duration::from_secs(timeout_secs)).await?;
    for (spec, outcome) in outcomes {
        match outcome {
            TopicOutcome::Created => println!(
                "created {} ({} partitions, replication {})",
                spec.name, spec.partitions, spec.replication_factor
            ),
            TopicOutcome::AlreadyExists { partitions } => {
                println!("exists  {} ({partitions} partitions)", spec.name);
                if i32::try_from(partitions).ok() != Some(spec.partitions) {
                    eprintln!(
                        "warning: {} has {partitions} partitions, config asks for {}; \
                         changing the count would move orders between partitions, so it is left as is",
                        spec.name, spec.partitions
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
