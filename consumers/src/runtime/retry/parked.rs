//! A parked event's retry state: why it was parked, when it is due, its round and attempts so
//! far, and the sequence number ordering it among its key's parkings, read from and written to
//! the headers of its copy on the retry topic.

use std::sync::atomic::{AtomicU64, Ordering};

use events::headers;
use rdkafka::message::OwnedMessage;

use crate::runtime::dlq::header_str;

/// Why an event is on the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkKind {
    /// Its handler failed.
    Failed,
    /// It only waits behind an earlier parked event of its key.
    Follower,
}

impl ParkKind {
    fn as_str(self) -> &'static str {
        match self {
            ParkKind::Failed => "failed",
            ParkKind::Follower => "follower",
        }
    }
}

/// The retry headers of a message read from the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    /// Not to be handled before this (ms since the epoch).
    pub not_before_ms: i64,
    /// Times parked for failing so far.
    pub round: u32,
    /// Handling attempts made so far.
    pub attempts: u32,
    /// Parking sequence number.
    pub seq: u64,
}

impl Parked {
    /// Reads the headers; missing or garbled ones read as "due now, round 0".
    pub fn of(message: &OwnedMessage) -> Self {
        let header = |name: &str| header_str(message, name);
        Parked {
            not_before_ms: header(headers::NOT_BEFORE)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            round: header(headers::RETRY_ROUND)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            attempts: header(headers::ATTEMPTS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            seq: header(headers::RETRY_SEQ)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
            / 1000,
    )
    .unwrap_or(i64::MAX)
}

/// A parking sequence number: microseconds since the epoch, strictly increasing within the
/// process, so numbers given after a restart are above those given before it.
pub fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(now_ms()).unwrap_or(0) * 1000;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

/// Headers of a copy parked on the retry topic.
pub(crate) struct ParkHeaders {
    values: [String; 4],
    kind: ParkKind,
    error: String,
}

impl ParkHeaders {
    pub(crate) fn new(
        not_before_ms: i64,
        round: u32,
        attempts: u32,
        seq: u64,
        kind: ParkKind,
        error: String,
    ) -> Self {
        Self {
            values: [
                not_before_ms.to_string(),
                round.to_string(),
                attempts.to_string(),
                seq.to_string(),
            ],
            kind,
            error,
        }
    }

    /// The names a parked copy sets (so older values are replaced).
    pub(crate) const NAMES: [&'static str; 6] = [
        headers::NOT_BEFORE,
        headers::RETRY_ROUND,
        headers::ATTEMPTS,
        headers::RETRY_SEQ,
        headers::RETRY_KIND,
        headers::RETRY_ERROR,
    ];

    pub(crate) fn pairs(&self) -> [(&str, &[u8]); 6] {
        [
            (headers::NOT_BEFORE, self.values[0].as_bytes()),
            (headers::RETRY_ROUND, self.values[1].as_bytes()),
            (headers::ATTEMPTS, self.values[2].as_bytes()),
            (headers::RETRY_SEQ, self.values[3].as_bytes()),
            (headers::RETRY_KIND, self.kind.as_str().as_bytes()),
            (headers::RETRY_ERROR, self.error.as_bytes()),
        ]
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_only_grow() {
        let a = next_seq();
        let b = next_seq();
        assert!(b > a);
    }
}
