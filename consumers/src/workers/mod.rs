//! The handlers consumer groups run: [`log::LogWorker`], for local runs and smoke tests;
//! [`analytics::AnalyticsWorker`], read models in PostgreSQL (orders per status, revenue per
//! day, payment success per provider); [`cache_warming::CacheWarmingWorker`], each order's
//! newest state in Redis; [`notification::NotificationWorker`], SMS and e-mail to customers, at
//! most once per event and channel; [`payment::PaymentWorker`], charges new orders through the
//! payment gateway and publishes the outcome. [`registry`] picks one by name ([`AnyWorker`]) from
//! [`WorkersConfig`]. [`embedded`] holds in-memory stand-ins for the stores, for the demo.

pub mod analytics;
pub mod cache_warming;
pub mod embedded;
pub mod log;
pub mod notification;
pub mod payment;
pub mod registry;

pub use registry::{AnyWorker, KNOWN, WorkersConfig};
