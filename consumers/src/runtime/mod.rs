//! The consumer-group runtime: Kafka clients ("consumers") feeding a key-ordered scheduler
//! ("processors"), safe offset commits, in-process retries, the retry topic and dead letters,
//! rebalance and shutdown handling, the daemon's HTTP port, and the tools that reuse it.
//!
//! A message's way: [`poll`](poll) (one thread per client) → [`pipeline`] (decode; parked events
//! into the delay queue; the rest to the [`scheduler`]) → `process` (each attempt by `attempt`,
//! what then by `next_step`: retry, park, dead-letter or done) → its ticket settled in
//! `partition_state` → `commit`.
//!
//! - [`config`]: one group's settings, and its retry and dead-letter topic names.
//! - [`handler`]: the contract workers implement, and why a handler failed ([`Failure`]).
//! - [`group`]: [`ConsumerGroup`], wiring the parts below together for one run.
//! - `client`: a Kafka client's settings and librdkafka callbacks (lag, commits, rebalance).
//! - `poll`: a client's poll loop, backpressure at the in-flight limit, drain at shutdown.
//! - `commit`: periodic, revoke and shutdown commits, and commit results observed.
//! - `topics`: the group's own topics, co-partitioned with its sources.
//! - `partition_state`: per-partition commit points that never pass an unfinished event.
//! - `pipeline`: decode → dead-letter / park / schedule, shared by groups and replay.
//! - [`scheduler`]: one event per key at a time, different keys in parallel, bounded.
//! - `process`, `attempt`, `next_step`: what a processor does with one event; `deps` what all
//!   processors of a run share.
//! - [`dlq`]: dead-letter publishing with the reason headers.
//! - [`retry`]: the retry topic: parking, block-key bookkeeping, the delay queue.
//! - `trace`: a span per event, child of the publisher's `traceparent`.
//! - [`metrics`], [`names`], [`exporter`]: the group's counters, the metric names, and the
//!   process's Prometheus registry.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`replay`]: re-reading a fixed range of a topic into a new group or another topic.
//! - [`redrive`]: listing dead letters and re-publishing them to their source topic, once.

mod attempt;
mod client;
mod commit;
pub mod config;
mod deps;
pub mod dlq;
pub mod exporter;
pub mod group;
pub mod handler;
pub mod http;
pub mod metrics;
pub mod names;
mod next_step;
mod partition_state;
mod pipeline;
mod poll;
mod process;
pub mod redrive;
pub mod replay;
pub mod retry;
pub mod scheduler;
mod topics;
mod trace;

pub use config::{GroupConfig, OffsetReset, dead_letter_topic, retry_topic};
pub use exporter::Exporter;
pub use group::ConsumerGroup;
pub use handler::{Context, Failure, Handler, HandlerError};
pub use metrics::GroupStats;
pub use retry::RetryMode;
pub use trace::EVENT_SPAN;
