//! The `payment` worker: charges new orders through the payment gateway and publishes the
//! outcome.
//!
//! **The flow.** An `order.created` whose `payment_method` goes through the gateway (`card`,
//! `wallet`) needs a charge; every other event (and `bank_transfer` / `cash_on_delivery`
//! orders) is acknowledged untouched. The worker calls
//! [`PaymentGateway::charge`](adapters::payment::PaymentGateway::charge) through its resilience
//! wrapper for the order's `total`, then publishes through the
//! [`PaymentProducer`](producers::PaymentProducer):
//! - accepted (`requires_capture` / `succeeded` / `processing`) → `payment.authorized`;
//! - refused as a business answer (declined card, invalid request) → `payment.failed` with the
//!   decline code, for the notification worker to tell the customer. Such refusals count as
//!   successes for the breaker (`adapters::Error::is_acceptable`): a run of declined cards never
//!   sheds other customers' payments;
//! - provider trouble (5xx, timeout, 429, breaker open) → retryable: the runtime retries with
//!   backoff and parks the event on the retry topic (see the notification module docs for what
//!   the runtime does), losing nothing; bad credentials and unreadable answers → dead letter.
//!   Every failure carries a reason code ([`codes`]).
//!
//! **Never charged twice.** The charge carries Stripe's `Idempotency-Key`
//! `orderbus:charge:<order_id>:<event_id>` (`adapters::payment::idempotency_key`): every retry
//! and redelivery of one `order.created` gets Stripe's first answer back instead of a new charge
//! (Stripe keeps keys 24 h). The published event's id is derived from the order event's id
//! ([`outcome::derived_id`]), so a republished outcome (crash after the charge, before the
//! publish was acknowledged) is the same event, dropped by consumers that dedup by `event_id`.
//! Replays (`Context::replay`) never charge unless `charge_on_replay` is set: a backfill must not
//! move money, and beyond Stripe's 24 h a key no longer protects.
//!
//! **Payment method.** The v1 `order.created` carries the method *kind*, not a gateway token;
//! until a schema version adds one, the worker charges the gateway payment method configured
//! per kind (`card_payment_method`, `wallet_payment_method`; Stripe test tokens by default).
//!
//! **Breaker open.** Before calling, the worker waits up to `breaker_wait_ms` while the gateway's
//! breaker would shed, then fails retryably without calling: shed events wait on the retry topic
//! and flow again once a probe succeeds.

pub mod codes;
pub mod outcome;

use std::time::Duration;

use adapters::payment::{Charge, PaymentGateway, ResilientPayments};
use events::{Envelope, EventData, PaymentMethod};
use producers::PaymentProducer;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use consumers::runtime::{Context, Handler, HandlerError};

/// `[workers.payment]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentWorkerConfig {
    /// Gateway payment method charged for `card` orders; none: card orders are not charged.
    pub card_payment_method: Option<String>,
    /// Gateway payment method charged for `wallet` orders; none: wallet orders are not charged.
    pub wallet_payment_method: Option<String>,
    /// Charge during replays too (off: a backfill never moves money).
    pub charge_on_replay: bool,
    /// How long a handler holds an event while the gateway's breaker sheds, before handing it
    /// back as retryable.
    pub breaker_wait_ms: u64,
}

impl Default for PaymentWorkerConfig {
    fn default() -> Self {
        Self {
            card_payment_method: Some("pm_card_visa".into()),
            wallet_payment_method: Some("pm_card_visa".into()),
            charge_on_replay: false,
            breaker_wait_ms: 2_000,
        }
    }
}

impl PaymentWorkerConfig {
    /// Checks every key; `prefix` is where the settings sit (`workers.payment`).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, problem: &str| {
            Err(Error::Config(producers::Error::Config {
                key: format!("{prefix}.{key}"),
                problem: problem.to_owned(),
            }))
        };
        for (key, value) in [
            ("card_payment_method", &self.card_payment_method),
            ("wallet_payment_method", &self.wallet_payment_method),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return bad(key, "must not be empty (leave it out to not charge)");
            }
        }
        if self.breaker_wait_ms > 600_000 {
            return bad("breaker_wait_ms", "must be at most 600000");
        }
        Ok(())
    }
}

