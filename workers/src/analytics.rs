//! The `analytics` worker: keeps read models in PostgreSQL that answer "how many orders are in
//! each status", "how much did we take per day and currency" and "how often does each payment
//! provider succeed". Tables come from `migrations/` (embedded at compile time, applied by
//! [`AnalyticsWorker::migrate`]); see `migrations/0002_analytics.sql` for the schema.
//!
//! What counts:
//! - **Status**: the newest `order.*` event of an order sets it (`created`, `paid`, `shipped`,
//!   `cancelled`). Newest means the highest version, where the version is `(occurred_at,
//!   event_id)`: times cut to microseconds, ties broken by the UUIDv7 id (which sorts by
//!   creation). A late, older event is recorded as processed but does not change the status.
//!   Payment events do not change an order's status.
//! - **Revenue**: `payment.captured` adds, `payment.refunded` subtracts, bucketed by the UTC day
//!   of the event's `occurred_at` and its currency. Captures, not `order.paid`, because a
//!   capture is the money actually taken and the refund names the same provider-side money;
//!   net = captured − refunded, both kept.
//! - **Success rate**: per provider, `payment.authorized` vs `payment.failed` events.
//!
//! Exactly once in effect: every event's id goes into `processed_events(consumer, event_id)` in
//! the same statement as its aggregate change (see [`store`]), so a redelivered, retried or
//! replayed event counts once. Sums and counts commute, so their order never matters; statuses
//! compare versions.
//!
//! Throughput: `handle` does not write by itself. It queues its event on a [`Batcher`]
//! and waits; `flushers` tasks each write whatever has queued (up to `batch_size`) in one
//! statement. Each flusher adds to its own counter shard so batches in flight never queue on
//! one hot row.
//!
//! Submodules: [`batch`] (group commit, also used by cache warming), `facts` (event → columns),
//! [`store`] (the batch statement and error split), [`queries`] (typed read helpers).

pub(crate) mod facts;
pub mod queries;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use events::Envelope;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use self::facts::Fact;
pub use self::queries::{DailyRevenue, OrderStatus, ProviderOutcomes, StatusCount};
use crate::error::{Error, Result};
use crate::support::batch::{BatchSettings, Batcher};
use crate::support::postgres::{connect_options, is_plain_identifier};
use consumers::runtime::{Context, Handler, HandlerError};

/// Settings of the analytics worker (`[groups.<name>.analytics]` once the daemon wires it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Name its rows in `processed_events` carry; two consumers with different names each
    /// count every event once.
    pub consumer: String,
    /// PostgreSQL schema to work in (created if missing, then the connections' `search_path`);
    /// `None`: the URL's default (`public`). Lets tests and tenants keep apart.
    pub schema: Option<String>,
    /// Most connections held.
    pub pool_size: u32,
    /// Batches written at once, each on its own connection and counter shard; at most
    /// `pool_size` (the rest of the pool serves queries). One is fastest measured with 16
    /// callers (`benches/workers.rs`): every caller's event then rides in one statement and
    /// one commit, whereas two writers halve the batches and commit separately.
    pub flushers: u16,
    /// Most events in one statement.
    pub batch_size: usize,
    /// How long a writer waits for a batch to fill after its first event, in microseconds;
    /// 0: write what has queued (batches still form while the writers are busy).
    pub linger_us: u64,
    /// Longest wait for a pooled connection before the event fails (retryably).
    pub acquire_timeout_ms: u64,
    /// Apply `migrations/` when connecting.
    pub migrate: bool,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            consumer: "analytics".into(),
            schema: None,
            pool_size: 8,
            flushers: 1,
            batch_size: 512,
            linger_us: 0,
            acquire_timeout_ms: 5_000,
            migrate: true,
        }
    }
}

impl AnalyticsConfig {
    /// Checks every key; `prefix` is where the settings sit in the config file.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, problem: &str| {
            Err(Error::Config(producers::Error::Config {
                key: format!("{prefix}.{key}"),
                problem: problem.to_owned(),
            }))
        };
        if self.consumer.is_empty() || self.consumer.len() > 200 {
            return bad("consumer", "must be 1 to 200 characters");
        }
        if let Some(schema) = &self.schema
            && !is_plain_identifier(schema)
        {
            return bad(
                "schema",
                "must be 1 to 63 of a-z, 0-9 and _, not starting with a digit",
            );
        }
        if !(1..=1_000).contains(&self.pool_size) {
            return bad("pool_size", "must be between 1 and 1000");
        }
        if self.flushers == 0 || u32::from(self.flushers) > self.pool_size {
            return bad("flushers", "must be between 1 and pool_size");
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return bad("batch_size", "must be between 1 and 10000");
        }
        if self.linger_us > 1_000_000 {
            return bad("linger_us", "must be at most 1000000 (1 s)");
        }
        if !(1..=600_000).contains(&self.acquire_timeout_ms) {
            return bad("acquire_timeout_ms", "must be between 1 and 600000");
        }
        Ok(())
    }
}

