//! The runtime's metric names (the README documents each), their help texts, and the bucket
//! bounds of its histograms, so the exporter and the recording code agree on one list.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Events read from Kafka, by `group` and `event_type` (`unknown` when undecodable).
pub const RECEIVED: &str = "orderbus_events_received_total";
/// Events a handler finished successfully.
pub const HANDLED: &str = "orderbus_events_handled_total";
/// Handler retries (attempts after the first).
pub const RETRIED: &str = "orderbus_events_retried_total";
/// Events parked on the retry topic.
pub const PARKED: &str = "orderbus_events_parked_total";
/// Events sent to the dead-letter topic.
pub const DEAD_LETTERED: &str = "orderbus_events_dead_lettered_total";
/// Queued events dropped because their partition was revoked.
pub const SKIPPED_REVOKED: &str = "orderbus_events_skipped_revoked_total";
/// Offset commits by `result` (`ok`, `failed`).
pub const COMMITS: &str = "orderbus_commits_total";
/// Events received and not finished.
pub const IN_FLIGHT: &str = "orderbus_in_flight";
/// Partitions assigned to this process.
pub const ASSIGNED: &str = "orderbus_assigned_partitions";
/// Parked events read back and not yet due.
pub const RETRY_WAITING: &str = "orderbus_retry_waiting";
/// Keys with events parked on the retry topic.
pub const RETRY_BLOCKED_KEYS: &str = "orderbus_retry_blocked_keys";
/// High watermark minus commit point, by `topic` and `partition`.
pub const CONSUMER_LAG: &str = "orderbus_consumer_lag";
/// Time a handler took per attempt.
pub const HANDLER_SECONDS: &str = "orderbus_handler_duration_seconds";
/// Now minus the event's `occurred_at` when handling starts.
pub const EVENT_AGE_SECONDS: &str = "orderbus_event_age_seconds";

/// Bucket bounds (seconds) of each histogram.
pub const BUCKETS: &[(&str, &[f64])] = &[
    (
        HANDLER_SECONDS,
        &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ],
    ),
    (
        EVENT_AGE_SECONDS,
        &[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 3600.0,
        ],
    ),
];

/// Gives every metric its help text in the installed recorder (harmless when repeated).
pub(crate) fn describe() {
    let counters = [
        (RECEIVED, "Events read from Kafka."),
        (HANDLED, "Events a handler finished successfully."),
        (RETRIED, "Handler retries (attempts after the first)."),
        (
            PARKED,
            "Events parked on the retry topic (failed, or following a parked event of their key).",
        ),
        (DEAD_LETTERED, "Events sent to the dead-letter topic."),
        (
            SKIPPED_REVOKED,
            "Queued events dropped because their partition was revoked (the new owner handles them).",
        ),
        (COMMITS, "Offset commits, by result."),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
    }
    let gauges = [
        (IN_FLIGHT, "Events received and not finished."),
        (ASSIGNED, "Partitions assigned to this process."),
        (
            RETRY_WAITING,
            "Events read back from the retry topic and waiting for their due time.",
        ),
        (
            RETRY_BLOCKED_KEYS,
            "Keys with events parked on the retry topic.",
        ),
        (
            CONSUMER_LAG,
            "Messages behind the partition's end (high watermark minus commit point).",
        ),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, help);
    }
    describe_histogram!(
        HANDLER_SECONDS,
        Unit::Seconds,
        "Time a handler took per attempt."
    );
    describe_histogram!(
        EVENT_AGE_SECONDS,
        Unit::Seconds,
        "Now minus the event's occurred_at when handling starts."
    );
}
