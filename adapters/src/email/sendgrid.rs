//! SendGrid v3 Mail Send: `POST {base}/v3/mail/send` with `Authorization: Bearer <key>` and a
//! JSON body `{personalizations: [{to: [{email, name}]}], from: {email, name}, subject,
//! content: [{type: "text/plain", value}]}`; `202 Accepted` means queued, the id is in
//! `X-Message-Id`. Errors are `{errors: [{message, field, help}]}`; an error on a `...email`
//! field is a permanent `InvalidRecipient`.
//!
//! SendGrid has no idempotency key: a timeout after SendGrid queued the mail and a retry can
//! send it twice.

use std::fmt;
use std::time::Duration;

use events::Secret;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::email::{Email, EmailReceipt, EmailSender};
use crate::error::{Error, FailureKind, Result};
use crate::http::{self, Refusal, Reply};
use crate::resilience::ResilienceConfig;

const PROVIDER: &str = "sendgrid";

/// `provider = "sendgrid"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendgridConfig {
    /// API key (`SG....`).
    pub api_key: Secret,
    /// Verified sender address.
    pub from: String,
    /// Sender display name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Timeouts, retries, breaker, rate limit.
    #[serde(default)]
    pub resilience: ResilienceConfig,
}

fn default_base_url() -> String {
    "https://api.sendgrid.com".into()
}

/// The SendGrid adapter. Its `Debug` never shows the key.
pub struct SendgridEmail {
    client: reqwest::Client,
    url: String,
    api_key: Secret,
    from: String,
    from_name: Option<String>,
}

impl fmt::Debug for SendgridEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendgridEmail")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<SendgridError>,
}

#[derive(Deserialize)]
struct SendgridError {
    message: Option<String>,
    field: Option<String>,
}

impl SendgridEmail {
    /// A client for `cfg`; `timeout` bounds each request.
    pub fn new(cfg: &SendgridConfig, timeout: Duration) -> Result<Self> {
        if cfg.api_key.expose().is_empty() {
            return Err(Error::config("api_key", "must not be empty"));
        }
        if !cfg.from.contains('@') {
            return Err(Error::config("from", "must be an e-mail address"));
        }
        let base = http::base_url("base_url", &cfg.base_url)?;
        Ok(Self {
            client: http::client(PROVIDER, timeout)?,
            url: format!("{base}/v3/mail/send"),
            api_key: cfg.api_key.clone(),
            from: cfg.from.clone(),
            from_name: cfg.from_name.clone(),
        })
    }

    fn body(&self, email: &Email) -> serde_json::Value {
        let mut to = json!({ "email": email.to });
        if let Some(name) = &email.to_name {
            to["name"] = json!(name);
        }
        let mut from = json!({ "email": self.from });
        if let Some(name) = &self.from_name {
            from["name"] = json!(name);
        }
        let mut body = json!({
            "personalizations": [{ "to": [to] }],
            "from": from,
            "subject": email.subject,
            "content": [{ "type": "text/plain", "value": email.text }],
        });
        if !email.reference.is_empty() {
            body["custom_args"] = json!({ "reference": email.reference });
        }
        body
    }

    async fn send_once(&self, email: &Email) -> Result<EmailReceipt> {
        let request = self
            .client
            .post(&self.url)
            .bearer_auth(self.api_key.expose())
            .json(&self.body(email));
        http::exchange(self, request).await
    }
}

impl http::Api for SendgridEmail {
    const PROVIDER: &'static str = PROVIDER;
    type Output = EmailReceipt;

    fn accepted(&self, reply: &Reply<'_>) -> Result<EmailReceipt, Refusal> {
        let id = reply.header("X-Message-Id").unwrap_or_default().to_owned();
        Ok(EmailReceipt {
            provider: PROVIDER,
            id,
        })
    }

    fn refused(&self, reply: &Reply<'_>) -> Refusal {
        let errors = reply.json::<Errors>().map(|e| e.errors).unwrap_or_default();
        let bad_address = errors
            .iter()
            .any(|e| e.field.as_deref().is_some_and(|f| f.ends_with("email")));
        let message = errors
            .iter()
            .filter_map(|e| match (&e.field, &e.message) {
                (Some(f), Some(m)) => Some(format!("{f}: {m}")),
                (None, Some(m)) => Some(m.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ");
        let kind = if bad_address {
            FailureKind::InvalidRecipient
        } else {
            FailureKind::Rejected
        };
        Refusal {
            // SendGrid's own words only, even when it gave none.
            message: Some(message),
            ..Refusal::new(kind)
        }
    }
}

impl EmailSender for SendgridEmail {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<EmailReceipt>> {
        Box::pin(self.send_once(email))
    }
}
