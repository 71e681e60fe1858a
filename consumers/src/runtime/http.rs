//! The daemon's HTTP port: `/healthz` (the process is up), `/readyz` (200 once partitions are
//! assigned and the cluster answers) and `/metrics` (the Prometheus text of the process's one
//! registry, see [`exporter`](crate::runtime::exporter)).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use producers::KafkaConfig;

use crate::runtime::exporter::Exporter;
use crate::runtime::metrics::GroupStats;

/// What the endpoints read.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The group's counters.
    pub stats: Arc<GroupStats>,
    /// How to reach the cluster, for readiness.
    pub kafka: KafkaConfig,
    /// The registry `/metrics` renders.
    pub exporter: Exporter,
}

/// The router of `/healthz`, `/readyz` and `/metrics`.
pub fn router(probe: Arc<Probe>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    probe: Arc<Probe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(probe))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(probe): State<Arc<Probe>>) -> (StatusCode, String) {
    if probe.stats.assigned.load(Ordering::Relaxed) == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no partitions assigned\n".into(),
        );
    }
    let kafka = probe.kafka.clone();
    let answered = tokio::task::spawn_blocking(move || {
        producers::connect::check_connection(&kafka, Duration::from_secs(2))
    })
    .await;
    match answered {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn metrics(State(probe): State<Arc<Probe>>) -> String {
    probe.stats.refresh();
    probe.exporter.render()
}
