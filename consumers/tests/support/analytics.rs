//! What the analytics tables should hold, computed from the events alone, and what they hold.

use std::collections::{BTreeMap, HashMap};

use consumers::workers::analytics::{AnalyticsWorker, DailyRevenue, ProviderOutcomes, StatusCount};
use events::{Envelope, EventData, EventType};
use time::Date;
use uuid::Uuid;

use sqlx::Connection;

use super::micros;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".to_owned())
}

/// Creates the test database when it is missing (as `scripts/services.sh` does), so the suite
/// also runs where only the server is up.
pub async fn ensure_database(url: &str) {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    if sqlx::PgConnection::connect_with(&options).await.is_ok() {
        return;
    }
    let name = options.get_database().unwrap_or("orderbus_test").to_owned();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .expect("PostgreSQL reachable at DATABASE_URL");
    // Another test binary may win the race; "already exists" is fine.
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await;
}

/// Drops the test's schema when the test ends, passed or failed.
pub struct Schema {
    pub name: String,
    pub url: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (name, url) = (self.name.clone(), self.url.clone());
        // Drop runs outside any runtime (or inside a finishing one); use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
            });
        })
        .join();
    }
}

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
        let status_event = matches!(
            e.event_type(),
            EventType::OrderCreated
                | EventType::OrderPaid
                | EventType::OrderShipped
                | EventType::OrderCancelled
        );
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
            _ => {}
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
