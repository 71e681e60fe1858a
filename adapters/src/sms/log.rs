//! The log SMS provider: sends nothing, logs a line and keeps a bounded record, for the demo,
//! tests and environments without an SMS account.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::record::Recorder;
use crate::resilience::ResilienceConfig;
use crate::sms::{Sms, SmsReceipt, SmsSender, masked};

/// `provider = "log"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSmsConfig {
    /// Messages kept in memory (the newest).
    pub keep: usize,
    /// Resilience (the log provider goes through the same wrapper as real ones).
    pub resilience: ResilienceConfig,
}

impl Default for LogSmsConfig {
    fn default() -> Self {
        Self {
            keep: 1_000,
            resilience: ResilienceConfig::default(),
        }
    }
}

/// Records messages instead of sending them.
#[derive(Debug)]
pub struct LogSms {
    record: Recorder<Sms>,
    next_id: AtomicU64,
}

impl LogSms {
    /// A log provider keeping `cfg.keep` messages.
    pub fn new(cfg: &LogSmsConfig) -> Self {
        Self {
            record: Recorder::new(cfg.keep),
            next_id: AtomicU64::new(1),
        }
    }

    /// What would have been sent.
    pub fn record(&self) -> &Recorder<Sms> {
        &self.record
    }
}

impl SmsSender for LogSms {
    fn provider(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        Box::pin(async move {
            let id = format!("log-sms-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
            tracing::info!(
                provider = "log",
                to = %masked(&sms.to),
                reference = %sms.reference,
                chars = sms.body.chars().count(),
                %id,
                "would send sms"
            );
            self.record.push(sms.clone());
            Ok(SmsReceipt {
                provider: "log",
                id,
            })
        })
    }
}