/// Charges orders and publishes the outcome. See the module docs.
#[derive(Debug)]
pub struct PaymentWorker {
    gateway: ResilientPayments,
    producer: PaymentProducer,
    config: PaymentWorkerConfig,
}

impl PaymentWorker {
    /// A worker over a gateway (with resilience around it) and the producer it publishes with.
    pub fn new(
        gateway: ResilientPayments,
        producer: PaymentProducer,
        config: PaymentWorkerConfig,
    ) -> Result<Self> {
        config.validate("workers.payment")?;
        Ok(Self {
            gateway,
            producer,
            config,
        })
    }

    /// The gateway (its resilience: breaker state, metrics).
    pub fn gateway(&self) -> &ResilientPayments {
        &self.gateway
    }

    fn method_for(&self, kind: PaymentMethod) -> Option<&str> {
        match kind {
            PaymentMethod::Card => self.config.card_payment_method.as_deref(),
            PaymentMethod::Wallet => self.config.wallet_payment_method.as_deref(),
            PaymentMethod::BankTransfer | PaymentMethod::CashOnDelivery => None,
        }
    }

    /// Waits up to `breaker_wait_ms` for the gateway's breaker to let work through.
    async fn breaker_allows(&self, ctx: &Context) -> bool {
        let policy = self.gateway.resilience();
        let until = Instant::now() + Duration::from_millis(self.config.breaker_wait_ms);
        loop {
            if policy.would_allow() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = ctx.cancel.cancelled() => return false,
            }
        }
    }

    async fn publish(&self, event: &Envelope) -> Result<(), HandlerError> {
        self.producer
            .publish_envelope(event)
            .await
            .map(|_| ())
            .map_err(|e| {
                let reason = format!("publishing {}: {e}", event.event_type());
                if e.is_retryable() {
                    HandlerError::retryable(reason).with_code(codes::PUBLISH_FAILED)
                } else {
                    HandlerError::permanent(reason).with_code(codes::PUBLISH_REFUSED)
                }
            })
    }
}

impl Handler for PaymentWorker {
    fn name(&self) -> &str {
        "payment"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let EventData::OrderCreated(order) = &event.data else {
            return Ok(());
        };
        let Some(method) = self.method_for(order.payment_method) else {
            return Ok(());
        };
        if ctx.replay && !self.config.charge_on_replay {
            tracing::debug!(event_id = %event.event_id, "replay: not charging");
            return Ok(());
        }
        if !self.breaker_allows(ctx).await {
            let reason = format!("{}: circuit breaker open, waiting", self.gateway.provider());
            return Err(HandlerError::retryable(reason).with_code(codes::BREAKER_OPEN));
        }
        let charge = Charge {
            order_id: event.order_id.clone(),
            event_id: event.event_id,
            amount: order.total,
            payment_method: method.to_owned(),
            description: Some(format!("order {}", event.order_id)),
        };
        let name = self.producer.shared().name().to_owned();
        let outcome = match self.gateway.charge(&charge).await {
            Ok(result) => outcome::accepted(event, order, &result, &name),
            Err(e) if e.is_retryable() => {
                return Err(HandlerError::retryable(&e).with_code(codes::of(&e)));
            }
            Err(e) => match e.failure() {
                Some(f) if f.kind.is_business() => {
                    outcome::refused(event, order, self.gateway.provider(), f, &name)
                }
                _ => return Err(HandlerError::permanent(&e).with_code(codes::of(&e))),
            },
        };
        tracing::info!(
            event_id = %event.event_id,
            order_id = %event.order_id,
            outcome = outcome.event_type().as_str(),
            "charged"
        );
        self.publish(&outcome).await
    }
}
