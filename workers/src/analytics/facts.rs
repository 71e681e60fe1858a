//! What one event contributes to the analytics tables, pulled out of the envelope before it is
//! queued for a batch: a status for order events, a money movement or a payment outcome for
//! payment events. Pure, so the mapping is tested without a database.

use events::{Envelope, EventData};
use time::OffsetDateTime;
use uuid::Uuid;

use consumers::runtime::HandlerError;

/// The payment-side facts the tables count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaymentFact {
    /// `payment.authorized`: a success for the provider's rate.
    Authorized,
    /// `payment.failed`: a failure for the provider's rate.
    Failed,
    /// `payment.captured`: revenue.
    Captured,
    /// `payment.refunded`: revenue given back.
    Refunded,
}

impl PaymentFact {
    /// The name the SQL statement matches on.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PaymentFact::Authorized => "authorized",
            PaymentFact::Failed => "failed",
            PaymentFact::Captured => "captured",
            PaymentFact::Refunded => "refunded",
        }
    }
}

/// One event, reduced to the columns the batch statement takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fact {
    pub(crate) event_id: Uuid,
    pub(crate) order_id: String,
    pub(crate) occurred_at: OffsetDateTime,
    /// Set by `order.*` events.
    pub(crate) status: Option<&'static str>,
    /// Set by `payment.*` events, with currency, amount and provider.
    pub(crate) payment: Option<PaymentFact>,
    pub(crate) currency: Option<&'static str>,
    pub(crate) amount_minor: Option<i64>,
    pub(crate) provider: Option<String>,
}

impl Fact {
    /// The fact of `event`; an event that could never be counted correctly is refused
    /// permanently (the runtime dead-letters it).
    pub(crate) fn of(event: &Envelope) -> Result<Self, HandlerError> {
        if event.order_id.is_empty() {
            return Err(HandlerError::permanent("order_id is empty"));
        }
        let mut fact = Fact {
            event_id: event.event_id,
            order_id: event.order_id.clone(),
            // PostgreSQL keeps microseconds; cut here so the version compared in SQL is the
            // version the event had when the batch was built.
            occurred_at: truncate_to_micros(event.occurred_at),
            status: None,
            payment: None,
            currency: None,
            amount_minor: None,
            provider: None,
        };
        let mut payment = |kind: PaymentFact, amount: &events::Money, provider: &str| {
            fact.payment = Some(kind);
            fact.currency = Some(amount.currency.code());
            fact.amount_minor = Some(amount.amount_minor);
            fact.provider = Some(provider.to_owned());
        };
        match &event.data {
            EventData::OrderCreated(_) => fact.status = Some("created"),
            EventData::OrderPaid(_) => fact.status = Some("paid"),
            EventData::OrderShipped(_) => fact.status = Some("shipped"),
            EventData::OrderCancelled(_) => fact.status = Some("cancelled"),
            EventData::PaymentAuthorized(p) => {
                payment(PaymentFact::Authorized, &p.amount, &p.provider)
            }
            EventData::PaymentFailed(p) => payment(PaymentFact::Failed, &p.amount, &p.provider),
            EventData::PaymentCaptured(p) => payment(PaymentFact::Captured, &p.amount, &p.provider),
            EventData::PaymentRefunded(p) => payment(PaymentFact::Refunded, &p.amount, &p.provider),
        }
        if fact.amount_minor.is_some_and(|a| a < 0) {
            return Err(HandlerError::permanent("amount_minor is negative"));
        }
        if fact.provider.as_deref() == Some("") {
            return Err(HandlerError::permanent("provider is empty"));
        }
        Ok(fact)
    }
}

/// `t` without its sub-microsecond part.
pub(crate) fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use events::EventType;
    use events::samples::Generator;

    use super::*;

    #[test]
    fn every_event_type_maps_to_its_fact() {
        let mut g = Generator::new(3, "test");
        for t in EventType::ALL {
            let e = g.one(t, 9);
            let f = Fact::of(&e).expect("a fact");
            assert_eq!(f.event_id, e.event_id);
            let order_side = t.stream() == events::Stream::Order;
            assert_eq!(f.status.is_some(), order_side, "{t}");
            assert_eq!(f.payment.is_some(), !order_side, "{t}");
            assert_eq!(f.provider.is_some(), !order_side, "{t}");
            if let Some(p) = f.payment {
                assert_eq!(format!("payment.{}", p.as_str()), t.as_str());
            }
            if let Some(s) = f.status {
                assert_eq!(format!("order.{s}"), t.as_str());
            }
        }
    }

    #[test]
    fn negative_amounts_are_refused_for_good() {
        let mut e = Generator::new(3, "test").one(EventType::PaymentCaptured, 1);
        if let EventData::PaymentCaptured(p) = &mut e.data {
            p.amount.amount_minor = -5;
        }
        assert!(matches!(Fact::of(&e), Err(HandlerError::Permanent(_))));
    }

    #[test]
    fn times_are_cut_to_microseconds() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.123456789 UTC);
        assert_eq!(
            truncate_to_micros(t),
            time::macros::datetime!(2026-01-02 03:04:05.123456 UTC)
        );
    }
}
