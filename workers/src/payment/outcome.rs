//! The events the payment worker publishes: `payment.authorized` for a charge the gateway
//! accepted, `payment.failed` for one it refused (declined card, refused request, or a status
//! that cannot complete without the customer), with ids that are the same every time one order
//! event is handled, so a redelivered `order.created` republishes the *same* event, which
//! downstream consumers (analytics, notification) already drop by `event_id`.

use adapters::Failure;
use adapters::payment::PaymentResult;
use events::{Envelope, OrderCreated, PaymentAuthorized, PaymentFailed, now_micros};
use uuid::Uuid;

/// PaymentIntent statuses that mean the money is reserved or taken.
const AUTHORIZED: &[&str] = &["requires_capture", "succeeded", "processing"];

/// A UUIDv7 derived from `source` and `tag`: it keeps the source's millisecond timestamp (so it
/// still sorts by time) and fills the random bits from an FNV-1a hash of both. Deterministic
/// across processes and builds, unlike `std`'s hasher.
pub fn derived_id(source: Uuid, tag: &str) -> Uuid {
    let mut bytes = [0u8; 10];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut step = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
        h
    };
    for &b in source.as_bytes().iter().chain(tag.as_bytes()) {
        step(b);
    }
    for (i, slot) in bytes.iter_mut().enumerate() {
        // Each output byte folds in one more round, so all ten differ.
        *slot = (step(i as u8) >> 24) as u8;
    }
    let ts = source.as_bytes();
    let millis = ts[..6]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// Cuts `s` to the characters an identifier allows (`[A-Za-z0-9._:-]`, 64 at most, starting
/// with a letter or digit); `fallback` when nothing is left.
fn identifier(s: &str, fallback: &str) -> String {
    let out: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

fn text(s: &str, fallback: &str) -> String {
    let out: String = s.trim().chars().take(500).collect();
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

fn envelope(
    source: &Envelope,
    producer: &str,
    tag: &str,
    data: impl Into<events::EventData>,
) -> Envelope {
    Envelope {
        event_id: derived_id(source.event_id, tag),
        occurred_at: now_micros(),
        order_id: source.order_id.clone(),
        producer: producer.to_owned(),
        data: data.into(),
    }
}

/// The event for a charge the gateway answered: authorized, or failed when its status cannot
/// complete on its own (e.g. `requires_action`: the customer must authenticate).
pub fn accepted(
    source: &Envelope,
    order: &OrderCreated,
    result: &PaymentResult,
    producer: &str,
) -> Envelope {
    let payment_id = identifier(&result.id, "unknown");
    if AUTHORIZED.contains(&result.status.as_str()) {
        let data = PaymentAuthorized {
            payment_id: payment_id.clone(),
            amount: order.total,
            provider: result.provider.to_owned(),
            authorization_code: payment_id,
        };
        return envelope(source, producer, "payment.authorized", data);
    }
    let data = PaymentFailed {
        payment_id,
        amount: order.total,
        provider: result.provider.to_owned(),
        customer: order.customer.clone(),
        failure_code: identifier(&result.status, "incomplete"),
        failure_message: format!(
            "the payment is `{}` and cannot complete without the customer",
            result.status
        ),
    };
    envelope(source, producer, "payment.failed", data)
}

/// The event for a charge the gateway refused.
pub fn refused(
    source: &Envelope,
    order: &OrderCreated,
    provider: &str,
    failure: &Failure,
    producer: &str,
) -> Envelope {
    let code = failure
        .decline_code
        .as_deref()
        .or(failure.code.as_deref())
        .unwrap_or("declined");
    let data = PaymentFailed {
        // The gateway made no payment we could name; one id per order event.
        payment_id: format!("failed-{}", source.event_id.simple()),
        amount: order.total,
        provider: identifier(provider, "unknown"),
        customer: order.customer.clone(),
        failure_code: identifier(code, "declined"),
        failure_message: text(&failure.message, "the payment was refused"),
    };
    envelope(source, producer, "payment.failed", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_v7_and_distinct_per_tag() {
        let source = Uuid::now_v7();
        let a = derived_id(source, "payment.authorized");
        assert_eq!(a, derived_id(source, "payment.authorized"));
        assert_ne!(a, derived_id(source, "payment.failed"));
        assert_ne!(a, derived_id(Uuid::now_v7(), "payment.authorized"));
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        // Same millisecond timestamp: the derived event sorts with its cause.
        assert_eq!(a.as_bytes()[..6], source.as_bytes()[..6]);
    }

    #[test]
    fn identifiers_are_cleaned() {
        assert_eq!(identifier("card_declined", "x"), "card_declined");
        assert_eq!(identifier("_a b!c", "x"), "abc");
        assert_eq!(identifier("!!", "x"), "x");
        assert_eq!(identifier(&"z".repeat(100), "x").len(), 64);
    }
}
