//! Payments: the [`PaymentGateway`] trait workers call (charge, capture, refund), the request
//! types, the deterministic idempotency key, the config that picks [`stripe`] or [`log`], and
//! [`ResilientPayments`], the gateway with resilience around it that the config builds.

pub mod log;
pub mod stripe;

use std::fmt;
use std::sync::Arc;

use events::Money;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::metrics::Kind;
use crate::resilience::{Resilience, ResilienceConfig};
use crate::resilient::Resilient;

pub use log::{LogPaymentConfig, LogPayments, PaymentRecord};
pub use stripe::{CaptureMethod, StripeConfig, StripePayments};

/// Which gateway operation; part of the idempotency key, so a capture never replays a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create and confirm a payment (authorise, or charge with automatic capture).
    Charge,
    /// Capture an authorised payment.
    Capture,
    /// Refund a payment.
    Refund,
}

impl Operation {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Capture => "capture",
            Self::Refund => "refund",
        }
    }
}

/// The idempotency key for one operation caused by one event of one order: the same on every
/// retry and redelivery of that event, different for another event or operation. Stripe keeps
/// keys for 24 h and answers a repeated key with the first result, so a retry never charges
/// twice. Long order ids are cut so the key stays under Stripe's 255 characters.
pub fn idempotency_key(order_id: &str, event_id: Uuid, op: Operation) -> String {
    let order: String = order_id.chars().take(160).collect();
    format!("orderbus:{}:{order}:{event_id}", op.as_str())
}

/// Create and confirm a payment for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The order.
    pub order_id: String,
    /// The event that asked for the charge (idempotency).
    pub event_id: Uuid,
    /// How much.
    pub amount: Money,
    /// The provider's payment method id (`pm_card_visa`, ...).
    pub payment_method: String,
    /// Shown on the provider's dashboard.
    pub description: Option<String>,
}

/// Capture an authorised payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// The order.
    pub order_id: String,
    /// The event that asked for the capture (idempotency).
    pub event_id: Uuid,
    /// The provider's payment id (`pi_...`).
    pub payment_id: String,
    /// Amount to capture; the whole authorisation when absent.
    pub amount: Option<Money>,
}

/// Refund a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The order.
    pub order_id: String,
    /// The event that asked for the refund (idempotency).
    pub event_id: Uuid,
    /// The provider's payment id (`pi_...`).
    pub payment_id: String,
    /// Amount to refund; everything when absent.
    pub amount: Option<Money>,
}

/// The provider's answer to a successful operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentResult {
    /// Which provider.
    pub provider: &'static str,
    /// The object's id (`pi_...` for charge and capture, `re_...` for a refund).
    pub id: String,
    /// The provider's status (`requires_capture`, `succeeded`, `pending`, ...).
    pub status: String,
    /// Amount in minor units as the provider reports it.
    pub amount_minor: Option<i64>,
}

/// A payment provider. Object-safe: workers hold `Arc<dyn PaymentGateway>`. Every method is one
/// attempt carrying a deterministic idempotency key, so the wrapper may retry it safely.
pub trait PaymentGateway: Send + Sync + fmt::Debug {
    /// Provider name for logs and metrics.
    fn provider(&self) -> &'static str;

    /// Creates and confirms a payment.
    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>>;

    /// Captures an authorised payment.
    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>>;

    /// Refunds a payment.
    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>>;
}

/// What workers hold: any payment gateway with resilience around it.
pub type ResilientPayments = Resilient<Arc<dyn PaymentGateway>>;

/// Lets a shared gateway (`Arc<dyn PaymentGateway>`, or a concrete one kept for its record) be
/// wrapped.
impl<T: PaymentGateway + ?Sized> PaymentGateway for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>> {
        (**self).charge(charge)
    }

    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>> {
        (**self).capture(capture)
    }

    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>> {
        (**self).refund(refund)
    }
}

/// Each operation carries its idempotency key, so every attempt the policy makes is safe.
impl<S: PaymentGateway> PaymentGateway for Resilient<S> {
    fn provider(&self) -> &'static str {
        self.inner().provider()
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<PaymentResult>> {
        self.call(move |inner| inner.charge(charge))
    }

    fn capture<'a>(&'a self, capture: &'a Capture) -> BoxFuture<'a, Result<PaymentResult>> {
        self.call(move |inner| inner.capture(capture))
    }

    fn refund<'a>(&'a self, refund: &'a Refund) -> BoxFuture<'a, Result<PaymentResult>> {
        self.call(move |inner| inner.refund(refund))
    }
}

/// `[payment]` config: the provider and its settings, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum PaymentConfig {
    /// Stripe PaymentIntents.
    Stripe(StripeConfig),
    /// Log what would be done; keep a record.
    Log(LogPaymentConfig),
}

impl PaymentConfig {
    /// The resilience settings of the chosen provider.
    pub fn resilience(&self) -> &ResilienceConfig {
        match self {
            Self::Stripe(c) => &c.resilience,
            Self::Log(c) => &c.resilience,
        }
    }

    /// Builds the provider with resilience around it. Errors name the bad field.
    pub fn build(&self) -> Result<ResilientPayments> {
        let build = || {
            let resilience = self.resilience();
            let inner: Arc<dyn PaymentGateway> = match self {
                Self::Stripe(c) => Arc::new(StripePayments::new(c, resilience.attempt_timeout())?),
                Self::Log(c) => Arc::new(LogPayments::new(c)),
            };
            let policy = Resilience::new(inner.provider(), resilience)?;
            Ok(Resilient::new(Kind::Payment, inner, Arc::new(policy)))
        };
        build().map_err(|e: Error| e.prefixed("payment."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_deterministic_and_distinct() {
        let e1 = Uuid::from_u128(1);
        let e2 = Uuid::from_u128(2);
        let k = idempotency_key("ord_1", e1, Operation::Charge);
        assert_eq!(k, idempotency_key("ord_1", e1, Operation::Charge));
        assert_ne!(k, idempotency_key("ord_1", e2, Operation::Charge));
        assert_ne!(k, idempotency_key("ord_1", e1, Operation::Capture));
        assert_ne!(k, idempotency_key("ord_2", e1, Operation::Charge));
        assert!(idempotency_key(&"x".repeat(1_000), e1, Operation::Refund).len() <= 255);
    }
}
