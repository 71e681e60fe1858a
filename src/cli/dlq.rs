//! `orderbus dlq list|redrive --group <g>`: dead letters of a group counted by reason with
//! samples, and re-published to their source topic once each (see consumers::runtime::redrive).

use std::process::ExitCode;
use std::time::Duration;

use consumers::runtime::redrive::{self, DeadLetter};
use producers::EventProducer;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Count `<group>.dlq` by reason and show samples.
    List {
        /// The group whose dead letters to read.
        #[arg(long)]
        group: String,
        /// Samples shown per reason.
        #[arg(long, default_value_t = 3)]
        samples: usize,
    },
    /// Re-publish dead letters to the topic and partition they came from, each once.
    Redrive {
        /// The group whose dead letters to redrive.
        #[arg(long)]
        group: String,
        /// Only dead letters with this reason code (e.g. handler_permanent).
        #[arg(long)]
        reason: Option<String>,
        /// Say what would be redriven; publish and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Dead letters per ledger batch.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch: u32,
    },
}

pub async fn run(config: &Config, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { group, samples } => {
            let listing = redrive::list(&config.kafka, &group, samples).await?;
            println!(
                "{group}.dlq: {} dead letters ({} already redriven)",
                listing.total, listing.redriven
            );
            for (reason, summary) in &listing.by_reason {
                println!("{reason}: {}", summary.count);
                for d in &summary.samples {
                    print_sample(d);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Redrive {
            group,
            reason,
            dry_run,
            batch,
        } => {
            let producer = EventProducer::new(&config.kafka, &config.producer, &config.topics)?;
            let report = redrive::redrive(
                &config.kafka,
                &group,
                &producer,
                reason.as_deref(),
                dry_run,
                batch as usize,
            )
            .await?;
            producer.flush(Duration::from_secs(10)).await?;
            if report.settled_batches > 0 {
                println!(
                    "settled {} interrupted batch(es) of an earlier run: {} dead letter(s) found already published",
                    report.settled_batches, report.settled_found
                );
            }
            let verb = if dry_run { "would redrive" } else { "redriven" };
            let total: u64 = report.redriven.values().sum();
            println!(
                "{group}.dlq: {} dead letters, {} matching{}, {} already redriven, {} without a usable source",
                report.total,
                report.matched,
                reason.map(|r| format!(" reason {r}")).unwrap_or_default(),
                report.already,
                report.no_source
            );
            if report.truncated > 0 {
                println!(
                    "{} stored truncated (too large): not redriven; their source headers point at the original",
                    report.truncated
                );
            }
            for (topic, n) in &report.redriven {
                println!("{verb} {n} to {topic}");
            }
            println!("{verb} {total}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_sample(d: &DeadLetter) {
    let source = d
        .source
        .as_ref()
        .map(|s| format!("{}/{}/{}", s.topic, s.partition, s.offset))
        .unwrap_or_else(|| "?".into());
    println!(
        "  {}  event {} ({})  from {source}  attempts {}  at {}\n    error: {}",
        d.at,
        d.event_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into()),
        d.event_type.as_deref().unwrap_or("-"),
        d.attempts
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into()),
        d.dead_lettered_at.as_deref().unwrap_or("-"),
        d.error
    );
}