/// Counts orders, revenue and payment outcomes in PostgreSQL. See the module docs.
#[derive(Debug)]
pub struct AnalyticsWorker {
    pool: PgPool,
    batcher: Batcher<Fact>,
}

impl AnalyticsWorker {
    /// Connects to `url` (e.g. `postgres://user:pass@host/db`), creates `config.schema` if set,
    /// applies the migrations if `config.migrate`, and starts the batch writers on the current
    /// Tokio runtime.
    pub async fn connect(url: &str, config: AnalyticsConfig) -> Result<Self> {
        config.validate("analytics")?;
        let options = connect_options(url, "orderbus-analytics", config.schema.as_deref()).await?;
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            // A broken connection fails its statement (retryably) and is dropped; pinging
            // before every batch would cost a round trip each.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        if config.migrate {
            Self::migrate(&pool).await?;
        }
        Ok(Self::with_pool(pool, &config))
    }

    /// Applies `migrations/` (embedded at compile time) to the pool's database and schema.
    pub async fn migrate(pool: &PgPool) -> Result<()> {
        crate::support::postgres::migrate(pool).await
    }

    /// A worker over an existing pool whose schema is already migrated.
    pub fn with_pool(pool: PgPool, config: &AnalyticsConfig) -> Self {
        let consumer: Arc<str> = config.consumer.as_str().into();
        let flushers = (0..config.flushers.max(1))
            .map(|slot| store::PgFlusher {
                pool: pool.clone(),
                consumer: consumer.clone(),
                // Validation keeps flushers far below i16::MAX.
                shard: i16::try_from(slot).unwrap_or(i16::MAX),
            })
            .collect();
        let settings = BatchSettings {
            max_batch: config.batch_size,
            linger: Duration::from_micros(config.linger_us),
        };
        Self {
            pool,
            batcher: Batcher::spawn("analytics", flushers, settings),
        }
    }

    /// The pool, for ad-hoc queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// See [`queries::orders_per_status`].
    pub async fn orders_per_status(&self) -> Result<Vec<StatusCount>> {
        queries::orders_per_status(&self.pool).await
    }

    /// See [`queries::order_status`].
    pub async fn order_status(&self, order_id: &str) -> Result<Option<OrderStatus>> {
        queries::order_status(&self.pool, order_id).await
    }

    /// See [`queries::revenue_per_day`].
    pub async fn revenue_per_day(&self) -> Result<Vec<DailyRevenue>> {
        queries::revenue_per_day(&self.pool).await
    }

    /// See [`queries::payment_success_rate`].
    pub async fn payment_success_rate(&self) -> Result<Vec<ProviderOutcomes>> {
        queries::payment_success_rate(&self.pool).await
    }
}

impl Handler for AnalyticsWorker {
    fn name(&self) -> &str {
        "analytics"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let fact = Fact::of(event)?;
        tokio::select! {
            outcome = self.batcher.submit(fact) => outcome,
            // Past the drain deadline: give up waiting; the event is redelivered later and the
            // dedup row makes that safe whether or not this batch commits.
            () = ctx.cancel.cancelled() => Err(HandlerError::retryable("shutting down")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        AnalyticsConfig::default().validate("a").expect("valid");
        let key = |c: AnalyticsConfig| match c.validate("a") {
            Err(Error::Config(producers::Error::Config { key, .. })) => key,
            other => panic!("{other:?}"),
        };
        let schema = |s: &str| AnalyticsConfig {
            schema: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(key(schema("x; DROP TABLE y")), "a.schema");
        assert_eq!(key(schema("1abc")), "a.schema");
        assert_eq!(key(schema("Upper")), "a.schema");
        schema("t_0123abc").validate("a").expect("plain name");
        let flushers = AnalyticsConfig {
            flushers: 9,
            pool_size: 8,
            ..Default::default()
        };
        assert_eq!(key(flushers), "a.flushers");
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_ones_default() {
        let c: AnalyticsConfig =
            serde_json::from_str(r#"{"batch_size": 64}"#).expect("partial config");
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.consumer, "analytics");
        let err =
            serde_json::from_str::<AnalyticsConfig>(r#"{"batch": 64}"#).expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
