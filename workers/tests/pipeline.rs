//! The analytics and cache-warming workers end to end: events published to the broker process,
//! consumed by a consumer group, written to the real PostgreSQL and Redis. The tables must equal
//! what the events imply even after every event is delivered a second time, and cache entries
//! must hold the newest state after older events arrive again out of order.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use consumers::runtime::GroupConfig;
use events::Envelope;
use events::samples::Generator;
use producers::{EventProducer, TopicsConfig};
use support::analytics::{actual, expected};
use support::cache::{order_key, owned, state};
use testkit::group::{Counted, spawn_group};
use testkit::stores::Schema;
use testkit::stores::{Keys, redis_url};
use testkit::wait_for;
use workers::analytics::{AnalyticsConfig, AnalyticsWorker};
use workers::cache_warming::{CacheWarmingConfig, CacheWarmingWorker};

fn config() -> GroupConfig {
    GroupConfig {
        consumers: 2,
        processors: 16,
        session_timeout_ms: 6_000,
        commit_interval_ms: 200,
        ..GroupConfig::default()
    }
}

/// `orders` generated lifecycles (order and payment events), published to fresh topics.
async fn publish(seed: u64, orders: u64) -> (TopicsConfig, EventProducer, Vec<Vec<Envelope>>) {
    let topics = testkit::topics::fresh_topics(4).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(seed, "pipeline-test");
    let flows: Vec<Vec<Envelope>> = (0..orders).map(|n| generator.order_flow(n)).collect();
    send(&producer, flows.iter().flatten()).await;
    (topics, producer, flows)
}

async fn send<'a>(producer: &EventProducer, events: impl IntoIterator<Item = &'a Envelope>) {
    let mut pending = Vec::new();
    for e in events {
        pending.push(producer.enqueue(e, None).await.expect("enqueued"));
    }
    for p in pending {
        p.await.expect("delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analytics_tables_equal_the_events_even_after_a_second_full_delivery() {
    let (topics, producer, flows) = publish(31, 300).await;
    let all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    let want = expected(&all);
    let schema = Schema::fresh().await;
    let url = schema.url.clone();
    let settings = AnalyticsConfig {
        schema: Some(schema.name.clone()),
        ..AnalyticsConfig::default()
    };
    let ids = || flows.iter().map(|f| f[0].order_id.clone());

    // Two groups in turn read the whole topics: the second is a forced redelivery of every
    // event to the same analytics consumer (same processed_events rows).
    for round in ["first", "again"] {
        let worker = Arc::new(
            AnalyticsWorker::connect(&url, settings.clone())
                .await
                .expect("connect"),
        );
        let (handler, mut ok) = Counted::new(Arc::clone(&worker));
        let member = spawn_group(
            &testkit::unique("it-analytics"),
            config(),
            testkit::kafka(),
            &topics,
            handler,
            &producer,
        );
        wait_for(&mut ok, all.len()).await;
        member.stop().await;
        assert_eq!(actual(&worker, ids()).await, want, "after {round}");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
            .fetch_one(worker.pool())
            .await
            .unwrap();
        assert_eq!(rows, all.len() as i64, "each event counted once ({round})");
    }
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_entries_hold_the_newest_state_after_an_out_of_order_replay() {
    let (topics, producer, flows) = publish(32, 300).await;
    let total: usize = flows.iter().map(Vec::len).sum();
    let keys = Keys::fresh();
    let worker = Arc::new(
        CacheWarmingWorker::connect(
            &redis_url(),
            CacheWarmingConfig {
                key_prefix: keys.prefix.clone(),
                ..CacheWarmingConfig::default()
            },
        )
        .await
        .expect("connect"),
    );
    let (handler, mut ok) = Counted::new(Arc::clone(&worker));
    let member = spawn_group(
        &testkit::unique("it-cache"),
        config(),
        testkit::kafka(),
        &topics,
        handler,
        &producer,
    );
    wait_for(&mut ok, total).await;
    for flow in &flows {
        let id = &flow[0].order_id;
        assert_eq!(
            state(&worker, id).await,
            owned(support::cache::expected(flow)),
            "{id}"
        );
    }
    let before: Vec<_> = {
        let mut out = Vec::new();
        for flow in &flows {
            out.push(
                worker
                    .entry(&flow[0].order_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .fields,
            );
        }
        out
    };

    // Every event but each order's newest comes again, newest first: a backfill delivering
    // history after the present. Nothing may move.
    let older: Vec<Envelope> = flows
        .iter()
        .flat_map(|f| {
            let mut f = f.clone();
            f.sort_by_key(order_key);
            f.pop();
            f.into_iter().rev()
        })
        .collect();
    send(&producer, &older).await;
    wait_for(&mut ok, total + older.len()).await;
    member.stop().await;
    for (flow, fields) in flows.iter().zip(&before) {
        let entry = worker.entry(&flow[0].order_id).await.unwrap().unwrap();
        assert_eq!(&entry.fields, fields, "{}", flow[0].order_id);
    }
    drop(keys);
}
