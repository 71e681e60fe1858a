//! Stripe: PaymentIntents create-and-confirm (`POST /v1/payment_intents`), capture
//! (`POST /v1/payment_intents/{id}/capture`) and refunds (`POST /v1/refunds`), form-encoded, with
//! `Authorization: Bearer sk_...` and an `Idempotency-Key` from [`idempotency_key`], so a retry
//! or a redelivered event replays Stripe's first answer instead of charging again.
//!
//! Errors are `{error: {type, code, decline_code, message}}`: a `card_error` (402) is a
//! permanent `Declined` with the decline code; 429, 5xx and `Stripe-Should-Retry: true` are
//! retryable; other 4xx are permanent.

use std::fmt;
use std::time::Duration;

use events::{Money, Secret};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FailureKind, Result};
use crate::http::{self, Refusal, Reply, Verdict};
use crate::payment::{
    Capture, Charge, Operation, PaymentGateway, PaymentResult, Refund, idempotency_key,
};
use crate::resilience::ResilienceConfig;

const PROVIDER: &str = "stripe";

/// When a confirmed PaymentIntent takes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    /// At once (`charge` both authorises and captures).
    Automatic,
    /// Later, by `capture` (`charge` only authorises).
    Manual,
}

impl CaptureMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Manual => "manual",
        }
    }
}

/// `provider = "stripe"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// Secret key (`sk_live_...`, `sk_test_...`).
    pub api_key: Secret,
    /// Capture at once or on `payment.captured`.
    #[serde(default = "default_capture")]
    pub capture_method: CaptureMethod,
    /// `Stripe-Version` header; the account's default when absent.
    #[serde(default)]
    pub api_version: Option<String>,
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Timeouts, retries, breaker, rate limit.
    #[serde(default)]
    pub resilience: ResilienceConfig,
}

fn default_capture() -> CaptureMethod {
    CaptureMethod::Manual
}
fn default_base_url() -> String {
    "https://api.stripe.com".into()
}

/// The Stripe adapter. Its `Debug` never shows the key.
pub struct StripePayments {
    client: reqwest::Client,
    base: String,
    api_key: Secret,
    capture_method: CaptureMethod,
    api_version: Option<String>,
}

impl fmt::Debug for StripePayments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripePayments")
            .field("base", &self.base)
            .field("api_key", &self.api_key)
            .field("capture_method", &self.capture_method)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Object {
    id: String,
    status: Option<String>,
    amount: Option<i64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

fn currency(money: &Money) -> String {
    money.currency.code().to_ascii_lowercase()
}

impl StripePayments {
    /// A client for `cfg`; `timeout` bounds each request.
    pub fn new(cfg: &StripeConfig, timeout: Duration) -> Result<Self> {
        if cfg.api_key.expose().is_empty() {
            return Err(Error::config("api_key", "must not be empty"));
        }
        Ok(Self {
            client: http::client(PROVIDER, timeout)?,
            base: http::base_url("base_url", &cfg.base_url)?,
            api_key: cfg.api_key.clone(),
            capture_method: cfg.capture_method,
            api_version: cfg.api_version.clone(),
        })
    }

    async fn post(
        &self,
        path: &str,
        key: String,
        form: &[(&str, String)],
    ) -> Result<PaymentResult> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.api_key.expose())
            .header("Idempotency-Key", key)
            .form(form);
        if let Some(version) = &self.api_version {
            request = request.header("Stripe-Version", version);
        }
        http::exchange(self, request).await
    }

    async fn charge_once(&self, charge: &Charge) -> Result<PaymentResult> {
        let mut form = vec![
            ("amount", charge.amount.amount_minor.to_string()),
            ("currency", currency(&charge.amount)),
            ("payment_method", charge.payment_method.clone()),
            ("confirm", "true".to_owned()),
            ("capture_method", self.capture_method.as_str().to_owned()),
            // Server-side confirmation cannot follow a redirect; cards that need one fail.
            ("automatic_payment_methods[enabled]", "true".to_owned()),
            (
                "automatic_payment_methods[allow_redirects]",
                "never".to_owned(),
            ),
            ("metadata[order_id]", charge.order_id.clone()),
            ("metadata[event_id]", charge.event_id.to_string()),
        ];
        if let Some(d) = &charge.description {
            form.push(("description", d.clone()));
        }
        let key = idempotency_key(&charge.order_id, charge.event_id, Operation::Charge);
        self.post("/v1/payment_intents", key, &form).await
    }

    async fn capture_once(&self, capture: &Capture) -> Result<PaymentResult> {
        let mut form = Vec::new();
        if let Some(amount) = &capture.amount {
            form.push(("amount_to_capture", amount.amount_minor.to_string()));
        }
        let path = format!(
            "/v1/payment_intents/{}/capture",
            http::path_segment(&capture.payment_id)
        );
        let key = idempotency_key(&capture.order_id, capture.event_id, Operation::Capture);
        self.post(&path, key, &form).await
    }

    async fn refund_once(&self, refund: &Refund) -> Result<PaymentResult> {
        let mut form = vec![
            ("payment_intent", refund.payment_id.clone()),
            ("metadata[order_id]", refund.order_id.clone()),
            ("metadata[event_id]", refund.event_id.to_string()),
        ];
        if let Some(amount) = &refund.amount {
            form.push(("amount", amount.amount_minor.to_string()));
        }
        let key = idempotency_key(&refund.order_id, refund.event_id, Operation::Refund);
        self.post("/v1/refunds", key, &form).await
    }
}

impl http::Api for StripePayments {
    const PROVIDER: &'static str = PROVIDER;
    type Output = PaymentResult;

    fn accepted(&self, reply: &Reply<'_>) -> Result<PaymentResult, Refusal> {
        let object = reply.json::<Object>().map_err(|e| Refusal {
            message: Some(e.to_string()),
            // The operation happened; the idempotency key makes a retry return this answer
            // again rather than repeat it, so retrying to read it is safe.
            verdict: Verdict::Retry(FailureKind::Protocol),
            ..Refusal::new(FailureKind::Protocol)
        })?;
        Ok(PaymentResult {
            provider: PROVIDER,
            id: object.id,
            status: object.status.unwrap_or_default(),
            amount_minor: object.amount,
        })
    }

    fn refused(&self, reply: &Reply<'_>) -> Refusal {
        let error = reply.json::<ErrorBody>().ok().map(|b| b.error);
        let card_error = error.as_ref().and_then(|e| e.kind.as_deref()) == Some("card_error");
        let should_retry = reply.header("Stripe-Should-Retry") == Some("true");
        // A status that retries (429, 5xx) keeps its own kind and `Retry-After`; the header and
        // card errors decide only answers the status would refuse.
        let status_retries = http::retryable_status(reply.status);
        let verdict = if should_retry && !status_retries {
            Verdict::Retry(FailureKind::Server)
        } else if card_error && !status_retries {
            // A card error is a decline whatever the status says (Stripe uses 402).
            Verdict::Permanent(FailureKind::Declined)
        } else {
            Verdict::ByStatus
        };
        let (code, message, decline_code) = match error {
            Some(e) => (e.code, e.message, e.decline_code),
            None => (None, None, None),
        };
        Refusal {
            code,
            message,
            decline_code: decline_code
                .filter(|_| verdict == Verdict::Permanent(FailureKind::Declined)),
            verdict,
            ..Refusal::new(FailureKind::Rejected)
        }
    }
}

impl PaymentGateway for StripePayments {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.charge_once(charge))
    }

    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.capture_once(capture))
    }

    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>> {
        Box::pin(self.refund_once(refund))
    }
}
