//! Choosing a worker by the name a group's `worker` key gives: [`WorkerKind`] is that name (an
//! unknown one fails when the config is read, naming the key), [`WorkersConfig`] holds what the
//! workers need to start (service URLs, per-worker settings; the `[workers]` section of the
//! config file), and [`AnyWorker`] is one handler type over all of them, so the daemon and
//! `orderbus replay` run any worker on the same generic runtime.

use adapters::email::EmailConfig;
use adapters::payment::PaymentConfig;
use adapters::sms::SmsConfig;
use events::{Envelope, Secret};
use producers::{EventProducer, PaymentProducer};
use serde::{Deserialize, Serialize};

use crate::analytics::{AnalyticsConfig, AnalyticsWorker};
use crate::cache_warming::{CacheWarmingConfig, CacheWarmingWorker};
use crate::error::{Error, Result};
use crate::log::LogWorker;
use crate::notification::{NotificationConfig, NotificationWorker, Senders};
use crate::payment::{PaymentWorker, PaymentWorkerConfig};
use consumers::runtime::{Context, Handler, HandlerError};

/// The handler a group runs: its `worker` key (`worker = "cache-warming"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    /// [`LogWorker`]: logs each event.
    #[default]
    Log,
    /// [`AnalyticsWorker`].
    Analytics,
    /// [`CacheWarmingWorker`].
    CacheWarming,
    /// [`NotificationWorker`].
    Notification,
    /// [`PaymentWorker`].
    Payment,
}

impl WorkerKind {
    /// Every worker.
    pub const ALL: [WorkerKind; 5] = [
        WorkerKind::Log,
        WorkerKind::Analytics,
        WorkerKind::CacheWarming,
        WorkerKind::Notification,
        WorkerKind::Payment,
    ];

    /// The name the config and the CLI use.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Log => "log",
            WorkerKind::Analytics => "analytics",
            WorkerKind::CacheWarming => "cache-warming",
            WorkerKind::Notification => "notification",
            WorkerKind::Payment => "payment",
        }
    }
}

impl std::fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WorkerKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        WorkerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = WorkerKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown worker `{s}` (known: {})", known.join(", "))
            })
    }
}

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
    /// `[workers.notification]`.
    pub notification: NotificationConfig,
    /// `[workers.payment]`.
    pub payment: PaymentWorkerConfig,
    /// `[workers.sms]`: the SMS provider (`provider = "twilio" | "aliyun" | "log"`).
    pub sms: Option<SmsConfig>,
    /// `[workers.email]`: the e-mail provider (`provider = "sendgrid" | "smtp" | "log"`).
    pub email: Option<EmailConfig>,
    /// `[workers.payment_gateway]`: the payment provider (`provider = "stripe" | "log"`).
    pub payment_gateway: Option<PaymentConfig>,
}

/// An adapters config error as this crate's, its field under `workers.`.
fn adapter_config(e: adapters::Error) -> Error {
    match e {
        adapters::Error::Config { field, reason } => Error::Config(producers::Error::Config {
            key: format!("workers.{field}"),
            problem: reason,
        }),
        other => Error::Config(producers::Error::Config {
            key: "workers".into(),
            problem: other.to_string(),
        }),
    }
}

impl WorkersConfig {
    /// Checks every key; the error names it (`workers.analytics.pool_size`).
    pub fn validate(&self) -> Result<()> {
        self.analytics.validate("workers.analytics")?;
        self.cache_warming.validate("workers.cache_warming")?;
        self.notification.validate("workers.notification")?;
        self.payment.validate("workers.payment")?;
        let resilience = [
            self.sms.as_ref().map(|c| ("sms", c.resilience())),
            self.email.as_ref().map(|c| ("email", c.resilience())),
            self.payment_gateway
                .as_ref()
                .map(|c| ("payment_gateway", c.resilience())),
        ];
        for (key, r) in resilience.into_iter().flatten() {
            r.validate(&format!("{key}.resilience."))
                .map_err(adapter_config)?;
        }
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

    /// Starts the worker `kind`, connecting to what it needs. `producer` is what the payment
    /// worker publishes its outcomes with (the group's own producer); the others ignore it.
    pub async fn build(
        &self,
        kind: WorkerKind,
        producer: Option<&EventProducer>,
    ) -> Result<AnyWorker> {
        let name = kind.as_str();
        let url = |value: &Option<Secret>, key: &str, env: &str| {
            value.clone().ok_or_else(|| {
                Error::Config(producers::Error::Config {
                    key: format!("workers.{key}"),
                    problem: format!("the `{name}` worker needs it (or {env})"),
                })
            })
        };
        Ok(match kind {
            WorkerKind::Log => AnyWorker::Log(LogWorker),
            WorkerKind::Analytics => {
                let url = url(&self.database_url, "database_url", "DATABASE_URL")?;
                AnyWorker::Analytics(
                    AnalyticsWorker::connect(url.expose(), self.analytics.clone()).await?,
                )
            }
            WorkerKind::CacheWarming => {
                let url = url(&self.redis_url, "redis_url", "REDIS_URL")?;
                AnyWorker::CacheWarming(
                    CacheWarmingWorker::connect(url.expose(), self.cache_warming.clone()).await?,
                )
            }
            WorkerKind::Notification => {
                let url = url(&self.database_url, "database_url", "DATABASE_URL")?;
                let senders = Senders {
                    sms: self
                        .sms
                        .as_ref()
                        .map(SmsConfig::build)
                        .transpose()
                        .map_err(adapter_config)?,
                    email: self
                        .email
                        .as_ref()
                        .map(EmailConfig::build)
                        .transpose()
                        .map_err(adapter_config)?,
                };
                AnyWorker::Notification(
                    NotificationWorker::connect(url.expose(), self.notification.clone(), senders)
                        .await?,
                )
            }
            WorkerKind::Payment => {
                let gateway = self.payment_gateway.as_ref().ok_or_else(|| {
                    Error::Config(producers::Error::Config {
                        key: "workers.payment_gateway".into(),
                        problem:
                            "the `payment` worker needs a gateway (provider = \"log\" only logs)"
                                .into(),
                    })
                })?;
                let producer = producer.ok_or_else(|| {
                    Error::Config(producers::Error::Config {
                        key: "producer".into(),
                        problem: "the `payment` worker publishes its outcomes and needs a producer"
                            .into(),
                    })
                })?;
                AnyWorker::Payment(PaymentWorker::new(
                    gateway.build().map_err(adapter_config)?,
                    PaymentProducer::new(producer.clone()),
                    self.payment.clone(),
                )?)
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
    /// [`NotificationWorker`].
    Notification(NotificationWorker),
    /// [`PaymentWorker`].
    Payment(PaymentWorker),
}

impl Handler for AnyWorker {
    fn name(&self) -> &str {
        match self {
            AnyWorker::Log(w) => w.name(),
            AnyWorker::Analytics(w) => w.name(),
            AnyWorker::CacheWarming(w) => w.name(),
            AnyWorker::Notification(w) => w.name(),
            AnyWorker::Payment(w) => w.name(),
        }
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        match self {
            AnyWorker::Log(w) => w.handle(event, ctx).await,
            AnyWorker::Analytics(w) => w.handle(event, ctx).await,
            AnyWorker::CacheWarming(w) => w.handle(event, ctx).await,
            AnyWorker::Notification(w) => w.handle(event, ctx).await,
            AnyWorker::Payment(w) => w.handle(event, ctx).await,
        }
    }
}
