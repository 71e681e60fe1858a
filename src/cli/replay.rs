//! `orderbus replay`: re-reads a fixed range of one topic into a new group running a worker
//! (`--group/--worker`) or into another topic (`--to-topic`), with a progress bar; `--dry-run`
//! prints the resolved range per partition and touches nothing.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use consumers::runtime::GroupConfig;
use consumers::runtime::replay::{
    self, Bound, Plan, Progress, ReplayGroup, ReplayReport, ReplayRun,
};
use indicatif::{ProgressBar, ProgressStyle};
use producers::EventProducer;
use tokio_util::sync::CancellationToken;

use crate::cli::EXIT_CONFIG;
use crate::config::Config;
use workers::WorkerKind;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("sink").required(true).args(["group", "to_topic"])))]
pub struct Args {
    /// Topic to replay.
    #[arg(long)]
    topic: String,
    /// Inclusive start: `earliest`, an offset (every partition), `P:N,P:N`, or an RFC 3339 time.
    #[arg(long)]
    from: String,
    /// Exclusive end: `now` (the end when the replay starts), an offset, `P:N,P:N`, or a time.
    #[arg(long)]
    to: String,
    /// A new group name to run the worker under (its dead letters go to `<group>.dlq`).
    #[arg(long, requires = "worker")]
    group: Option<String>,
    /// The worker to run (`log`, `analytics`, `cache-warming`, `notification`, `payment`).
    #[arg(long, requires = "group")]
    worker: Option<WorkerKind>,
    /// Copy the range to this topic instead (with `orderbus.replayed.from` headers).
    #[arg(long, conflicts_with_all = ["group", "worker"])]
    to_topic: Option<String>,
    /// At most this many events per second.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate: Option<u32>,
    /// Concurrent handlers for `--group` (different orders in parallel).
    #[arg(long, default_value_t = 16)]
    processors: usize,
    /// Print the resolved range per partition and stop; nothing is read for handling,
    /// created, published or committed.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let (from, to) = match (Bound::parse_from(&args.from), Bound::parse_to(&args.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    if let Some(group) = &args.group
        && config.groups.contains_key(group)
    {
        eprintln!(
            "error: `{group}` is a configured consumer group; replay into a new group name so the live group's offsets and state stay untouched"
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let plan = match replay::plan(&config.kafka, &args.topic, &from, &to).await {
        Ok(plan) => plan,
        // Bounds the topic cannot take (partitions it lacks, lists that disagree) are bad
        // arguments like the ones refused before asking the broker.
        Err(e @ consumers::Error::Bound { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("resolving the range of {}", args.topic))
            );
        }
    };
    print_plan(&plan);
    if args.dry_run {
        match (&args.group, &args.to_topic) {
            (Some(g), _) => println!(
                "dry run: would run worker `{}` as group `{g}` (dead letters to {g}.dlq); nothing done",
                args.worker.map(|w| w.as_str()).unwrap_or_default()
            ),
            (_, Some(t)) => println!("dry run: would copy to {t}; nothing done"),
            _ => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    let producer = EventProducer::new(&config.kafka, &config.producer, &config.topics)?;
    let progress = Arc::new(Progress::default());
    let stop = CancellationToken::new();
    let bar = spawn_bar(&progress, plan.total());
    let interrupt = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        })
    };
    let run = ReplayRun {
        rate: args.rate,
        progress: Arc::clone(&progress),
        stop: stop.clone(),
    };
    let outcome = run_sink(config, &args, &plan, &producer, run).await?;
    interrupt.abort();
    bar.finish_and_clear();
    let flushed = producer.flush(Duration::from_secs(10)).await;
    let report = match outcome {
        Ok(r) => r,
        Err(consumers::Error::Refused(why)) => {
            eprintln!("error: {why}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => return Err(e.into()),
    };
    flushed?;
    print_report(&report, &args);
    Ok(if report.stopped {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the replay into the sink the arguments name; `Err` for a worker that cannot start,
/// `Ok(Err)` for what the replay itself reports.
async fn run_sink(
    config: &Config,
    args: &Args,
    plan: &Plan,
    producer: &EventProducer,
    run: ReplayRun,
) -> anyhow::Result<consumers::Result<ReplayReport>> {
    Ok(match (&args.group, &args.worker, &args.to_topic) {
        (Some(group), Some(worker), _) => {
            let handler = config
                .workers
                .clone()
                .with_env_defaults()
                .build(*worker, Some(producer))
                .await
                .with_context(|| format!("starting worker `{worker}`"))?;
            let group_config = GroupConfig {
                processors: args.processors,
                max_in_flight: GroupConfig::<()>::default()
                    .max_in_flight
                    .max(args.processors),
                ..GroupConfig::default()
            };
            let reserved: Vec<String> = config.groups.keys().cloned().collect();
            replay::to_group(
                &config.kafka,
                plan,
                ReplayGroup {
                    name: group,
                    reserved: &reserved,
                    config: group_config,
                    handler,
                    producer: producer.clone(),
                },
                run.clone(),
            )
            .await
        }
        (_, _, Some(target)) => {
            replay::to_topic(&config.kafka, plan, (target, producer.clone()), run.clone()).await
        }
        _ => anyhow::bail!("give --group with --worker, or --to-topic"),
    })
}

fn print_plan(plan: &Plan) {
    println!("{}: partition  from  to  count", plan.topic);
    for r in &plan.ranges {
        println!(
            "  {:>3}  {}  {}  {}   (watermarks {}..{})",
            r.partition,
            r.from,
            r.to,
            r.count(),
            r.low,
            r.high
        );
        for n in &r.notes {
            println!("       note: {n}");
        }
    }
    println!("total {}", plan.total());
}

fn print_report(report: &ReplayReport, args: &Args) {
    if let Some(target) = &args.to_topic {
        if report.created_target {
            println!("created {target} (it did not exist)");
        }
        println!("read {}, copied {} to {target}", report.read, report.copied);
    } else {
        println!(
            "read {}, handled {}, dead-lettered {}",
            report.read, report.handled, report.dead_lettered
        );
    }
    if report.stopped {
        println!("stopped early (interrupted): the range was not finished");
    }
}

/// An indicatif bar fed from `progress` until dropped/finished; hidden when not a terminal.
fn spawn_bar(progress: &Arc<Progress>, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (feed, shown) = (Arc::clone(progress), bar.clone());
    tokio::spawn(async move {
        while !shown.is_finished() {
            shown.set_position(feed.done.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    bar
}
