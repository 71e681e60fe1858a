//! Choosing a worker by the name a group's `worker` key gives: [`WorkersConfig`] holds what the
//! workers need to start (service URLs, per-worker settings; the `[workers]` section of the
//! config file), and [`AnyWorker`] is one handler type over all of them, so the daemon and
//! `orderbus replay` run any worker on the same generic runtime.

use events::{Envelope, Secret};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::{Context, Handler, HandlerError};
use crate::workers::analytics::{AnalyticsConfig, AnalyticsWorker};
use crate::workers::cache_warming::{CacheWarmingConfig, CacheWarmingWorker};
use crate::workers::log::LogWorker;

/// Worker names a group's `worker` key accepts.
pub const KNOWN: &[&str] = &["log", "analytics", "cache-warming"];

/// `[workers]`: where the workers' stores are and how each worker behaves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// PostgreSQL for analytics (and dedup); `DATABASE_URL` when unset. A secret: URLs carry
    /// passwords.
    pub database_url: Option<Secret>,
    /// Redis for cache warming; `REDIS_URL` when unset.
    pub redis_url: Option<Secret>,
    /// `[workers.analytics]`.
    pub analytics: AnalyticsConfig,
    /// `[workers.cache_warming]`.
    pub cache_warming: CacheWarmingConfig,
}

impl WorkersConfig {
    /// Checks every key; the error names it (`workers.analytics.pool_size`).
    pub fn validate(&self) -> Result<()> {
        self.analytics.validate("workers.analytics")?;
        self.cache_warming.validate("workers.cache_warming")?;
        Ok(())
    }

    /// Fills unset URLs from `DATABASE_URL` and `REDIS_URL`, the variables every tool reads.
    pub fn with_env_defaults(mut self) -> Self {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if self.database_url.is_none() {
            self.database_url = from_env("DATABASE_URL").map(Secret::new);
        }
        if self.redis_url.is_none() {
            self.redis_url = from_env("REDIS_URL").map(Secret::new);
        }
        self
    }

    /// Starts the worker called `name`, connecting to what it needs.
    pub async fn build(&self, name: &str) -> Result<AnyWorker> {
        let url = |value: &Option<Secret>, key: &str, env: &str| {
            value.clone().ok_or_else(|| {
                Error::Config(producers::Error::Config {
                    key: format!("workers.{key}"),
                    problem: format!("the `{name}` worker needs it (or {env})"),
                })
            })
        };
        Ok(match name {
            "log" => AnyWorker::Log(LogWorker),
            "analytics" => {
                let url = url(&self.database_url, "database_url", "DATABASE_URL")?;
                AnyWorker::Analytics(
                    AnalyticsWorker::connect(url.expose(), self.analytics.clone()).await?,
                )
            }
            "cache-warming" => {
                let url = url(&self.redis_url, "redis_url", "REDIS_URL")?;
                AnyWorker::CacheWarming(
                    CacheWarmingWorker::connect(url.expose(), self.cache_warming.clone()).await?,
                )
            }
            other => {
                return Err(Error::Config(producers::Error::Config {
                    key: "worker".into(),
                    problem: format!("unknown worker `{other}` (known: {})", KNOWN.join(", ")),
                }));
            }
        })
    }
}

/// Any worker, as one [`Handler`] type.
#[derive(Debug)]
pub enum AnyWorker {
    /// [`LogWorker`].
    Log(LogWorker),
    /// [`AnalyticsWorker`].
    Analytics(AnalyticsWorker),
    /// [`CacheWarmingWorker`].
    CacheWarming(CacheWarmingWorker),
}

impl Handler for AnyWorker {
    fn name(&self) -> &str {
        match self {
            AnyWorker::Log(w) => w.name(),
            AnyWorker::Analytics(w) => w.name(),
            AnyWorker::CacheWarming(w) => w.name(),
        }
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        match self {
            AnyWorker::Log(w) => w.handle(event, ctx).await,
            AnyWorker::Analytics(w) => w.handle(event, ctx).await,
            AnyWorker::CacheWarming(w) => w.handle(event, ctx).await,
        }
    }
}
