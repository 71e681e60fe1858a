//! The log e-mail provider: sends nothing, logs a line and keeps a bounded record, for the
//! demo, tests and environments without a mail account.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::email::{Email, EmailReceipt, EmailSender};
use crate::error::Result;
use crate::record::Recorder;
use crate::resilience::ResilienceConfig;

/// `provider = "log"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogEmailConfig {
    /// Messages kept in memory (the newest).
    pub keep: usize,
    /// Resilience (the log provider goes through the same wrapper as real ones).
    pub resilience: ResilienceConfig,
}

impl Default for LogEmailConfig {
    fn default() -> Self {
        Self {
            keep: 1_000,
            resilience: ResilienceConfig::default(),
        }
    }
}

/// Records e-mails instead of sending them.
#[derive(Debug)]
pub struct LogEmail {
    record: Recorder<Email>,
    next_id: AtomicU64,
}

impl LogEmail {
    /// A log provider keeping `cfg.keep` messages.
    pub fn new(cfg: &LogEmailConfig) -> Self {
        Self {
            record: Recorder::new(cfg.keep),
            next_id: AtomicU64::new(1),
        }
    }

    /// What would have been sent.
    pub fn record(&self) -> &Recorder<Email> {
        &self.record
    }
}

impl EmailSender for LogEmail {
    fn provider(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        Box::pin(async move {
            let id = format!("log-email-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
            tracing::info!(
                provider = "log",
                reference = %email.reference,
                subject = %email.subject,
                %id,
                "would send email"
            );
            self.record.push(email.clone());
            Ok(EmailReceipt {
                provider: "log",
                id,
            })
        })
    }
}
