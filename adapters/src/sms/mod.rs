//! Text messages: the [`SmsSender`] trait workers call, the message types, the config that
//! picks a provider ([`twilio`], [`aliyun`] or [`log`]), and [`ResilientSms`], the provider with
//! resilience around it that the config builds.

pub mod aliyun;
pub mod log;
pub mod twilio;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::Kind;
use crate::resilience::{Resilience, ResilienceConfig};
use crate::resilient::Resilient;

pub use aliyun::{AliyunConfig, AliyunSms};
pub use log::{LogSms, LogSmsConfig};
pub use twilio::{TwilioConfig, TwilioSms};

/// A provider template (Aliyun sends only registered templates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsTemplate {
    /// The provider's template code (`SMS_71390007`).
    pub code: String,
    /// Values for the template's variables.
    pub params: BTreeMap<String, String>,
}

/// One text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    /// Recipient, E.164 (`+14155550100`).
    pub to: String,
    /// Text for providers that send free text (Twilio); the fallback template variable for the
    /// others.
    pub body: String,
    /// Template for providers that need one; without it Aliyun uses its configured template.
    pub template: Option<SmsTemplate>,
    /// Our reference (the event id), passed on where the provider keeps one (Aliyun `OutId`).
    pub reference: String,
}

/// The provider's acceptance of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipt {
    /// Which provider took it.
    pub provider: &'static str,
    /// The provider's message id (Twilio `sid`, Aliyun `BizId`).
    pub id: String,
}

/// Sends text messages. Object-safe: workers hold `Arc<dyn SmsSender>`.
pub trait SmsSender: Send + Sync + fmt::Debug {
    /// Provider name for logs and metrics.
    fn provider(&self) -> &'static str;

    /// Sends one message; one attempt, no retry (the resilience wrapper retries).
    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>>;
}

/// What workers hold: any SMS provider with resilience around it.
pub type ResilientSms = Resilient<Arc<dyn SmsSender>>;

/// Lets a shared provider (`Arc<dyn SmsSender>`, or a concrete one kept for its record) be
/// wrapped.
impl<T: SmsSender + ?Sized> SmsSender for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        (**self).send(sms)
    }
}

impl<S: SmsSender> SmsSender for Resilient<S> {
    fn provider(&self) -> &'static str {
        self.inner().provider()
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        self.call(move |inner| inner.send(sms))
    }
}

/// `[sms]` config: the provider and its settings, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum SmsConfig {
    /// Twilio Programmable Messaging.
    Twilio(TwilioConfig),
    /// Aliyun (Alibaba Cloud) SMS `SendSms`.
    Aliyun(AliyunConfig),
    /// Log what would be sent; keep a record.
    Log(LogSmsConfig),
}

impl SmsConfig {
    /// The resilience settings of the chosen provider.
    pub fn resilience(&self) -> &ResilienceConfig {
        match self {
            Self::Twilio(c) => &c.resilience,
            Self::Aliyun(c) => &c.resilience,
            Self::Log(c) => &c.resilience,
        }
    }

    /// Builds the provider with resilience around it. Errors name the bad field.
    pub fn build(&self) -> Result<ResilientSms> {
        let build = || {
            let resilience = self.resilience();
            let timeout = resilience.attempt_timeout();
            let inner: Arc<dyn SmsSender> = match self {
                Self::Twilio(c) => Arc::new(TwilioSms::new(c, timeout)?),
                Self::Aliyun(c) => Arc::new(AliyunSms::new(c, timeout)?),
                Self::Log(c) => Arc::new(LogSms::new(c)),
            };
            let policy = Resilience::new(inner.provider(), resilience)?;
            Ok(Resilient::new(Kind::Sms, inner, Arc::new(policy)))
        };
        build().map_err(|e: Error| e.prefixed("sms."))
    }
}

/// The last four characters of a phone number, for logs.
pub(crate) fn masked(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}
