//! The handlers consumer groups run, each a `consumers::runtime::Handler`, and everything they
//! need that the runtime does not: their stores (PostgreSQL, Redis), their providers (through
//! `adapters`), their migrations (`migrations/`) and message templates (`templates/`), both
//! embedded at compile time.
//!
//! - [`log`]: [`log::LogWorker`], for local runs and smoke tests.
//! - [`analytics`]: read models in PostgreSQL (orders per status, revenue per day, payment
//!   success per provider).
//! - [`cache_warming`]: each order's newest state in Redis.
//! - [`notification`]: SMS and e-mail to customers, at most once per event and channel.
//! - [`payment`]: charges new orders through the payment gateway and publishes the outcome.
//! - [`registry`]: [`WorkerKind`] (the `worker` a group names), [`WorkersConfig`] (`[workers]`)
//!   and [`AnyWorker`], one handler type over all of them.
//! - [`support`]: group commit ([`support::batch`]) and PostgreSQL ([`support::postgres`]),
//!   shared by the workers.
//! - [`embedded`]: in-memory stand-ins for the stores, for the demo.
//! - [`metrics`]: the workers' own metrics (notifications sent, dedup hits, batch sizes).
//! - [`error`]: the crate's one error type.

pub mod analytics;
pub mod cache_warming;
pub mod embedded;
pub mod error;
pub mod log;
pub mod metrics;
pub mod notification;
pub mod payment;
pub mod registry;
pub mod support;

pub use error::{Error, Result};
pub use registry::{AnyWorker, WorkerKind, WorkersConfig};
