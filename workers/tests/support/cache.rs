//! The newest state a cache entry should hold for an order's events, and what it holds.

use std::collections::HashMap;

use events::{Envelope, EventData};
use uuid::Uuid;
use workers::cache_warming::CacheWarmingWorker;

use super::micros;

pub fn order_key(e: &Envelope) -> (i128, Uuid) {
    (micros(e.occurred_at), e.event_id)
}

/// The fields the newest event carrying each of them set, plus who the newest event was.
pub fn expected(flow: &[Envelope]) -> HashMap<&'static str, String> {
    let mut by_field: HashMap<&'static str, ((i128, Uuid), String)> = HashMap::new();
    let mut set = |e: &Envelope, field: &'static str, value: String| {
        let slot = by_field
            .entry(field)
            .or_insert((order_key(e), value.clone()));
        if order_key(e) >= slot.0 {
            *slot = (order_key(e), value);
        }
    };
    for e in flow {
        match &e.data {
            EventData::OrderCreated(o) => {
                set(e, "status", "created".into());
                set(e, "amount_minor", o.total.amount_minor.to_string());
                set(e, "currency", o.total.currency.code().into());
            }
            EventData::OrderPaid(o) => {
                set(e, "status", "paid".into());
                set(e, "amount_minor", o.amount.amount_minor.to_string());
                set(e, "currency", o.amount.currency.code().into());
            }
            EventData::OrderShipped(o) => {
                set(e, "status", "shipped".into());
                set(e, "carrier", o.carrier.clone());
                set(e, "tracking_number", o.tracking_number.clone());
            }
            EventData::OrderCancelled(_) => set(e, "status", "cancelled".into()),
            EventData::PaymentAuthorized(p) => {
                set(e, "payment_status", "authorized".into());
                set(e, "payment_id", p.payment_id.clone());
                set(e, "provider", p.provider.clone());
            }
            EventData::PaymentCaptured(p) => {
                set(e, "payment_status", "captured".into());
                set(e, "payment_id", p.payment_id.clone());
                set(e, "provider", p.provider.clone());
            }
            EventData::PaymentFailed(p) => {
                set(e, "payment_status", "failed".into());
                set(e, "payment_id", p.payment_id.clone());
                set(e, "provider", p.provider.clone());
            }
            EventData::PaymentRefunded(p) => {
                set(e, "payment_status", "refunded".into());
                set(e, "payment_id", p.payment_id.clone());
                set(e, "provider", p.provider.clone());
            }
        }
    }
    let newest = flow.iter().max_by_key(|e| order_key(e)).unwrap();
    let mut out: HashMap<&'static str, String> =
        by_field.into_iter().map(|(f, (_, v))| (f, v)).collect();
    out.insert("event_id", newest.event_id.to_string());
    out.insert("event_type", newest.event_type().as_str().into());
    out
}

/// The entry's fields without the version bookkeeping, which `expected` does not model.
pub async fn state(w: &CacheWarmingWorker, order_id: &str) -> HashMap<String, String> {
    let entry = w.entry(order_id).await.unwrap().expect("entry exists");
    entry
        .fields
        .into_iter()
        .filter(|(k, _)| !k.ends_with("version") && k != "updated_at")
        .collect()
}

pub fn owned(m: HashMap<&'static str, String>) -> HashMap<String, String> {
    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
