//! `orderbus consume --group <name>`: runs one consumer group until SIGINT or SIGTERM, then stops
//! fetching, drains in-flight events within the group's deadline, commits, leaves the group and
//! exits 0. One HTTP port serves the runtime's `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use consumers::runtime::ConsumerGroup;
use consumers::runtime::http::{self, Probe};
use producers::EventProducer;
use tokio_util::sync::CancellationToken;

use crate::cli::EXIT_CONFIG;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The group to run, as named under [groups.<name>] in the config.
    #[arg(long)]
    group: String,
    /// Address for /healthz, /readyz and /metrics (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464", env = "ORDERBUS_LISTEN")]
    listen: SocketAddr,
    /// How long to wait for the broker at start before giving up.
    #[arg(long, default_value_t = 30)]
    connect_timeout_secs: u64,
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let Some(group) = config.groups.get(&args.group) else {
        let known: Vec<&str> = config.groups.keys().map(String::as_str).collect();
        eprintln!(
            "error: unknown group `{}`; configured groups: {}",
            args.group,
            if known.is_empty() {
                "(none: add a [groups.<name>] section)".to_owned()
            } else {
                known.join(", ")
            }
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    crate::cli::connect(
        &config.kafka,
        Duration::from_secs(args.connect_timeout_secs),
    )
    .await?;

    let producer = EventProducer::new(&config.kafka, &config.producer, &config.topics)?;
    let worker = config
        .workers
        .clone()
        .with_env_defaults()
        .build(group.worker, Some(&producer))
        .await
        .with_context(|| {
            format!(
                "starting worker `{}` of group `{}`",
                group.worker, args.group
            )
        })?;
    let runtime = ConsumerGroup::new(
        &args.group,
        group.clone().split().1,
        config.kafka.clone(),
        &config.topics,
        worker,
        producer.clone(),
    )?;
    let probe = Arc::new(Probe {
        stats: runtime.stats(),
        kafka: config.kafka.clone(),
        exporter: crate::telemetry::exporter()?,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    tracing::info!(group = %args.group, listen = %bound, "consumer group starting");
    let http_stop = CancellationToken::new();
    let http = {
        let stop = http_stop.clone();
        tokio::spawn(http::serve(listener, probe, async move {
            stop.cancelled().await;
        }))
    };

    // The group flushes its producer as it ends, so dead letters and parked events written
    // during the drain reach the broker before the process does.
    let outcome = runtime.run(shutdown_signal()).await;
    http_stop.cancel();
    let _ = http.await;
    outcome?;
    tracing::info!(group = %args.group, "stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            // Without signal handlers, fall back to Ctrl-C only.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
