//! The `cache-warming` worker: keeps each order's newest known state in Redis, so services read
//! an order without asking its owner. The entry is a hash at `{key_prefix}{order_id}`
//! (`order:ord_00000042` by default) with `status`, `amount_minor`, `currency`,
//! `payment_status`, `payment_id`, `provider`, `carrier`, `tracking_number`, and `version`,
//! `updated_at` (the newest applied event's `occurred_at`, RFC 3339), `event_id`, `event_type`;
//! it expires `ttl_secs` after its last change.
//!
//! Never backwards: a Lua script applies each event with compare-and-set on versions (see
//! [`update`] for the version format and the per-field-group rule), so replays, retries and
//! events arriving out of order leave every field as the newest event carrying it said. The
//! script is loaded once at connect and called with `EVALSHA` (see `flush` for the `NOSCRIPT`
//! fallback).
//!
//! Throughput: like analytics, `handle` queues its update on a batcher
//! ([`crate::support::batch`]) and `flushers` tasks send whatever has queued as one
//! pipeline.

mod flush;
pub mod update;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use events::Envelope;
use redis::Script;
use serde::{Deserialize, Serialize};

use self::flush::RedisFlusher;
use self::update::{SCRIPT, Update};
use crate::error::{Error, Result};
use crate::support::batch::{BatchSettings, Batcher};
use consumers::runtime::{Context, Handler, HandlerError};

/// Settings of the cache-warming worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheWarmingConfig {
    /// Put before the order id to make the key.
    pub key_prefix: String,
    /// Seconds an entry lives after its last change.
    pub ttl_secs: u64,
    /// Most Redis connections held.
    pub pool_size: usize,
    /// Pipelines in flight at once, each on a connection it keeps; below `pool_size` (the rest
    /// of the pool serves reads).
    pub flushers: usize,
    /// Most events in one pipeline.
    pub batch_size: usize,
    /// How long a writer waits for a batch to fill after its first event, in microseconds;
    /// 0: send what has queued.
    pub linger_us: u64,
    /// Longest wait for a pooled connection (or a new one) before the event fails retryably.
    pub timeout_ms: u64,
}

impl Default for CacheWarmingConfig {
    fn default() -> Self {
        Self {
            key_prefix: "order:".into(),
            ttl_secs: 86_400,
            pool_size: 8,
            flushers: 4,
            batch_size: 512,
            linger_us: 0,
            timeout_ms: 5_000,
        }
    }
}

impl CacheWarmingConfig {
    /// Checks every key; `prefix` is where the settings sit in the config file.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, problem: &str| {
            Err(Error::Config(producers::Error::Config {
                key: format!("{prefix}.{key}"),
                problem: problem.to_owned(),
            }))
        };
        if self.key_prefix.len() > 200 {
            return bad("key_prefix", "must be at most 200 bytes");
        }
        if !(1..=31_536_000 * 10).contains(&self.ttl_secs) {
            return bad("ttl_secs", "must be between 1 and 315360000 (10 years)");
        }
        if !(2..=1_000).contains(&self.pool_size) {
            return bad("pool_size", "must be between 2 and 1000");
        }
        if self.flushers == 0 || self.flushers >= self.pool_size {
            return bad("flushers", "must be at least 1 and below pool_size");
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return bad("batch_size", "must be between 1 and 10000");
        }
        if self.linger_us > 1_000_000 {
            return bad("linger_us", "must be at most 1000000 (1 s)");
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return bad("timeout_ms", "must be between 1 and 600000");
        }
        Ok(())
    }
}

/// An order's cache entry as read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CachedOrder {
    /// Every field of the hash, including the per-group `*_version` fields.
    pub fields: HashMap<String, String>,
    /// Seconds left to live; `None` when the entry has no expiry.
    pub ttl_secs: Option<u64>,
}

impl CachedOrder {
    /// One field, e.g. `status`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// Keeps order state in Redis. See the module docs.
#[derive(Debug)]
pub struct CacheWarmingWorker {
    pool: Pool,
    key_prefix: String,
    batcher: Batcher<Update>,
}

impl CacheWarmingWorker {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`), loads the script, and starts the
    /// pipeline writers on the current Tokio runtime.
    pub async fn connect(url: &str, config: CacheWarmingConfig) -> Result<Self> {
        config.validate("cache_warming")?;
        let timeout = Some(Duration::from_millis(config.timeout_ms));
        let mut pool_config = deadpool_redis::Config::from_url(url);
        pool_config.pool = Some(PoolConfig {
            max_size: config.pool_size,
            timeouts: Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            },
            ..PoolConfig::default()
        });
        let pool = pool_config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| Error::RedisPool(e.to_string()))?;
        let script = Arc::new(Script::new(SCRIPT));
        {
            let mut conn = pool
                .get()
                .await
                .map_err(|e| Error::RedisPool(e.to_string()))?;
            script.load_async(&mut conn).await?;
        }
        let body: Arc<str> = SCRIPT.into();
        let flushers = (0..config.flushers)
            .map(|_| RedisFlusher {
                pool: pool.clone(),
                conn: None,
                script: script.clone(),
                script_body: body.clone(),
                ttl_secs: config.ttl_secs,
            })
            .collect();
        let settings = BatchSettings {
            max_batch: config.batch_size,
            linger: Duration::from_micros(config.linger_us),
        };
        Ok(Self {
            pool,
            key_prefix: config.key_prefix,
            batcher: Batcher::spawn("cache_warming", flushers, settings),
        })
    }

    /// The pool, for ad-hoc commands.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The key of an order's entry.
    pub fn key(&self, order_id: &str) -> String {
        format!("{}{order_id}", self.key_prefix)
    }

    /// An order's entry, if there is one.
    pub async fn entry(&self, order_id: &str) -> Result<Option<CachedOrder>> {
        let key = self.key(order_id);
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| Error::RedisPool(e.to_string()))?;
        let (fields, ttl): (HashMap<String, String>, i64) = redis::pipe()
            .hgetall(&key)
            .ttl(&key)
            .query_async(&mut conn)
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(CachedOrder {
            fields,
            // TTL answers -1 for "no expiry" (and -2 for "no key", raced with expiry).
            ttl_secs: u64::try_from(ttl).ok(),
        }))
    }
}

impl Handler for CacheWarmingWorker {
    fn name(&self) -> &str {
        "cache-warming"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let update = Update::of(event, &self.key_prefix)?;
        tokio::select! {
            outcome = self.batcher.submit(update) => outcome,
            // Past the drain deadline: the event comes back later, and applying it twice is a
            // no-op, so giving up here is safe.
            () = ctx.cancel.cancelled() => Err(HandlerError::retryable("shutting down")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        CacheWarmingConfig::default().validate("c").expect("valid");
        let key = |c: CacheWarmingConfig| match c.validate("c") {
            Err(Error::Config(producers::Error::Config { key, .. })) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            key(CacheWarmingConfig {
                ttl_secs: 0,
                ..Default::default()
            }),
            "c.ttl_secs"
        );
        assert_eq!(
            key(CacheWarmingConfig {
                flushers: 8,
                pool_size: 8,
                ..Default::default()
            }),
            "c.flushers"
        );
        let err =
            serde_json::from_str::<CacheWarmingConfig>(r#"{"ttl": 5}"#).expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
        let c: CacheWarmingConfig =
            serde_json::from_str(r#"{"key_prefix": "t:"}"#).expect("partial");
        assert_eq!((c.key_prefix.as_str(), c.ttl_secs), ("t:", 86_400));
    }
}
