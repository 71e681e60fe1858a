//! Test support shared by every orderbus crate's integration tests (`publish = false`). Nothing
//! here is used by the product; tests that need a broker, a store or a running group get it
//! from one place instead of a copy per test directory.
//!
//! - [`kafka`]: the shared broker (`KAFKA_BOOTSTRAP_SERVERS`, started by `scripts/test.sh`) and
//!   brokers a test starts for itself ([`kafka::Cluster`]: three KRaft nodes for fault tests, or
//!   one with a `SASL_SSL` listener), with SIGKILL and restart of one node.
//! - [`cli`]: the `orderbus` binary with only the settings a test gives ([`orderbus!`]).
//! - [`daemon`]: `orderbus consume` as a child process, its log lines and its HTTP port.
//! - [`clock`]: time boundaries between published messages.
//! - [`names`]: names no other test or earlier run uses.
//! - [`topics`]: topic creation through the admin API and what the cluster says of a topic.
//! - [`reader`]: plain rdkafka readers that check what landed, headers, grouping by partition.
//! - [`ordering`]: per-order ordering under at-least-once delivery, as a check.
//! - [`partitioner`]: the Java client's partitioner, to check key placement against.
//! - [`group`]: running a consumer group member inside a test, counting handler outcomes.
//! - [`wait`]: waiting for a condition instead of sleeping.
//! - [`stores`] (feature `stores`): PostgreSQL and Redis for tests, with a schema or key prefix
//!   of the test's own.
//! - [`http`] (feature `providers`): what a provider test's local HTTP server received (form
//!   bodies, headers, counts).
//! - [`handler`]: the handler `Context` for calling a worker directly.
//! - [`resilience`] (feature `providers`): quick resilience settings for provider tests.
//! - [`providers`] (feature `providers`): provider configs (with secrets to look for) and
//!   messages for adapter tests.
//! - [`tls`]: a CA and a broker certificate made with openssl for the security tests.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod cli;
pub mod clock;
pub mod daemon;
pub mod group;
pub mod handler;
#[cfg(feature = "providers")]
pub mod http;
pub mod kafka;
pub mod names;
pub mod ordering;
pub mod partitioner;
#[cfg(feature = "providers")]
pub mod providers;
pub mod reader;
#[cfg(feature = "providers")]
pub mod resilience;
#[cfg(feature = "stores")]
pub mod stores;
pub mod tls;
pub mod topics;
pub mod wait;

pub use kafka::{bootstrap, kafka};
pub use names::unique;
pub use wait::{wait_for, wait_until};
