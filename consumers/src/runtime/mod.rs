//! The consumer-group runtime (in progress): safe offset commits and key-ordered scheduling.
//! The Kafka client loop, retries, dead letters, rebalance handling and the daemon build on
//! these.
//!
//! - [`offsets`]: per-partition commit points that never pass an unfinished event.
//! - [`scheduler`]: one event per key at a time, different keys in parallel, bounded.

pub mod offsets;
pub mod scheduler;
