//! Live counters and histograms of a consumer group, and their Prometheus text form: events
//! received, handled, retried, parked and dead-lettered in total and per event type, handler
//! duration, event age (now minus `occurred_at` when handling starts), in-flight events,
//! assigned partitions, parked-event gauges and consumer lag per partition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use events::EventType;

/// Label for events that could not be decoded, so have no type.
const UNKNOWN: &str = "unknown";

#[derive(Debug, Default)]
struct TypeCounters {
    received: AtomicU64,
    handled: AtomicU64,
    retried: AtomicU64,
    parked: AtomicU64,
    dead_lettered: AtomicU64,
}

/// A Prometheus histogram with fixed bucket bounds, in seconds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound plus the +Inf bucket; not cumulative (summed when rendered).
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, name: &str, help: &str, group: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_owned(), ToString::to_string);
            let _ = writeln!(
                out,
                "{name}_bucket{{group=\"{group}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{group=\"{group}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{group=\"{group}\"}} {cumulative}");
    }
}

const HANDLER_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const AGE_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 3600.0,
];

type InFlightProbe = Box<dyn Fn() -> usize + Send + Sync>;

/// Picks one counter of a [`TypeCounters`].
type Field = fn(&TypeCounters) -> &AtomicU64;

/// Counters of one group run. The totals are public for callers that watch a run; the
/// per-type counts and histograms appear in [`GroupStats::render_prometheus`].
pub struct GroupStats {
    /// Events read from Kafka.
    pub received: AtomicU64,
    /// Events a handler finished with Ok.
    pub handled: AtomicU64,
    /// Retries made (attempts after the first).
    pub retried: AtomicU64,
    /// Events parked on the retry topic (failed, or following a parked event of their key).
    pub parked: AtomicU64,
    /// Events sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Events skipped because their partition was revoked before they ran.
    pub skipped_revoked: AtomicU64,
    /// Partitions assigned to this process now.
    pub assigned: AtomicU64,
    /// Per event type, then `unknown` for undecodable events.
    by_type: [TypeCounters; EventType::ALL.len() + 1],
    handler_seconds: Histogram,
    event_age_seconds: Histogram,
    in_flight: Mutex<Vec<InFlightProbe>>,
    gauges: Mutex<Vec<(&'static str, &'static str, InFlightProbe)>>,
    /// Per (topic, partition): the high watermark minus the commit point, as last seen.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Default for GroupStats {
    fn default() -> Self {
        Self {
            received: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            skipped_revoked: AtomicU64::new(0),
            assigned: AtomicU64::new(0),
            by_type: Default::default(),
            handler_seconds: Histogram::new(HANDLER_BUCKETS),
            event_age_seconds: Histogram::new(AGE_BUCKETS),
            in_flight: Mutex::new(Vec::new()),
            gauges: Mutex::new(Vec::new()),
            lag: Mutex::new(BTreeMap::new()),
        }
    }
}

impl std::fmt::Debug for GroupStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupStats")
            .field("received", &self.received)
            .field("handled", &self.handled)
            .field("dead_lettered", &self.dead_lettered)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

fn slot(t: Option<EventType>) -> usize {
    t.and_then(|t| EventType::ALL.iter().position(|x| *x == t))
        .unwrap_or(EventType::ALL.len())
}

