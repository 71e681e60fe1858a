//! Unique names, so tests run in parallel and against a broker that earlier runs used.

/// A name no other test (or earlier run) uses: `prefix` and a random suffix.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
