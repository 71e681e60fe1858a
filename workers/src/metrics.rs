//! The workers' own metrics, their names and help texts: what only a worker knows, beside the
//! runtime's (events received, handled, dead-lettered; `consumers::runtime::names`) and the
//! adapters' (provider calls, latency, breaker; `adapters::metrics`). Recorded through the
//! `metrics` facade into the process's one registry; the exporter holds the buckets of
//! [`BATCH_SIZE`]. Handles are made when a worker starts (in the recorder installed then), so
//! recording costs an atomic operation.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | [`NOTIFICATIONS_SENT`] | counter | `channel` | messages a provider took |
//! | [`NOTIFICATION_DEDUP_HITS`] | counter | `channel`, `claim` | sends the dedup claim stopped: `sent` (a redelivery of a delivered message), `in_flight` (another delivery is sending it), `unknown` (an earlier attempt's outcome is unknown) |
//! | [`BATCH_SIZE`] | histogram | `batcher` | items per group-commit write: `analytics`, `cache_warming`, `notification_claims`, `notification_marks`; its count is the writes |

use metrics::{describe_counter, describe_histogram};

/// Notification messages a provider took, by `channel` (`sms`, `email`).
pub const NOTIFICATIONS_SENT: &str = "orderbus_worker_notifications_sent_total";
/// Notification sends the dedup claim stopped, by `channel` and `claim`.
pub const NOTIFICATION_DEDUP_HITS: &str = "orderbus_worker_notification_dedup_hits_total";
/// Items per group-commit write, by `batcher`.
pub const BATCH_SIZE: &str = "orderbus_worker_batch_size";

/// Gives the metrics their help texts in the installed recorder (harmless when repeated).
pub(crate) fn describe() {
    describe_counter!(NOTIFICATIONS_SENT, "Notification messages a provider took.");
    describe_counter!(
        NOTIFICATION_DEDUP_HITS,
        "Notification sends the dedup claim stopped (already sent, in flight elsewhere, or outcome unknown)."
    );
    describe_histogram!(BATCH_SIZE, "Items per group-commit write.");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exporter cannot name these crates' constants (it depends on neither), so it spells
    /// the names of the histograms it sets buckets for; they must be these.
    #[test]
    fn the_exporter_has_buckets_for_the_histograms_recorded_outside_the_runtime() {
        let outside: Vec<&str> = consumers::runtime::exporter::OUTSIDE_BUCKETS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(outside, [adapters::metrics::CALL_SECONDS, BATCH_SIZE]);
    }
}
