//! Time boundaries between published messages, for tests of time-bounded reads.

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// A time boundary: every message published before the call has a timestamp below it, every
/// one published after it a timestamp at or above it (waits for the millisecond to turn).
pub fn boundary() -> i64 {
    let t = now_ms();
    while now_ms() <= t {
        std::thread::yield_now();
    }
    t + 1
}

/// `ms` as an RFC 3339 time.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}
