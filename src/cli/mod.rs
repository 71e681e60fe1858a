//! Command-line interface: argument parsing and dispatch to one module per subcommand.

mod bench;
mod bench_consume;
mod consume;
mod demo;
mod dlq;
mod publish;
mod replay;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

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

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let telemetry = match crate::telemetry::init(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let outcome = match cli.command {
        Command::Publish(args) => publish::run(&config, args).await,
        Command::Topics(cmd) => topics::run(&config, cmd).await,
        Command::Consume(args) => consume::run(&config, args).await,
        Command::Replay(args) => replay::run(&config, args).await,
        Command::Dlq(cmd) => dlq::run(&config, cmd).await,
        Command::Demo(args) => demo::run(&config, args).await,
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
