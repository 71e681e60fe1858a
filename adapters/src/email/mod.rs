//! E-mail: the [`EmailSender`] trait workers call, the message type, the config that picks a
//! provider ([`sendgrid`], [`smtp`] or [`log`]), and [`ResilientEmail`], the provider with
//! resilience around it that the config builds.

pub mod log;
pub mod sendgrid;
pub mod smtp;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::Kind;
use crate::resilience::{Resilience, ResilienceConfig};
use crate::resilient::Resilient;

pub use log::{LogEmail, LogEmailConfig};
pub use sendgrid::{SendgridConfig, SendgridEmail};
pub use smtp::{SmtpConfig, SmtpEmail, SmtpSecurity};

/// One plain-text e-mail; the sender comes from the provider's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Recipient display name.
    pub to_name: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Our reference (the event id), passed on where the provider keeps one.
    pub reference: String,
}

/// The provider's acceptance of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailReceipt {
    /// Which provider took it.
    pub provider: &'static str,
    /// The provider's id (SendGrid `X-Message-Id`, the SMTP server's final reply).
    pub id: String,
}

/// Sends e-mail. Object-safe: workers hold `Arc<dyn EmailSender>`.
pub trait EmailSender: Send + Sync + fmt::Debug {
    /// Provider name for logs and metrics.
    fn provider(&self) -> &'static str;

    /// Sends one message; one attempt, no retry (the resilience wrapper retries).
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>>;
}

/// What workers hold: any e-mail provider with resilience around it.
pub type ResilientEmail = Resilient<Arc<dyn EmailSender>>;

/// Lets a shared provider (`Arc<dyn EmailSender>`, or a concrete one kept for its record) be
/// wrapped.
impl<T: EmailSender + ?Sized> EmailSender for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        (**self).send(email)
    }
}

impl<S: EmailSender> EmailSender for Resilient<S> {
    fn provider(&self) -> &'static str {
        self.inner().provider()
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        self.call(move |inner| inner.send(email))
    }
}

/// `[email]` config: the provider and its settings, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum EmailConfig {
    /// SendGrid v3 Mail Send.
    Sendgrid(SendgridConfig),
    /// Any SMTP relay.
    Smtp(SmtpConfig),
    /// Log what would be sent; keep a record.
    Log(LogEmailConfig),
}

impl EmailConfig {
    /// The resilience settings of the chosen provider.
    pub fn resilience(&self) -> &ResilienceConfig {
        match self {
            Self::Sendgrid(c) => &c.resilience,
            Self::Smtp(c) => &c.resilience,
            Self::Log(c) => &c.resilience,
        }
    }

    /// Builds the provider with resilience around it. Errors name the bad field.
    pub fn build(&self) -> Result<ResilientEmail> {
        let build = || {
            let resilience = self.resilience();
            let timeout = resilience.attempt_timeout();
            let inner: Arc<dyn EmailSender> = match self {
                Self::Sendgrid(c) => Arc::new(SendgridEmail::new(c, timeout)?),
                Self::Smtp(c) => Arc::new(SmtpEmail::new(c, timeout)?),
                Self::Log(c) => Arc::new(LogEmail::new(c)),
            };
            let policy = Resilience::new(inner.provider(), resilience)?;
            Ok(Resilient::new(Kind::Email, inner, Arc::new(policy)))
        };
        build().map_err(|e: Error| e.prefixed("email."))
    }
}
