//! Twilio Programmable Messaging: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with HTTP basic auth (AccountSid:AuthToken) and a form body `To`, `From` or
//! `MessagingServiceSid`, `Body`. Errors come as `{code, message, status, more_info}`; codes that
//! mean "this number will never work" (21211 invalid `To`, 21614 not a mobile, 21610
//! unsubscribed, ...) are permanent `InvalidRecipient`.
//!
//! Twilio has no idempotency key for messages: a timeout after Twilio accepted the request and a
//! retry can send the text twice. The per-attempt timeout should therefore be generous.

use std::fmt;
use std::time::Duration;

use events::Secret;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FailureKind, Result};
use crate::http::{self, Refusal, Reply};
use crate::resilience::ResilienceConfig;
use crate::sms::{Sms, SmsReceipt, SmsSender};

const PROVIDER: &str = "twilio";

/// Error codes meaning the recipient cannot receive this message, whatever we do.
const RECIPIENT_CODES: &[i64] = &[
    21211, // invalid 'To' phone number
    21214, // 'To' phone number cannot be reached
    21408, // permission to send to this region not enabled
    21610, // recipient replied STOP
    21612, // 'To' not reachable via this 'From'
    21614, // 'To' is not a valid mobile number
];

/// `provider = "twilio"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// Account SID (`AC...`), the basic-auth user.
    pub account_sid: String,
    /// Auth token, the basic-auth password.
    pub auth_token: Secret,
    /// Sender number (E.164); or set `messaging_service_sid`.
    #[serde(default)]
    pub from: Option<String>,
    /// Messaging service (`MG...`) that picks the sender; or set `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Timeouts, retries, breaker, rate limit.
    #[serde(default)]
    pub resilience: ResilienceConfig,
}

fn default_base_url() -> String {
    "https://api.twilio.com".into()
}

/// The Twilio adapter. Its `Debug` shows the account SID, never the token.
pub struct TwilioSms {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    sender: (&'static str, String),
}

impl fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("url", &self.url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Accepted {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioSms {
    /// A client for `cfg`; `timeout` bounds each request.
    pub fn new(cfg: &TwilioConfig, timeout: Duration) -> Result<Self> {
        if cfg.account_sid.is_empty() {
            return Err(Error::config("account_sid", "must not be empty"));
        }
        if cfg.auth_token.expose().is_empty() {
            return Err(Error::config("auth_token", "must not be empty"));
        }
        let sender = match (&cfg.from, &cfg.messaging_service_sid) {
            (Some(from), None) => ("From", from.clone()),
            (None, Some(service)) => ("MessagingServiceSid", service.clone()),
            _ => {
                return Err(Error::config(
                    "from",
                    "set exactly one of `from` and `messaging_service_sid`",
                ));
            }
        };
        let base = http::base_url("base_url", &cfg.base_url)?;
        Ok(Self {
            client: http::client(PROVIDER, timeout)?,
            url: format!(
                "{base}/2010-04-01/Accounts/{}/Messages.json",
                cfg.account_sid
            ),
            account_sid: cfg.account_sid.clone(),
            auth_token: cfg.auth_token.clone(),
            sender,
        })
    }

    async fn send_once(&self, sms: &Sms) -> Result<SmsReceipt> {
        let form = [
            ("To", sms.to.as_str()),
            (self.sender.0, self.sender.1.as_str()),
            ("Body", sms.body.as_str()),
        ];
        let request = self
            .client
            .post(&self.url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form);
        http::exchange(self, request).await
    }
}

impl http::Api for TwilioSms {
    const PROVIDER: &'static str = PROVIDER;
    type Output = SmsReceipt;

    fn accepted(&self, reply: &Reply<'_>) -> Result<SmsReceipt, Refusal> {
        // Twilio took the message; an unreadable answer must not cause a second send.
        let id = reply
            .json::<Accepted>()
            .ok()
            .and_then(|a| a.sid)
            .unwrap_or_default();
        Ok(SmsReceipt {
            provider: PROVIDER,
            id,
        })
    }

    fn refused(&self, reply: &Reply<'_>) -> Refusal {
        let parsed = reply.json::<TwilioError>().ok();
        let code = parsed.as_ref().and_then(|e| e.code);
        let kind = match code {
            Some(c) if RECIPIENT_CODES.contains(&c) => FailureKind::InvalidRecipient,
            _ => FailureKind::Rejected,
        };
        Refusal {
            code: code.map(|c| c.to_string()),
            message: parsed.and_then(|e| e.message),
            ..Refusal::new(kind)
        }
    }
}

impl SmsSender for TwilioSms {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        Box::pin(self.send_once(sms))
    }
}
