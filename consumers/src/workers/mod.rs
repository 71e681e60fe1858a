//! The handlers consumer groups run. So far [`log::LogWorker`], for local runs and smoke tests;
//! notification, analytics, cache warming and payment join here with the adapters.

pub mod log;

/// Worker names a group's `worker` key accepts.
pub const KNOWN: &[&str] = &["log"];
