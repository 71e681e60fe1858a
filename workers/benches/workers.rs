//! Throughput of the analytics and cache-warming handlers against the real services
//! (`DATABASE_URL`, `REDIS_URL`, defaults as in the tests): many concurrent callers, each
//! handling its orders' events one after another as the runtime's processors do per key, for a
//! fixed number of generated events. Prints events/s and per-call latency percentiles.
//!
//! The notification worker runs with the `log` SMS and e-mail providers (through the same
//! resilience wrapper as real ones), so what it measures is templating, the wrapper and the
//! PostgreSQL dedup store (a claim and a mark per message).
//!
//! `cargo bench -p consumers --bench workers`. Knobs (environment): `BENCH_TASKS` (16),
//! `BENCH_CACHE_EVENTS` (100000), `BENCH_ANALYTICS_EVENTS` (50000),
//! `BENCH_NOTIFICATION_EVENTS` (100000), `BENCH_ONLY` (`cache`, `analytics` or
//! `notification`), `BENCH_FLUSHERS`, `BENCH_BATCH`, `BENCH_LINGER_US` (worker defaults).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use consumers::runtime::{Context, Handler};
use events::Envelope;
use events::samples::Generator;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use workers::analytics::{AnalyticsConfig, AnalyticsWorker};
use workers::cache_warming::{CacheWarmingConfig, CacheWarmingWorker};
use workers::notification::{NotificationConfig, NotificationWorker, Senders};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `events` events of whole orders, dealt to `tasks` lanes by order.
fn lanes(events: usize, tasks: usize, seed: u64) -> Vec<Vec<Envelope>> {
    let mut g = Generator::new(seed, "bench");
    let mut lanes = vec![Vec::new(); tasks];
    let (mut made, mut n) = (0, 0u64);
    while made < events {
        let mut flow = g.order_flow(n);
        flow.truncate(events - made);
        made += flow.len();
        lanes[usize::try_from(n).unwrap() % tasks].extend(flow);
        n += 1;
    }
    lanes
}

