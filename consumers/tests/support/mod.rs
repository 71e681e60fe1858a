//! Models shared by the worker tests: what the analytics tables and cache entries should hold,
//! computed from the events alone.
#![allow(dead_code, clippy::unwrap_used)]

pub mod analytics;
pub mod cache;

use consumers::runtime::Context;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// The context of a first attempt at offset 0 of `order-events`, for calling a worker directly.
pub fn ctx(group: &str) -> Context {
    Context {
        group: group.into(),
        topic: "order-events".into(),
        partition: 0,
        offset: 0,
        attempt: 1,
        replay: false,
        cancel: CancellationToken::new(),
    }
}

/// Microseconds since the epoch: the precision events keep.
pub fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000
}
