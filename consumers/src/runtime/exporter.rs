//! The process's one metrics registry: the Prometheus recorder of the `metrics` facade, which
//! the runtime, the workers and the adapters all record into, rendered by the daemon's
//! `/metrics` ([`http`](crate::runtime::http)). Installed once per process by the application
//! before any group starts (handles made earlier record nowhere).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::error::{Error, Result};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Bucket bounds of the histograms recorded outside the runtime, by crates it does not depend
/// on, so their names are spelled here (a workers test checks they are those crates' constants):
/// - `orderbus_provider_call_seconds` (adapters): one attempt of a provider call, an HTTP
///   round trip of milliseconds up to the attempt timeout (3 s by default) and the 10 s deadline;
/// - `orderbus_worker_batch_size` (workers): items in one group-commit write, 1 up to the
///   largest `batch_size` a worker accepts (10000).
pub const OUTSIDE_BUCKETS: &[(&str, &[f64])] = &[
    (
        "orderbus_provider_call_seconds",
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ],
    ),
    (
        "orderbus_worker_batch_size",
        &[
            1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
        ],
    ),
];

/// How long a gauge that nobody updates stays in the output: a partition's lag stops being
/// updated once it is revoked, and should then disappear rather than show its last value.
const GAUGE_IDLE: Duration = Duration::from_secs(30);

/// The installed registry.
#[derive(Debug, Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
}

impl Exporter {
    /// Installs the Prometheus recorder (once; later calls return the same one), with
    /// histogram buckets for every `(name, bounds)` given (the runtime's are
    /// [`names::BUCKETS`](crate::runtime::names::BUCKETS)) and for those of
    /// [`OUTSIDE_BUCKETS`], and starts its upkeep on the current tokio runtime.
    pub fn install(buckets: &[(&str, &[f64])]) -> Result<Self> {
        if let Some(handle) = HANDLE.get() {
            return Ok(Self {
                handle: handle.clone(),
            });
        }
        let mut builder =
            PrometheusBuilder::new().idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE));
        for (name, bounds) in buckets.iter().chain(OUTSIDE_BUCKETS) {
            builder = builder
                .set_buckets_for_metric(Matcher::Full((*name).to_owned()), bounds)
                .map_err(|e| Error::Metrics(e.to_string()))?;
        }
        let handle = builder
            .install_recorder()
            .map_err(|e| Error::Metrics(e.to_string()))?;
        let handle = HANDLE.get_or_init(|| handle).clone();
        // Histograms gather raw samples until upkeep folds them into buckets; without it they
        // would grow with every event between scrapes.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Self { handle })
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}
