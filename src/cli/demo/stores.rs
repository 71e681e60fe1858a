//! Where the demo's workers keep their state: the real PostgreSQL and Redis when
//! `DATABASE_URL` / `REDIS_URL` (or `[workers]`) answer, in a schema and key prefix of the run's
//! own, otherwise the in-memory stand-ins from `workers::embedded`. Each choice is
//! printed with its reason.

use std::sync::Arc;

use adapters::email::{EmailConfig, LogEmailConfig};
use adapters::sms::{LogSmsConfig, SmsConfig};
use consumers::runtime::{Context, Handler, HandlerError};
use events::Envelope;
use workers::analytics::{
    AnalyticsConfig, AnalyticsWorker, DailyRevenue, ProviderOutcomes, StatusCount,
};
use workers::cache_warming::{CacheWarmingConfig, CacheWarmingWorker, CachedOrder};
use workers::embedded::{MemoryAnalytics, MemoryCache, MemoryNotification};
use workers::notification::{NotificationConfig, NotificationWorker, Senders};

use crate::config::Config;

/// One of two implementations of a worker, chosen at start.
pub enum Either<R, M> {
    /// Backed by the real service.
    Real(R),
    /// In memory.
    Memory(M),
}

impl<R: Handler, M: Handler> Handler for Either<R, M> {
    fn name(&self) -> &str {
        match self {
            Either::Real(r) => r.name(),
            Either::Memory(m) => m.name(),
        }
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        match self {
            Either::Real(r) => r.handle(event, ctx).await,
            Either::Memory(m) => m.handle(event, ctx).await,
        }
    }
}

pub type Analytics = Either<AnalyticsWorker, MemoryAnalytics>;
pub type Cache = Either<CacheWarmingWorker, MemoryCache>;
pub type Notification = Either<NotificationWorker, MemoryNotification>;

/// The demo's stores.
pub struct Stores {
    pub analytics: Arc<Analytics>,
    pub cache: Arc<Cache>,
    pub notification: Arc<Notification>,
    /// The PostgreSQL schema made for this run, dropped by [`Stores::clean_up`].
    schema: Option<String>,
}

/// `log` providers for both channels: what would be sent is logged and recorded.
fn log_senders() -> anyhow::Result<Senders> {
    Ok(Senders {
        sms: Some(SmsConfig::Log(LogSmsConfig::default()).build()?),
        email: Some(EmailConfig::Log(LogEmailConfig::default()).build()?),
    })
}

impl Stores {
    /// Connects to what answers, falling back to memory, and says which.
    pub async fn open(config: &Config, run_id: &str) -> anyhow::Result<Self> {
        let workers = config.workers.clone().with_env_defaults();
        let schema = format!("demo_{run_id}");
        let mut made_schema = None;
        let (analytics, notification) = match &workers.database_url {
            Some(url) => {
                let analytics = AnalyticsWorker::connect(
                    url.expose(),
                    AnalyticsConfig {
                        schema: Some(schema.clone()),
                        acquire_timeout_ms: 3_000,
                        ..workers.analytics.clone()
                    },
                )
                .await;
                match analytics {
                    Ok(a) => {
                        made_schema = Some(schema.clone());
                        let n = NotificationWorker::connect(
                            url.expose(),
                            NotificationConfig {
                                schema: Some(schema.clone()),
                                ..workers.notification.clone()
                            },
                            log_senders()?,
                        )
                        .await?;
                        println!(
                            "PostgreSQL: answers (DATABASE_URL); analytics and notification dedup in schema {schema}, dropped at the end"
                        );
                        (Either::Real(a), Either::Real(n))
                    }
                    Err(e) => {
                        println!(
                            "PostgreSQL: does not answer ({e}); analytics and notification dedup in memory"
                        );
                        Self::memory_pg()?
                    }
                }
            }
            None => {
                println!(
                    "PostgreSQL: DATABASE_URL not set; analytics and notification dedup in memory"
                );
                Self::memory_pg()?
            }
        };
        let prefix = format!("demo:{run_id}:order:");
        let cache = match &workers.redis_url {
            Some(url) => {
                let settings = CacheWarmingConfig {
                    key_prefix: prefix.clone(),
                    ttl_secs: 3_600,
                    timeout_ms: 3_000,
                    ..workers.cache_warming.clone()
                };
                match CacheWarmingWorker::connect(url.expose(), settings).await {
                    Ok(c) => {
                        println!(
                            "Redis: answers (REDIS_URL); order cache under {prefix}* (expires in an hour)"
                        );
                        Either::Real(c)
                    }
                    Err(e) => {
                        println!("Redis: does not answer ({e}); order cache in memory");
                        Either::Memory(MemoryCache::default())
                    }
                }
            }
            None => {
                println!("Redis: REDIS_URL not set; order cache in memory");
                Either::Memory(MemoryCache::default())
            }
        };
        Ok(Self {
            analytics: Arc::new(analytics),
            cache: Arc::new(cache),
            notification: Arc::new(notification),
            schema: made_schema,
        })
    }

    fn memory_pg() -> anyhow::Result<(Analytics, Notification)> {
        Ok((
            Either::Memory(MemoryAnalytics::default()),
            Either::Memory(MemoryNotification::new(log_senders()?)?),
        ))
    }

    pub async fn statuses(&self) -> anyhow::Result<Vec<StatusCount>> {
        Ok(match &*self.analytics {
            Either::Real(a) => a.orders_per_status().await?,
            Either::Memory(m) => m.orders_per_status(),
        })
    }

    pub async fn revenue(&self) -> anyhow::Result<Vec<DailyRevenue>> {
        Ok(match &*self.analytics {
            Either::Real(a) => a.revenue_per_day().await?,
            Either::Memory(m) => m.revenue_per_day(),
        })
    }

    pub async fn providers(&self) -> anyhow::Result<Vec<ProviderOutcomes>> {
        Ok(match &*self.analytics {
            Either::Real(a) => a.payment_success_rate().await?,
            Either::Memory(m) => m.payment_success_rate(),
        })
    }

    pub async fn sent_per_channel(&self) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(match &*self.notification {
            Either::Real(n) => n.dedup().sent_per_channel().await?,
            Either::Memory(m) => m.sent_per_channel(),
        })
    }

    pub async fn cached(&self, order_id: &str) -> anyhow::Result<Option<CachedOrder>> {
        Ok(match &*self.cache {
            Either::Real(c) => c.entry(order_id).await?,
            Either::Memory(m) => m.entry(order_id),
        })
    }

    /// Drops the run's PostgreSQL schema (cache keys expire by themselves).
    pub async fn clean_up(&self) -> anyhow::Result<()> {
        if let (Some(schema), Either::Real(a)) = (&self.schema, &*self.analytics) {
            workers::support::postgres::drop_schema(a.pool(), schema).await?;
        }
        Ok(())
    }
}