/// Handles every lane concurrently; returns wall time and every call's latency.
async fn run<H: Handler>(worker: Arc<H>, lanes: Vec<Vec<Envelope>>) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for lane in lanes {
        let w = worker.clone();
        set.spawn(async move {
            let ctx = Context {
                group: "bench".into(),
                topic: "order-events".into(),
                partition: 0,
                offset: 0,
                attempt: 1,
                replay: false,
                cancel: CancellationToken::new(),
            };
            let mut latencies = Vec::with_capacity(lane.len());
            for e in &lane {
                let t = Instant::now();
                w.handle(e, &ctx).await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(done) = set.join_next().await {
        all.extend(done.unwrap());
    }
    (start.elapsed(), all)
}

fn report(name: &str, tasks: usize, wall: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let n = latencies.len();
    let pct = |p: f64| latencies[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{name}: {n} events, {tasks} callers, {:.3} s, {:.0} events/s, latency p50 {:?} p99 {:?} max {:?}",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies[n - 1],
    );
}

async fn bench_cache(tasks: usize, events: usize) {
    let defaults = CacheWarmingConfig::default();
    let prefix = format!("bench:{}:order:", Uuid::now_v7().simple());
    let config = CacheWarmingConfig {
        key_prefix: prefix.clone(),
        flushers: env_or("BENCH_FLUSHERS", defaults.flushers),
        batch_size: env_or("BENCH_BATCH", defaults.batch_size),
        linger_us: env_or("BENCH_LINGER_US", defaults.linger_us),
        ..defaults
    };
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let worker = Arc::new(
        CacheWarmingWorker::connect(&url, config.clone())
            .await
            .unwrap(),
    );
    // A short warm-up fills the pool and the connections' buffers.
    run(worker.clone(), lanes(2_000, tasks, 1)).await;
    let (wall, latencies) = run(worker.clone(), lanes(events, tasks, 2)).await;
    report(
        &format!(
            "cache-warming (flushers {}, batch {}, linger {} us)",
            config.flushers, config.batch_size, config.linger_us
        ),
        tasks,
        wall,
        latencies,
    );
    let mut conn = worker.pool().get().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for chunk in keys.chunks(1_000) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

async fn bench_analytics(tasks: usize, events: usize) {
    let defaults = AnalyticsConfig::default();
    let schema = format!("bench_{}", Uuid::now_v7().simple());
    let config = AnalyticsConfig {
        schema: Some(schema.clone()),
        flushers: env_or("BENCH_FLUSHERS", defaults.flushers),
        batch_size: env_or("BENCH_BATCH", defaults.batch_size),
        linger_us: env_or("BENCH_LINGER_US", defaults.linger_us),
        ..defaults
    };
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".into());
    let worker = Arc::new(
        AnalyticsWorker::connect(&url, config.clone())
            .await
            .unwrap(),
    );
    run(worker.clone(), lanes(2_000, tasks, 1)).await;
    let (wall, latencies) = run(worker.clone(), lanes(events, tasks, 2)).await;
    report(
        &format!(
            "analytics (flushers {}, batch {}, linger {} us)",
            config.flushers, config.batch_size, config.linger_us
        ),
        tasks,
        wall,
        latencies,
    );
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(worker.pool())
        .await
        .unwrap();
    assert_eq!(
        counted,
        i64::try_from(events + 2_000).unwrap(),
        "every event counted once"
    );
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn bench_notification(tasks: usize, events: usize) {
    use adapters::email::{EmailConfig, LogEmailConfig};
    use adapters::sms::{LogSmsConfig, SmsConfig};
    let defaults = NotificationConfig::default();
    let schema = format!("bench_{}", Uuid::now_v7().simple());
    let config = NotificationConfig {
        schema: Some(schema.clone()),
        flushers: env_or("BENCH_FLUSHERS", defaults.flushers),
        batch_size: env_or("BENCH_BATCH", defaults.batch_size),
        linger_us: env_or("BENCH_LINGER_US", defaults.linger_us),
        ..defaults
    };
    let senders = Senders {
        sms: Some(SmsConfig::Log(LogSmsConfig::default()).build().unwrap()),
        email: Some(EmailConfig::Log(LogEmailConfig::default()).build().unwrap()),
    };
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".into());
    let worker = Arc::new(
        NotificationWorker::connect(&url, config.clone(), senders)
            .await
            .unwrap(),
    );
    let warm = lanes(2_000, tasks, 1);
    let measured = lanes(events, tasks, 2);
    // Messages the events call for, counted from the events alone: one per contact of a
    // notifying event (confirmation, receipt, shipping notice, action needed).
    let messages: usize = warm
        .iter()
        .chain(&measured)
        .flatten()
        .map(|e| {
            let customer = match &e.data {
                events::EventData::OrderCreated(d) => &d.customer,
                events::EventData::OrderPaid(d) => &d.customer,
                events::EventData::OrderShipped(d) => &d.customer,
                events::EventData::PaymentFailed(d) => &d.customer,
                events::EventData::OrderCancelled(_)
                | events::EventData::PaymentAuthorized(_)
                | events::EventData::PaymentCaptured(_)
                | events::EventData::PaymentRefunded(_) => return 0,
            };
            usize::from(customer.phone.is_some()) + usize::from(customer.email.is_some())
        })
        .sum();
    run(worker.clone(), warm).await;
    let (wall, latencies) = run(worker.clone(), measured).await;
    report(
        &format!(
            "notification, log providers (flushers {}, batch {}, linger {} us)",
            config.flushers, config.batch_size, config.linger_us
        ),
        tasks,
        wall,
        latencies,
    );
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE state = 'sent'")
            .fetch_one(worker.dedup().pool())
            .await
            .unwrap();
    assert_eq!(
        sent,
        i64::try_from(messages).unwrap(),
        "every message sent once"
    );
    println!("  {messages} messages sent and recorded");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn main() {
    let tasks = env_or("BENCH_TASKS", 16usize);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if only.is_empty() || only == "cache" {
            bench_cache(tasks, env_or("BENCH_CACHE_EVENTS", 100_000)).await;
        }
        if only.is_empty() || only == "analytics" {
            bench_analytics(tasks, env_or("BENCH_ANALYTICS_EVENTS", 50_000)).await;
        }
        if only.is_empty() || only == "notification" {
            bench_notification(tasks, env_or("BENCH_NOTIFICATION_EVENTS", 100_000)).await;
        }
    });
}
