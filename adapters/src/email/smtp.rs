//! SMTP with lettre (tokio, rustls): any relay, plain (tests, local relays), STARTTLS or
//! implicit TLS. Reply codes decide the outcome: 4xx (greylisting, mailbox busy, server
//! shutting down) is retryable, 5xx permanent — 5xx about the address (550, 551, 553, 501, ...)
//! as `InvalidRecipient`, 530/535 as `Unauthorized`. Connection failures and timeouts are
//! retryable. Each message carries `Message-ID: <reference@orderbus.invalid>`, so receivers can
//! tell a retried copy.

use std::fmt;
use std::time::Duration;

use events::Secret;
use futures::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::email::{Email, EmailReceipt, EmailSender};
use crate::error::{Error, Failure, FailureKind, Result};
use crate::resilience::ResilienceConfig;

const PROVIDER: &str = "smtp";

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain text: only for local relays and tests.
    None,
    /// Upgrade with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
}

/// `provider = "smtp"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host name.
    pub host: String,
    /// Relay port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Connection security.
    #[serde(default = "default_security")]
    pub security: SmtpSecurity,
    /// Login user; no authentication when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Timeouts, retries, breaker, rate limit.
    #[serde(default)]
    pub resilience: ResilienceConfig,
}

fn default_port() -> u16 {
    587
}
fn default_security() -> SmtpSecurity {
    SmtpSecurity::Starttls
}

/// The SMTP adapter. Its `Debug` shows the relay and the sender, never the password.
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    relay: String,
    from: Mailbox,
}

impl fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Permanent reply codes that are about the recipient address.
const ADDRESS_CODES: &[u16] = &[501, 510, 511, 550, 551, 553];

fn classify(err: &lettre::transport::smtp::Error) -> Error {
    let code = err.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let message = err.to_string();
    let failure = |kind| {
        let f = Failure::new(kind, message.clone());
        match code {
            Some(c) => f.with_status(c),
            None => f,
        }
    };
    if err.is_permanent() {
        let kind = match code {
            Some(530 | 535) => FailureKind::Unauthorized,
            Some(c) if ADDRESS_CODES.contains(&c) => FailureKind::InvalidRecipient,
            _ => FailureKind::Rejected,
        };
        Error::permanent(PROVIDER, failure(kind))
    } else if err.is_transient() {
        Error::retryable(PROVIDER, failure(FailureKind::Server))
    } else if err.is_timeout() {
        Error::retryable(PROVIDER, failure(FailureKind::Timeout))
    } else if err.is_client() {
        Error::permanent(PROVIDER, failure(FailureKind::Protocol))
    } else {
        Error::retryable(PROVIDER, failure(FailureKind::Connection))
    }
}

impl SmtpEmail {
    /// A transport for `cfg`; `timeout` bounds each SMTP command.
    pub fn new(cfg: &SmtpConfig, timeout: Duration) -> Result<Self> {
        if cfg.host.is_empty() {
            return Err(Error::config("host", "must not be empty"));
        }
        let address = cfg
            .from
            .parse()
            .map_err(|e| Error::config("from", format!("not an e-mail address: {e}")))?;
        let from = Mailbox::new(cfg.from_name.clone(), address);
        let builder = match cfg.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
                    .map_err(|e| Error::config("host", e.to_string()))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
                .map_err(|e| Error::config("host", e.to_string()))?,
        };
        let mut builder = builder.port(cfg.port).timeout(Some(timeout));
        match (&cfg.username, &cfg.password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(Error::config(
                    "username",
                    "set both `username` and `password`, or neither",
                ));
            }
        }
        Ok(Self {
            transport: builder.build(),
            relay: format!("{}:{}", cfg.host, cfg.port),
            from,
        })
    }

    fn message(&self, email: &Email) -> Result<(Message, String)> {
        let address = email.to.parse().map_err(|e| {
            Error::permanent(
                PROVIDER,
                Failure::new(FailureKind::InvalidRecipient, format!("bad address: {e}")),
            )
        })?;
        let to = Mailbox::new(email.to_name.clone(), address);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        let id = if email.reference.is_empty() {
            String::new()
        } else {
            format!("<{}@orderbus.invalid>", email.reference)
        };
        if !id.is_empty() {
            builder = builder.message_id(Some(id.clone()));
        }
        let message = builder.body(email.text.clone()).map_err(|e| {
            Error::permanent(PROVIDER, Failure::new(FailureKind::Rejected, e.to_string()))
        })?;
        Ok((message, id))
    }

    async fn send_once(&self, email: &Email) -> Result<EmailReceipt> {
        let (message, message_id) = self.message(email)?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| classify(&e))?;
        let id = if message_id.is_empty() {
            response.message().collect::<Vec<_>>().join(" ")
        } else {
            message_id
        };
        Ok(EmailReceipt {
            provider: PROVIDER,
            id,
        })
    }
}

impl EmailSender for SmtpEmail {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        Box::pin(self.send_once(email))
    }
}
