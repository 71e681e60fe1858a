//! What the analytics tables should hold, computed from the events alone, and what they hold.

use std::collections::{BTreeMap, HashMap};

use events::{Envelope, EventData, EventType};
use time::Date;
use uuid::Uuid;
use workers::analytics::{AnalyticsWorker, DailyRevenue, ProviderOutcomes, StatusCount};

use super::micros;

/// What the tables should hold, computed from the events alone.
#[derive(Debug, PartialEq)]
pub struct Expected {
    pub statuses: Vec<StatusCount>,
    pub status_of: HashMap<String, (String, Uuid)>,
    pub revenue: Vec<DailyRevenue>,
    pub providers: Vec<ProviderOutcomes>,
}

pub fn expected(events: &[Envelope]) -> Expected {
    let mut unique: HashMap<Uuid, &Envelope> = HashMap::new();
    for e in events {
        unique.insert(e.event_id, e);
    }
    let mut newest: HashMap<String, &Envelope> = HashMap::new();
    let mut revenue: BTreeMap<(Date, String), [i64; 4]> = BTreeMap::new();
    let mut providers: BTreeMap<String, [i64; 2]> = BTreeMap::new();
    for e in unique.values() {
        let status_event = match e.event_type() {
            EventType::OrderCreated
            | EventType::OrderPaid
            | EventType::OrderShipped
            | EventType::OrderCancelled => true,
            EventType::PaymentAuthorized
            | EventType::PaymentCaptured
            | EventType::PaymentFailed
            | EventType::PaymentRefunded => false,
        };
        if status_event {
            let slot = newest.entry(e.order_id.clone()).or_insert(e);
            if (micros(e.occurred_at), e.event_id) > (micros(slot.occurred_at), slot.event_id) {
                *slot = e;
            }
        }
        let day = e.occurred_at.to_offset(time::UtcOffset::UTC).date();
        match &e.data {
            EventData::PaymentCaptured(p) => {
                let r = revenue
                    .entry((day, p.amount.currency.code().to_owned()))
                    .or_default();
                r[0] += p.amount.amount_minor;
                r[2] += 1;
            }
            EventData::PaymentRefunded(p) => {
                let r = revenue
                    .entry((day, p.amount.currency.code().to_owned()))
                    .or_default();
                r[1] += p.amount.amount_minor;
                r[3] += 1;
            }
            EventData::PaymentAuthorized(p) => {
                providers.entry(p.provider.clone()).or_default()[0] += 1
            }
            EventData::PaymentFailed(p) => providers.entry(p.provider.clone()).or_default()[1] += 1,
            EventData::OrderCreated(_)
            | EventData::OrderPaid(_)
            | EventData::OrderShipped(_)
            | EventData::OrderCancelled(_) => {}
        }
    }
    let status_of: HashMap<String, (String, Uuid)> = newest
        .iter()
        .map(|(order, e)| {
            let status = e
                .event_type()
                .as_str()
                .trim_start_matches("order.")
                .to_owned();
            (order.clone(), (status, e.event_id))
        })
        .collect();
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (status, _) in status_of.values() {
        *counts.entry(status.clone()).or_default() += 1;
    }
    Expected {
        statuses: counts
            .into_iter()
            .map(|(status, orders)| StatusCount { status, orders })
            .collect(),
        status_of,
        revenue: revenue
            .into_iter()
            .map(|((day, currency), [c, r, nc, nr])| DailyRevenue {
                day,
                currency,
                captured_minor: c,
                refunded_minor: r,
                net_minor: c - r,
                captures: nc,
                refunds: nr,
            })
            .collect(),
        providers: providers
            .into_iter()
            .map(|(provider, [authorized, failed])| ProviderOutcomes {
                provider,
                authorized,
                failed,
            })
            .collect(),
    }
}

pub async fn actual(w: &AnalyticsWorker, order_ids: impl Iterator<Item = String>) -> Expected {
    let mut status_of = HashMap::new();
    for id in order_ids {
        if let Some(s) = w.order_status(&id).await.unwrap() {
            status_of.insert(id, (s.status, s.event_id));
        }
    }
    Expected {
        statuses: w.orders_per_status().await.unwrap(),
        status_of,
        revenue: w.revenue_per_day().await.unwrap(),
        providers: w.payment_success_rate().await.unwrap(),
    }
}
