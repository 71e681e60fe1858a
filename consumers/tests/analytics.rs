//! The analytics worker against a real PostgreSQL (`DATABASE_URL`, default the local
//! `orderbus_test` database): its tables must say what the events imply, computed here
//! independently from the generated events, and must not move when events come again
//! (redelivery, shuffled replay, many concurrent callers). Each test works in its own schema,
//! dropped at the end, so tests run in parallel.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use consumers::runtime::{Context, Handler, HandlerError};
use consumers::workers::analytics::{
    AnalyticsConfig, AnalyticsWorker, DailyRevenue, ProviderOutcomes, StatusCount,
};
use events::samples::Generator;
use events::{Envelope, EventData, EventType};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use sqlx::Connection;
use time::{Date, OffsetDateTime};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".to_owned())
}

/// Creates the test database when it is missing (as `scripts/services.sh` does), so the suite
/// also runs where only the server is up.
async fn ensure_database(url: &str) {
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
struct Schema {
    name: String,
    url: String,
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

async fn worker(config: AnalyticsConfig) -> (Arc<AnalyticsWorker>, Schema) {
    let url = database_url();
    ensure_database(&url).await;
    let schema = Schema {
        name: format!("t_{}", Uuid::now_v7().simple()),
        url: url.clone(),
    };
    let config = AnalyticsConfig {
        schema: Some(schema.name.clone()),
        ..config
    };
    let worker = AnalyticsWorker::connect(&url, config)
        .await
        .expect("connect and migrate");
    (Arc::new(worker), schema)
}

fn ctx() -> Context {
    Context {
        group: "analytics-test".into(),
        topic: "order-events".into(),
        partition: 0,
        offset: 0,
        attempt: 1,
        replay: false,
        cancel: CancellationToken::new(),
    }
}

fn orders(seed: u64, n: u64) -> Vec<Vec<Envelope>> {
    let mut g = Generator::new(seed, "analytics-test");
    (0..n).map(|i| g.order_flow(i)).collect()
}

/// Handles `lanes` from `lanes.len()` concurrent tasks, each lane's events one after another
/// (as the runtime's processors do for one key); every event must succeed.
async fn handle_lanes(w: &Arc<AnalyticsWorker>, lanes: Vec<Vec<Envelope>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes {
        let w = w.clone();
        tasks.spawn(async move {
            let ctx = ctx();
            for e in lane {
                w.handle(&e, &ctx)
                    .await
                    .unwrap_or_else(|err| panic!("{} {}: {err}", e.event_type(), e.event_id));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Deals `events` round-robin into `n` lanes.
fn deal(events: &[Envelope], n: usize) -> Vec<Vec<Envelope>> {
    let mut lanes = vec![Vec::new(); n];
    for (i, e) in events.iter().enumerate() {
        lanes[i % n].push(e.clone());
    }
    lanes
}

/// What the tables should hold, computed from the events alone.
#[derive(Debug, PartialEq)]
struct Expected {
    statuses: Vec<StatusCount>,
    status_of: HashMap<String, (String, Uuid)>,
    revenue: Vec<DailyRevenue>,
    providers: Vec<ProviderOutcomes>,
}

fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000
}

fn expected(events: &[Envelope]) -> Expected {
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

async fn actual(w: &AnalyticsWorker, order_ids: impl Iterator<Item = String>) -> Expected {
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

async fn processed_rows(w: &AnalyticsWorker) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(w.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_match_the_events_and_stay_put_under_redelivery_and_shuffled_replay() {
    let (w, _schema) = worker(AnalyticsConfig::default()).await;
    let flows = orders(11, 500);
    let all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    let want = expected(&all);
    let ids = || flows.iter().map(|f| f[0].order_id.clone());
    // The data must exercise every table, or equality below proves little.
    assert_eq!(want.status_of.len(), 500);
    // Generated lifecycles end shipped or cancelled; both must be there.
    assert_eq!(want.statuses.len(), 2, "{:?}", want.statuses);
    assert!(
        want.revenue.iter().any(|r| r.refunds > 0),
        "{:?}",
        want.revenue
    );
    assert!(
        want.providers.iter().any(|p| p.failed > 0),
        "{:?}",
        want.providers
    );

    // Live: one lane per order (its events in order), 16 orders at a time.
    let mut lanes = vec![Vec::new(); 16];
    for (i, flow) in flows.iter().enumerate() {
        lanes[i % 16].extend(flow.iter().cloned());
    }
    handle_lanes(&w, lanes).await;
    assert_eq!(actual(&w, ids()).await, want);
    assert_eq!(processed_rows(&w).await, i64::try_from(all.len()).unwrap());
    let stripe = &w.payment_success_rate().await.unwrap()[0];
    let rate = stripe.success_rate().unwrap();
    assert!(rate > 0.5 && rate < 1.0, "{rate}");

    // Redelivery: every event once more, in the same order.
    handle_lanes(&w, deal(&all, 16)).await;
    assert_eq!(actual(&w, ids()).await, want);

    // Replay in a shuffled order.
    let mut shuffled = all.clone();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(5));
    handle_lanes(&w, deal(&shuffled, 16)).await;
    assert_eq!(actual(&w, ids()).await, want);
    assert_eq!(processed_rows(&w).await, i64::try_from(all.len()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_with_duplicates_and_any_order_count_each_event_once() {
    // Several writers, so copies of one event also meet in batches committing concurrently.
    let config = AnalyticsConfig {
        batch_size: 64,
        flushers: 4,
        ..AnalyticsConfig::default()
    };
    let (w, _schema) = worker(config).await;
    let flows = orders(12, 300);
    let all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    let want = expected(&all);
    // Each event three times, shuffled, from 64 callers: copies of one event land in the same
    // batch and in batches in flight at the same time; an order's events arrive in any order.
    let mut copies: Vec<Envelope> = all.iter().chain(&all).chain(&all).cloned().collect();
    copies.shuffle(&mut rand::rngs::StdRng::seed_from_u64(6));
    handle_lanes(&w, deal(&copies, 64)).await;
    let ids = flows.iter().map(|f| f[0].order_id.clone());
    assert_eq!(actual(&w, ids).await, want);
    assert_eq!(processed_rows(&w).await, i64::try_from(all.len()).unwrap());
}

#[tokio::test]
async fn an_older_status_arriving_late_does_not_overwrite_a_newer_one() {
    let (w, _schema) = worker(AnalyticsConfig::default()).await;
    let flow = &orders(13, 1)[0];
    let created = flow.first().unwrap();
    let last = flow.last().unwrap();
    let newest_order_event = flow
        .iter()
        .rev()
        .find(|e| e.event_type().stream() == events::Stream::Order)
        .unwrap();
    assert_ne!(created.event_id, newest_order_event.event_id);
    w.handle(last, &ctx()).await.unwrap();
    w.handle(newest_order_event, &ctx()).await.unwrap();
    w.handle(created, &ctx()).await.unwrap();
    let s = w.order_status(&created.order_id).await.unwrap().unwrap();
    assert_eq!(s.event_id, newest_order_event.event_id);
    assert_ne!(s.status, "created");
    assert_eq!(
        w.orders_per_status().await.unwrap(),
        vec![StatusCount {
            status: s.status.clone(),
            orders: 1
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_database_refuses_fails_alone_and_permanently() {
    // One writer and a long linger, so the events below share a batch.
    let config = AnalyticsConfig {
        flushers: 1,
        linger_us: 200_000,
        ..AnalyticsConfig::default()
    };
    let (w, _schema) = worker(config).await;
    let mut g = Generator::new(14, "analytics-test");
    let capture = g.one(EventType::PaymentCaptured, 1);
    let EventData::PaymentCaptured(p) = &capture.data else {
        unreachable!()
    };
    let day = capture.occurred_at.to_offset(time::UtcOffset::UTC).date();
    // Shard 0 is the only writer's; one more capture there overflows bigint.
    sqlx::query(
        "INSERT INTO analytics_revenue_daily (day, currency, shard, captured_minor) \
         VALUES ($1, $2, 0, $3)",
    )
    .bind(day)
    .bind(p.amount.currency.code())
    .bind(i64::MAX - 1)
    .execute(w.pool())
    .await
    .unwrap();
    let others: Vec<Envelope> = (2..6).map(|n| g.one(EventType::OrderCreated, n)).collect();
    let c = ctx();
    let (bad, good) = tokio::join!(
        w.handle(&capture, &c),
        futures::future::join_all(others.iter().map(|e| w.handle(e, &c)))
    );
    assert!(matches!(bad, Err(HandlerError::Permanent(_))), "{bad:?}");
    assert!(good.iter().all(Result::is_ok), "{good:?}");
    // The refused event left no dedup row, so it can be counted once the data is fixed.
    assert_eq!(processed_rows(&w).await, 4);
    assert_eq!(
        w.orders_per_status().await.unwrap(),
        vec![StatusCount {
            status: "created".into(),
            orders: 4
        }]
    );
}

#[tokio::test]
async fn migrations_apply_once_and_connecting_again_is_harmless() {
    let (w, schema) = worker(AnalyticsConfig::default()).await;
    let config = AnalyticsConfig {
        schema: Some(schema.name.clone()),
        ..AnalyticsConfig::default()
    };
    let again = AnalyticsWorker::connect(&database_url(), config)
        .await
        .expect("second connect");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(again.pool())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
    assert!(w.orders_per_status().await.unwrap().is_empty());
}

#[tokio::test]
async fn no_connection_to_be_had_is_a_retryable_failure_that_heals() {
    let config = AnalyticsConfig {
        pool_size: 1,
        acquire_timeout_ms: 50,
        ..AnalyticsConfig::default()
    };
    let (w, _schema) = worker(config).await;
    let e = Generator::new(15, "analytics-test").one(EventType::OrderCreated, 1);
    let held = w.pool().acquire().await.unwrap();
    let outcome = w.handle(&e, &ctx()).await;
    assert!(
        matches!(outcome, Err(HandlerError::Retryable(_))),
        "{outcome:?}"
    );
    drop(held);
    w.handle(&e, &ctx()).await.unwrap();
    assert_eq!(processed_rows(&w).await, 1);
}
