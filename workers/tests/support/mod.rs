//! Models shared by the worker tests: what the analytics tables and cache entries should hold,
//! computed from the events alone.
#![allow(dead_code, clippy::unwrap_used)]

pub mod analytics;
pub mod cache;

use time::OffsetDateTime;

/// Microseconds since the epoch: the precision events keep.
pub fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000
}