impl GroupStats {
    /// Events received and not finished (running, waiting for their key, or retrying).
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .lock()
            .map(|probes| probes.iter().map(|p| p()).sum())
            .unwrap_or(0)
    }

    pub(crate) fn add_in_flight_probe(&self, probe: impl Fn() -> usize + Send + Sync + 'static) {
        if let Ok(mut probes) = self.in_flight.lock() {
            probes.push(Box::new(probe));
        }
    }

    pub(crate) fn record_received(&self, t: Option<EventType>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(t)]
            .received
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_handled(&self, t: EventType) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))]
            .handled
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retried(&self, t: EventType) {
        self.retried.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))]
            .retried
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_parked(&self, t: EventType) {
        self.parked.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))]
            .parked
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A gauge read when metrics are rendered.
    pub(crate) fn add_gauge(
        &self,
        name: &'static str,
        help: &'static str,
        probe: impl Fn() -> usize + Send + Sync + 'static,
    ) {
        if let Ok(mut gauges) = self.gauges.lock() {
            gauges.push((name, help, Box::new(probe)));
        }
    }

    /// Records the lag of partitions (high watermark minus commit point).
    pub(crate) fn set_lag(&self, lags: impl IntoIterator<Item = ((String, i32), i64)>) {
        if let Ok(mut lag) = self.lag.lock() {
            lag.extend(lags);
        }
    }

    /// Forgets the lag of partitions no longer assigned here.
    pub(crate) fn forget_lag(&self, partitions: &[(String, i32)]) {
        if let Ok(mut lag) = self.lag.lock() {
            for p in partitions {
                lag.remove(p);
            }
        }
    }

    /// Last seen lag per (topic, partition).
    pub fn lag(&self) -> BTreeMap<(String, i32), i64> {
        self.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub(crate) fn record_dead_lettered(&self, t: Option<EventType>) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(t)]
            .dead_lettered
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_handler(&self, d: Duration) {
        self.handler_seconds.observe(d);
    }

    pub(crate) fn observe_event_age(&self, d: Duration) {
        self.event_age_seconds.observe(d);
    }

    /// Events of type `t` handled so far.
    pub fn handled_of(&self, t: EventType) -> u64 {
        self.by_type[slot(Some(t))].handled.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of everything above, labelled with `group`.
    pub fn render_prometheus(&self, group: &str) -> String {
        let mut out = String::new();
        let per_type: [(&str, &str, Field); 5] = [
            (
                "orderbus_events_received_total",
                "Events read from Kafka.",
                |c| &c.received,
            ),
            (
                "orderbus_events_handled_total",
                "Events a handler finished successfully.",
                |c| &c.handled,
            ),
            (
                "orderbus_events_retried_total",
                "Handler retries (attempts after the first).",
                |c| &c.retried,
            ),
            (
                "orderbus_events_parked_total",
                "Events parked on the retry topic (failed, or following a parked event of their key).",
                |c| &c.parked,
            ),
            (
                "orderbus_events_dead_lettered_total",
                "Events sent to the dead-letter topic.",
                |c| &c.dead_lettered,
            ),
        ];
        let names = EventType::ALL.iter().map(|t| t.as_str()).chain([UNKNOWN]);
        let names: Vec<&str> = names.collect();
        for (name, help, field) in per_type {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (label, counters) in names.iter().zip(&self.by_type) {
                let _ = writeln!(
                    out,
                    "{name}{{group=\"{group}\",event_type=\"{label}\"}} {}",
                    field(counters).load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP orderbus_events_skipped_revoked_total Queued events dropped because their partition was revoked (the new owner handles them).\n\
             # TYPE orderbus_events_skipped_revoked_total counter\n\
             orderbus_events_skipped_revoked_total{{group=\"{group}\"}} {}",
            self.skipped_revoked.load(Ordering::Relaxed)
        );
        let gauges = [
            (
                "orderbus_in_flight",
                "Events received and not finished.",
                self.in_flight() as u64,
            ),
            (
                "orderbus_assigned_partitions",
                "Partitions assigned to this process.",
                self.assigned.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{group=\"{group}\"}} {value}"
            );
        }
        if let Ok(extra) = self.gauges.lock() {
            for (name, help, probe) in extra.iter() {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{group=\"{group}\"}} {}",
                    probe()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP orderbus_consumer_lag Messages behind the partition's end (high watermark minus commit point).\n\
             # TYPE orderbus_consumer_lag gauge"
        );
        for ((topic, partition), lag) in self.lag() {
            let _ = writeln!(
                out,
                "orderbus_consumer_lag{{group=\"{group}\",topic=\"{topic}\",partition=\"{partition}\"}} {lag}"
            );
        }
        self.handler_seconds.render(
            "orderbus_handler_duration_seconds",
            "Time a handler took per attempt.",
            group,
            &mut out,
        );
        self.event_age_seconds.render(
            "orderbus_event_age_seconds",
            "Now minus the event's occurred_at when handling starts.",
            group,
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_type_counters_and_cumulative_buckets() {
        let s = GroupStats::default();
        s.record_received(Some(EventType::OrderPaid));
        s.record_received(None);
        s.record_handled(EventType::OrderPaid);
        s.record_dead_lettered(None);
        s.set_lag([(("order-events".to_owned(), 2), 17)]);
        s.observe_handler(Duration::from_micros(800));
        s.observe_handler(Duration::from_millis(30));
        s.observe_handler(Duration::from_secs(20));
        let text = s.render_prometheus("g");
        assert!(
            text.contains("orderbus_events_handled_total{group=\"g\",event_type=\"order.paid\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("orderbus_events_received_total{group=\"g\",event_type=\"unknown\"} 1")
        );
        assert!(
            text.contains(
                "orderbus_events_dead_lettered_total{group=\"g\",event_type=\"unknown\"} 1"
            )
        );
        assert!(
            text.contains("orderbus_handler_duration_seconds_bucket{group=\"g\",le=\"0.001\"} 1")
        );
        assert!(
            text.contains("orderbus_handler_duration_seconds_bucket{group=\"g\",le=\"0.05\"} 2")
        );
        assert!(
            text.contains("orderbus_handler_duration_seconds_bucket{group=\"g\",le=\"+Inf\"} 3")
        );
        assert!(text.contains("orderbus_handler_duration_seconds_count{group=\"g\"} 3"));
        assert!(
            text.contains(
                "orderbus_consumer_lag{group=\"g\",topic=\"order-events\",partition=\"2\"} 17"
            ),
            "{text}"
        );
        s.forget_lag(&[("order-events".to_owned(), 2)]);
        assert!(s.lag().is_empty());
        assert_eq!(s.handled_of(EventType::OrderPaid), 1);
        assert_eq!(s.handled.load(Ordering::Relaxed), 1);
    }
}
