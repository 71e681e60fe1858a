//! Command-line interface: argument parsing and dispatch to one module per subcommand
//! (`publish`, `consume`, `replay`, `dlq`, `topics`, `demo`, `bench/`: one file per benchmark
//! and what they share). `embedded` starts the in-process broker that `demo` and
//! `bench ... --embedded` run on.

mod bench;
mod consume;
mod demo;
mod dlq;
mod embedded;
mod publish;
mod replay;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::telemetry::Screen;

/// orderbus: Kafka-driven event processing for orders and payments.
#[derive(Debug, Parser)]
#[command(name = "orderbus", version, about)]
pub struct Cli {
    /// Config file (default: ./orderbus.toml when present). ORDERBUS_* variables override it.
    #[arg(long, short, global = true, env = "ORDERBUS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish one event (flags or --json) or many (--file, JSON Lines; - for stdin).
    Publish(publish::Args),
    /// Run a consumer group until SIGINT/SIGTERM (drains, commits, exits 0).
    Consume(consume::Args),
    /// Re-read a fixed range of a topic into a new group (--group/--worker) or a topic (--to-topic).
    Replay(replay::Args),
    /// Dead letters: count them by reason, or re-publish them to their source topic once.
    #[command(subcommand)]
    Dlq(dlq::Command),
    /// Manage topics.
    #[command(subcommand)]
    Topics(topics::Command),
    /// Run the pipeline on an embedded in-process broker: no set-up needed.
    Demo(demo::Args),
    /// Measure throughput and latency.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Check or show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate; exit 2 naming the first bad key.
    Check,
    /// Print the effective configuration as TOML, secrets masked.
    Show,
}

/// Exit code for bad configuration or arguments (clap uses 2 for usage errors too).
pub const EXIT_CONFIG: u8 = 2;

/// How long a command waits at start for the cluster to answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Command {
    /// Commands that need the configured cluster (not the demo's or a benchmark's embedded one,
    /// not `consume`, which waits `--connect-timeout-secs` itself).
    fn talks_to_kafka(&self) -> bool {
        matches!(
            self,
            Command::Publish(_) | Command::Topics(_) | Command::Replay(_) | Command::Dlq(_)
        )
    }
}

/// Fails at once, with librdkafka's reason, when the cluster does not answer: a wrong address,
/// password or certificate is reported before any work starts.
pub async fn connect(
    kafka: &producers::KafkaConfig,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || producers::connect::check_connection(&kafka, timeout))
        .await??;
    Ok(())
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    // The demo draws progress bars: log lines written between them would drown them.
    let screen = Screen::for_bars(matches!(cli.command, Command::Demo(_)));
    let telemetry = match crate::telemetry::init(&config.log, &config.telemetry, &screen) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    if cli.command.talks_to_kafka()
        && let Err(e) = connect(&config.kafka, CONNECT_TIMEOUT).await
    {
        telemetry.shutdown().await;
        return Err(e);
    }
    let outcome = match cli.command {
        Command::Publish(args) => publish::run(&config, args).await,
        Command::Topics(cmd) => topics::run(&config, cmd).await,
        Command::Consume(args) => consume::run(&config, args).await,
        Command::Replay(args) => replay::run(&config, args).await,
        Command::Dlq(cmd) => dlq::run(&config, cmd).await,
        Command::Demo(args) => demo::run(&config, args, &screen).await,
        Command::Bench(cmd) => bench::run(&config, cmd).await,
        Command::Config(ConfigCommand::Check) => {
            println!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show) => toml_of(&config).map(|text| {
            print!("{text}");
            ExitCode::SUCCESS
        }),
    };
    telemetry.shutdown().await;
    outcome
}

fn toml_of(config: &Config) -> anyhow::Result<String> {
    // Secrets serialize as "***", so this is safe to print.
    Ok(toml::to_string_pretty(config)?)
}
