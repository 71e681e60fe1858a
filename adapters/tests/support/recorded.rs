//! What a test recorded through the `metrics` facade: a `DebuggingRecorder` set for the test's
//! thread (a `#[tokio::test]` runs on one), read back by name and labels.

use metrics::set_default_local_recorder;
use metrics::{LocalRecorderGuard, Recorder};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// Records what this thread records while it lives. Build providers after starting it: their
/// metric handles are made when they are built.
pub struct Recorded {
    snapshotter: Snapshotter,
    _guard: LocalRecorderGuard<'static>,
}

impl Recorded {
    /// Starts recording on this thread.
    pub fn start() -> Self {
        // Leaked: the guard borrows the recorder for as long as the test runs.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        let snapshotter = recorder.snapshotter();
        let recorder: &'static dyn Recorder = recorder;
        Self {
            snapshotter,
            _guard: set_default_local_recorder(recorder),
        }
    }

    /// What was recorded since the last reading: counters count from it, histograms hold the
    /// samples since, and a gauge reads 0 unless set since.
    pub fn read(&self) -> Readings {
        let values = self.snapshotter.snapshot().into_vec();
        Readings(values.into_iter().map(|(k, _, _, v)| (k, v)).collect())
    }
}

/// One reading of every metric.
pub struct Readings(Vec<(CompositeKey, DebugValue)>);

impl Readings {
    /// The metric of `kind` named `name` with exactly these labels, in any order.
    fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(k, _)| {
                let key = k.key();
                let mut have: Vec<(&str, &str)> =
                    key.labels().map(|l| (l.key(), l.value())).collect();
                let mut want = labels.to_vec();
                have.sort_unstable();
                want.sort_unstable();
                k.kind() == kind && key.name() == name && have == want
            })
            .map(|(_, v)| v)
    }

    /// A counter's increase since the last reading; 0 when it was never made.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            _ => 0,
        }
    }

    /// A gauge's value, if it was made.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
            _ => None,
        }
    }

    /// A histogram's samples since the last reading.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.find(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
            _ => Vec::new(),
        }
    }
}
