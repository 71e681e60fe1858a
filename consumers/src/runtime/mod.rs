//! The consumer-group runtime: Kafka clients ("consumers") feeding a key-ordered scheduler
//! ("processors"), safe offset commits, in-process retries and dead letters, rebalance and
//! shutdown handling.
//!
//! - [`config`]: one group's settings, and its retry and dead-letter topic names.
//! - [`handler`]: the contract workers implement.
//! - [`group`]: the runtime itself ([`group::ConsumerGroup`]).
//! - [`offsets`]: per-partition commit points that never pass an unfinished event.
//! - [`scheduler`]: one event per key at a time, different keys in parallel, bounded.
//! - [`dlq`]: dead-letter publishing with the reason headers.
//! - [`retry`]: the retry topic: parking, block-key bookkeeping, the delay queue.
//! - `trace`: a span per event, child of the publisher's `traceparent`.
//! - `worker`: what a processor does with one event (retries, dead letters, completion).
//! - [`metrics`]: counters and histograms, and their Prometheus form.
//! - [`replay`]: re-reading a fixed range of a topic into a new group or another topic.
//! - [`redrive`]: listing dead letters and re-publishing them to their source topic, once.

pub mod config;
pub mod dlq;
pub mod group;
pub mod handler;
pub mod metrics;
pub mod offsets;
pub mod redrive;
pub mod replay;
pub mod retry;
pub mod scheduler;
mod trace;
mod worker;

pub use config::{GroupConfig, OffsetReset, dead_letter_topic, retry_topic};
pub use group::ConsumerGroup;
pub use handler::{Context, Handler, HandlerError};
pub use metrics::GroupStats;
pub use retry::RetryMode;
pub use trace::EVENT_SPAN;
