//! A consumer group's live counters, and their Prometheus form through the `metrics` facade:
//! events received, handled, retried, parked and dead-lettered in total and per event type,
//! commits, handler duration, event age (now minus `occurred_at` when handling starts),
//! in-flight events, assigned partitions, parked-event gauges and consumer lag per partition.
//!
//! The totals are plain atomics for callers in the same process (tests, the demo, replay
//! reports); everything is also recorded into whatever `metrics` recorder the application
//! installed (the `orderbus` binary installs the Prometheus one, see [`exporter`]), the one
//! registry the adapters and workers record into too. Metric handles are made once per group,
//! so recording an event costs an atomic add, not a lookup.
//!
//! [`exporter`]: crate::runtime::exporter

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use events::EventType;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::runtime::names as n;

/// Label for events that could not be decoded, so have no type.
const UNKNOWN: &str = "unknown";

/// The per-type counters of one event type (or of undecodable events).
#[derive(Debug)]
struct TypeCounters {
    received: Counter,
    handled: Counter,
    retried: Counter,
    parked: Counter,
    dead_lettered: Counter,
}

impl TypeCounters {
    fn new(group: &str, event_type: &'static str) -> Self {
        let c = |name: &'static str| counter!(name, "group" => group.to_owned(), "event_type" => event_type);
        Self {
            received: c(n::RECEIVED),
            handled: c(n::HANDLED),
            retried: c(n::RETRIED),
            parked: c(n::PARKED),
            dead_lettered: c(n::DEAD_LETTERED),
        }
    }
}

type Probe = Box<dyn Fn() -> usize + Send + Sync>;

/// Gauges read from the runtime's state when refreshed (see [`GroupStats::refresh`]).
#[derive(Default)]
struct Probes {
    in_flight: Vec<Probe>,
    retry_waiting: Option<Probe>,
    blocked_keys: Option<Probe>,
}

/// Handles of the gauges, set on refresh.
#[derive(Debug)]
struct Gauges {
    in_flight: Gauge,
    assigned: Gauge,
    retry_waiting: Gauge,
    blocked_keys: Gauge,
}

/// Counters of one group run.
pub struct GroupStats {
    group: String,
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
    /// Offset commits the broker refused (or that could not be sent).
    pub commits_failed: AtomicU64,
    /// Per event type, then `unknown` for undecodable events.
    by_type: Vec<TypeCounters>,
    skipped: Counter,
    commits: [Counter; 2],
    handler_seconds: Histogram,
    event_age_seconds: Histogram,
    gauges: Gauges,
    probes: Mutex<Probes>,
    /// Per (topic, partition): the high watermark minus the commit point, as last seen.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl std::fmt::Debug for GroupStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupStats")
            .field("group", &self.group)
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
    /// Counters of group `group`, labelled with its name.
    pub fn new(group: &str) -> Self {
        n::describe();
        let types = EventType::ALL.iter().map(|t| t.as_str()).chain([UNKNOWN]);
        let g = || group.to_owned();
        Self {
            group: g(),
            received: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            skipped_revoked: AtomicU64::new(0),
            assigned: AtomicU64::new(0),
            commits_failed: AtomicU64::new(0),
            by_type: types.map(|t| TypeCounters::new(group, t)).collect(),
            skipped: counter!(n::SKIPPED_REVOKED, "group" => g()),
            commits: [
                counter!(n::COMMITS, "group" => g(), "result" => "ok"),
                counter!(n::COMMITS, "group" => g(), "result" => "failed"),
            ],
            handler_seconds: histogram!(n::HANDLER_SECONDS, "group" => g()),
            event_age_seconds: histogram!(n::EVENT_AGE_SECONDS, "group" => g()),
            gauges: Gauges {
                in_flight: gauge!(n::IN_FLIGHT, "group" => g()),
                assigned: gauge!(n::ASSIGNED, "group" => g()),
                retry_waiting: gauge!(n::RETRY_WAITING, "group" => g()),
                blocked_keys: gauge!(n::RETRY_BLOCKED_KEYS, "group" => g()),
            },
            probes: Mutex::new(Probes::default()),
            lag: Mutex::new(BTreeMap::new()),
        }
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    fn probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events received and not finished (running, waiting for their key, or retrying).
    pub fn in_flight(&self) -> usize {
        self.probes().in_flight.iter().map(|p| p()).sum()
    }

    pub(crate) fn add_in_flight_probe(&self, probe: impl Fn() -> usize + Send + Sync + 'static) {
        self.probes().in_flight.push(Box::new(probe));
    }

    pub(crate) fn set_retry_probes(
        &self,
        waiting: impl Fn() -> usize + Send + Sync + 'static,
        blocked_keys: impl Fn() -> usize + Send + Sync + 'static,
    ) {
        let mut p = self.probes();
        p.retry_waiting = Some(Box::new(waiting));
        p.blocked_keys = Some(Box::new(blocked_keys));
    }

    /// Sets the gauges from the runtime's state: called on every statistics report of a
    /// client (at least once a second) and before the metrics are rendered.
    pub fn refresh(&self) {
        let p = self.probes();
        let read = |probe: &Option<Probe>| probe.as_ref().map_or(0, |f| f()) as f64;
        self.gauges
            .in_flight
            .set(p.in_flight.iter().map(|f| f()).sum::<usize>() as f64);
        self.gauges
            .assigned
            .set(self.assigned.load(Ordering::Relaxed) as f64);
        self.gauges.retry_waiting.set(read(&p.retry_waiting));
        self.gauges.blocked_keys.set(read(&p.blocked_keys));
    }

    pub(crate) fn record_received(&self, t: Option<EventType>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(t)].received.increment(1);
    }

    pub(crate) fn record_handled(&self, t: EventType) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))].handled.increment(1);
    }

    pub(crate) fn record_retried(&self, t: EventType) {
        self.retried.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))].retried.increment(1);
    }

    pub(crate) fn record_parked(&self, t: EventType) {
        self.parked.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(Some(t))].parked.increment(1);
    }

    pub(crate) fn record_dead_lettered(&self, t: Option<EventType>) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.by_type[slot(t)].dead_lettered.increment(1);
    }

    pub(crate) fn record_skipped_revoked(&self) {
        self.skipped_revoked.fetch_add(1, Ordering::Relaxed);
        self.skipped.increment(1);
    }

    pub(crate) fn record_commit(&self, ok: bool) {
        if !ok {
            self.commits_failed.fetch_add(1, Ordering::Relaxed);
        }
        self.commits[usize::from(!ok)].increment(1);
    }

    pub(crate) fn observe_handler(&self, d: Duration) {
        self.handler_seconds.record(d.as_secs_f64());
    }

    pub(crate) fn observe_event_age(&self, d: Duration) {
        self.event_age_seconds.record(d.as_secs_f64());
    }

    /// Records the lag of partitions (high watermark minus commit point).
    pub(crate) fn set_lag(&self, lags: impl IntoIterator<Item = ((String, i32), i64)>) {
        let mut lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        for ((topic, partition), behind) in lags {
            gauge!(n::CONSUMER_LAG, "group" => self.group.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                .set(behind as f64);
            lag.insert((topic, partition), behind);
        }
    }

    /// Forgets the lag of partitions no longer assigned here (their gauges stop being updated
    /// and the exporter drops them).
    pub(crate) fn forget_lag(&self, partitions: &[(String, i32)]) {
        let mut lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        for p in partitions {
            lag.remove(p);
        }
    }

    /// Last seen lag per (topic, partition).
    pub fn lag(&self) -> BTreeMap<(String, i32), i64> {
        self.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
