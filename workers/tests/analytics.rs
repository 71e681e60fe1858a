//! The analytics worker against a real PostgreSQL (`DATABASE_URL`, default the local
//! `orderbus_test` database): its tables must say what the events imply, computed here
//! independently from the generated events, and must not move when events come again
//! (redelivery, shuffled replay, many concurrent callers). Each test works in its own schema,
//! dropped at the end, so tests run in parallel.

#![allow(clippy::unwrap_used)]

mod support;

use testkit::handler::ctx;

use std::sync::Arc;

use consumers::runtime::{Handler, HandlerError};
use events::samples::Generator;
use events::{Envelope, EventData, EventType};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use support::analytics::{actual, expected};
use testkit::stores::{Schema, database_url};
use workers::analytics::{AnalyticsConfig, AnalyticsWorker, StatusCount};

async fn worker(config: AnalyticsConfig) -> (Arc<AnalyticsWorker>, Schema) {
    let schema = Schema::fresh().await;
    let url = schema.url.clone();
    let config = AnalyticsConfig {
        schema: Some(schema.name.clone()),
        ..config
    };
    let worker = AnalyticsWorker::connect(&url, config)
        .await
        .expect("connect and migrate");
    (Arc::new(worker), schema)
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
            let ctx = ctx("analytics-test");
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
    w.handle(last, &ctx("analytics-test")).await.unwrap();
    w.handle(newest_order_event, &ctx("analytics-test"))
        .await
        .unwrap();
    w.handle(created, &ctx("analytics-test")).await.unwrap();
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
    let c = ctx("analytics-test");
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
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
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
    // One connection; the test holds it, so the handler's wait for one times out. The wait is
    // long enough that connecting and migrating on a loaded machine never hit it.
    let config = AnalyticsConfig {
        pool_size: 1,
        acquire_timeout_ms: 3_000,
        ..AnalyticsConfig::default()
    };
    let (w, _schema) = worker(config).await;
    let e = Generator::new(15, "analytics-test").one(EventType::OrderCreated, 1);
    let held = w.pool().acquire().await.unwrap();
    let outcome = w.handle(&e, &ctx("analytics-test")).await;
    assert!(
        matches!(outcome, Err(HandlerError::Retryable(_))),
        "{outcome:?}"
    );
    drop(held);
    w.handle(&e, &ctx("analytics-test")).await.unwrap();
    assert_eq!(processed_rows(&w).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_stand_in_agrees_with_the_model_under_redelivery() {
    use workers::embedded::MemoryAnalytics;
    let flows = orders(13, 300);
    let all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    let want = expected(&all);
    let memory = MemoryAnalytics::default();
    let mut twice: Vec<Envelope> = all.iter().chain(&all).cloned().collect();
    twice.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    for e in &twice {
        memory.handle(e, &ctx("analytics-test")).await.unwrap();
    }
    assert_eq!(memory.orders_per_status(), want.statuses);
    assert_eq!(memory.revenue_per_day(), want.revenue);
    assert_eq!(memory.payment_success_rate(), want.providers);
}
