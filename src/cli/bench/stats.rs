//! What the benchmarks measure and how they print it: latency histograms, the handled-event
//! count the consume benchmarks wait on, the process's peak RSS, and the rows of the tables that
//! put orderbus and the bare client side by side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

/// Latency in microseconds, up to ten minutes. Every latency the benchmarks print is binned in
/// one of these, so the variants they compare are binned alike.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// What one publish run of one variant measured.
#[derive(Debug)]
pub struct Outcome {
    pub seconds: f64,
    pub delivered: u64,
    pub failed: u64,
    pub latency_us: Histogram<u64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }
}

/// The publish table's heading, for [`print_publish_row`].
pub fn print_publish_heading() {
    println!(
        "{:<6} {:<9} {:>10} {:>12} {:>9} {:>9} {:>9} {:>7}",
        "round", "variant", "events", "events/s", "p50 ms", "p99 ms", "max ms", "failed"
    );
}

pub fn print_publish_row(round: usize, variant: &str, o: &Outcome) {
    let ms = |q: f64| o.latency_us.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{round:<6} {variant:<9} {:>10} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
        o.delivered,
        o.rate(),
        ms(0.5),
        ms(0.99),
        o.latency_us.max() as f64 / 1000.0,
        o.failed
    );
}

/// Counts handled events and, at a fixed rate, publish-to-handled latency.
pub struct Sink {
    pub handled: AtomicU64,
    done: watch::Sender<u64>,
    latency_us: std::sync::Mutex<Histogram<u64>>,
    /// Handled when measuring started (after the warm-up), and when that was.
    measured_from: std::sync::Mutex<(u64, Option<Instant>)>,
}

impl Sink {
    pub fn new() -> anyhow::Result<(Arc<Self>, watch::Receiver<u64>)> {
        let (done, rx) = watch::channel(0);
        let sink = Sink {
            handled: AtomicU64::new(0),
            done,
            latency_us: std::sync::Mutex::new(histogram()?),
            measured_from: std::sync::Mutex::new((0, None)),
        };
        Ok((Arc::new(sink), rx))
    }

    pub fn record(&self, published_us: i64) {
        let now = events::now_micros().unix_timestamp_nanos() / 1_000;
        if let Ok(mut h) = self.latency_us.lock() {
            h.saturating_record(u64::try_from(now as i64 - published_us).unwrap_or(0));
        }
        let n = self.handled.fetch_add(1, Ordering::Relaxed) + 1;
        // Waking the waiter on every event would cost more than the handler; every 1024 is enough.
        if n.is_multiple_of(1024) {
            self.done.send_replace(n);
        }
    }

    /// Forgets the warm-up: latency and throughput count from here.
    pub fn start_measuring(&self) {
        if let Ok(mut h) = self.latency_us.lock() {
            h.reset();
        }
        if let Ok(mut from) = self.measured_from.lock() {
            *from = (self.handled.load(Ordering::Relaxed), Some(Instant::now()));
        }
    }

    /// Handled before measuring started, and how long ago it started (zero if it never did).
    pub fn measured_from(&self) -> (u64, Duration) {
        let (from, at) = self.measured_from.lock().map(|g| *g).unwrap_or((0, None));
        (from, at.map_or(Duration::ZERO, |t| t.elapsed()))
    }

    pub async fn wait(&self, rx: &mut watch::Receiver<u64>, n: u64) {
        while self.handled.load(Ordering::Relaxed) < n {
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        }
    }
}

/// The consume table's heading, for [`print_consume_row`].
pub fn print_consume_heading() {
    println!(
        "{:<9} {:>10} {:>12} {:>9} {:>9} {:>10}",
        "variant", "events", "events/s", "p50 ms", "p99 ms", "peak RSS"
    );
}

/// One variant's row: what it handled after the first `from` events, over `elapsed`, with
/// latency percentiles when `latency` (at a rate; when the topic was filled first they would
/// only say how long its events had been waiting).
pub fn print_consume_row(variant: &str, sink: &Sink, from: u64, elapsed: Duration, latency: bool) {
    let n = sink.handled.load(Ordering::Relaxed) - from;
    let (p50, p99) = match (latency, sink.latency_us.lock()) {
        (true, Ok(h)) => (
            format!("{:.2}", h.value_at_quantile(0.5) as f64 / 1000.0),
            format!("{:.2}", h.value_at_quantile(0.99) as f64 / 1000.0),
        ),
        _ => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "{variant:<9} {n:>10} {:>12.0} {p50:>9} {p99:>9} {:>7} MiB",
        n as f64 / elapsed.as_secs_f64(),
        peak_rss_kib().unwrap_or(0) / 1024
    );
}

/// Peak resident set size of this process (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so each phase reports its own
/// peak (Linux `clear_refs`, value 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
