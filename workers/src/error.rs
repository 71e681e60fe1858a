//! The one error type of the workers crate: starting a worker (config, connecting its store,
//! loading templates) and the store queries the demo and tests read results with. Failures while
//! handling an event are not errors of this kind: a handler returns the runtime's
//! `HandlerError`, retryable or permanent.

/// What can go wrong starting or querying a worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration, naming the key.
    #[error(transparent)]
    Config(#[from] producers::Error),
    /// A PostgreSQL error (connecting, querying) from a worker that keeps its state there.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// Applying the crate's `migrations/` failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A Redis command failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No Redis connection could be had from the pool (or the pool could not be built).
    #[error("redis pool: {0}")]
    RedisPool(String),
}

/// `Result` with the workers crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
