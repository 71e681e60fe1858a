//! Logs, traces and metrics, and their settings (`[log]`, `[telemetry]`): tracing-subscriber
//! writes log lines (pretty or JSON) to stderr; when `[telemetry] otlp_endpoint` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) is set, spans go to an OpenTelemetry collector over OTLP/HTTP,
//! e.g. Jaeger's port 4318; and the process's one metrics registry (the Prometheus recorder the
//! runtime, workers and adapters record into) is installed. The consumer runtime makes one span
//! per event whose parent is the publisher's `traceparent`, so traces continue across Kafka.
//! `warnings`: the quiet screen of a command that draws progress bars (warnings counted, not
//! written).

mod warnings;

use std::time::Duration;

use anyhow::{Context as _, bail};
use consumers::runtime::EVENT_SPAN;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use self::warnings::Warnings;

/// `[log]`: format and default level (`RUST_LOG` overrides the level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `orderbus=debug,rdkafka=warn`.
    pub level: String,
    /// Prefix log lines written while an event is handled with its span (group, topic,
    /// partition, offset, event id, order id). Off by default: formatting those fields for every
    /// event cost about a tenth of a worker's throughput, and the runtime's own warnings name
    /// the event anyway. Trace export gets the span either way.
    pub event_spans: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
            event_spans: false,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl LogConfig {
    /// Checks every key; the error names it.
    pub fn validate(&self) -> anyhow::Result<()> {
        if EnvFilter::try_new(&self.level).is_err() {
            bail!(
                "config `log.level`: `{}` is not a tracing filter",
                self.level
            );
        }
        Ok(())
    }
}

/// `[telemetry]`: where traces go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP base URL (`http://jaeger:4318`); `/v1/traces` is appended. None: no export,
    /// unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub otlp_endpoint: Option<String>,
    /// `http/protobuf` (what collectors expect by default) or `http/json`.
    pub protocol: OtlpProtocol,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces kept, 0.0 to 1.0; a trace continued from a publisher keeps the
    /// publisher's decision.
    pub sample_ratio: f64,
    /// Timeout of one export request.
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: "orderbus".into(),
            sample_ratio: 1.0,
            export_timeout_ms: 10_000,
        }
    }
}

/// OTLP encoding over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// Protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// JSON bodies.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl TelemetryConfig {
    /// Checks every key; the error names it.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.otlp_endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("config `telemetry.otlp_endpoint`: `{url}` is not an http(s) URL");
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            bail!("config `telemetry.sample_ratio`: must be between 0.0 and 1.0");
        }
        if self.service_name.is_empty() {
            bail!("config `telemetry.service_name`: must not be empty");
        }
        if self.export_timeout_ms == 0 {
            bail!("config `telemetry.export_timeout_ms`: must be positive");
        }
        Ok(())
    }

    /// The endpoint in force: the config's, else the standard variable's.
    fn endpoint(&self) -> Option<String> {
        self.otlp_endpoint.clone().or_else(|| {
            std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .filter(|v| !v.is_empty())
        })
    }
}

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] sends what is still buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporter (a no-op without one).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The exporter's HTTP client blocks; keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = provider.shutdown() {
                    eprintln!("warning: traces not all exported: {e}");
                }
            })
            .await;
        }
    }
}

/// The process's metrics registry, installed on first use with every histogram's buckets.
pub fn exporter() -> anyhow::Result<consumers::runtime::Exporter> {
    Ok(consumers::runtime::Exporter::install(
        consumers::runtime::names::BUCKETS,
    )?)
}

/// Where log lines go.
#[derive(Debug, Clone)]
pub enum Screen {
    /// Written to stderr as they happen, at the configured level.
    Logs,
    /// Nothing written: warnings and errors are counted in these [`Warnings`] (see
    /// `quiet_level` for what is still recorded at all).
    Quiet(Warnings),
}

impl Screen {
    /// Quiet for a command that draws progress bars, unless `RUST_LOG` asks for log lines.
    pub fn for_bars(bars: bool) -> Self {
        let rust_log = std::env::var_os(EnvFilter::DEFAULT_ENV).is_some_and(|v| !v.is_empty());
        if bars && !rust_log {
            Screen::Quiet(Warnings::default())
        } else {
            Screen::Logs
        }
    }
}

/// Installs logging, the metrics registry and, when configured, trace export. A second call
/// (tests running the CLI twice in one process) keeps the first subscriber.
pub fn init(
    log: &LogConfig,
    telemetry: &TelemetryConfig,
    screen: &Screen,
) -> anyhow::Result<Telemetry> {
    exporter()?;
    let (level, fmt) = match screen {
        Screen::Logs => (
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level)),
            fmt_layer(log.format),
        ),
        Screen::Quiet(warnings) => (quiet_level(&log.level), warnings.clone().boxed()),
    };
    let provider = match telemetry.endpoint() {
        Some(endpoint) => Some(provider(telemetry, &endpoint)?),
        None => None,
    };
    // The log layer formats a span's fields when the span opens, so a span it accepts costs
    // that formatting for every event even when nothing is logged inside it: it takes the
    // per-event span only with `log.event_spans`.
    let event_spans = log.event_spans;
    let not_event_span = || filter_fn(|meta| !(meta.is_span() && meta.name() == EVENT_SPAN));
    let fmt = if event_spans {
        fmt
    } else {
        fmt.with_filter(not_event_span()).boxed()
    };
    // A list rather than an `Option` layer: a `None` layer counts as one that wants every span,
    // which would keep the per-event span alive with nothing to receive it.
    let mut layers = vec![fmt];
    if let Some(p) = &provider {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer(telemetry.service_name.clone()))
                .boxed(),
        );
    }
    // The level and the "nobody wants the event span" decisions are global filters, not
    // per-layer ones. Something refused by every per-layer filter leaves the thread's per-layer
    // state saying "refused" (only a global filter resets it), and the next event whose callsite
    // skips the check is then dropped: that lost the first `handled` line of a run. A global
    // level also lets `debug!` callsites below it return before asking the subscriber.
    let nobody_wants_event_span = !event_spans && provider.is_none();
    let _ = tracing_subscriber::registry()
        .with(layers)
        .with(nobody_wants_event_span.then(not_event_span))
        .with(level)
        .try_init();
    if let Some(endpoint) = telemetry.endpoint() {
        tracing::info!(%endpoint, protocol = ?telemetry.protocol, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

/// The configured level, with the targets that log a line per message (the workers' and the
/// `log` providers' "charged", "would send") and librdkafka at warn: those callsites cost
/// nothing then. The rest stays at the configured level, so exported traces keep their
/// per-event spans; the counting layer ignores whatever is below warn.
fn quiet_level(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!(
        "{level},adapters=warn,workers=warn,librdkafka=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("warn"))
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn fmt_layer(format: LogFormat) -> BoxedLayer {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    }
}

fn provider(config: &TelemetryConfig, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let protocol = match config.protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let timeout = Duration::from_millis(config.export_timeout_ms);
    // The blocking HTTP client must not be built on an async worker thread.
    let exporter = std::thread::spawn(move || {
        SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .with_protocol(protocol)
            .with_timeout(timeout)
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("building the OTLP exporter panicked"))?
    .context("config `telemetry.otlp_endpoint`: cannot build the OTLP exporter")?;
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        )
        .build())
}
