//! The cache-warming worker against a real Redis (`REDIS_URL`, default 127.0.0.1:6379): after
//! events in any order, replays of older ones, and many concurrent callers, every entry holds,
//! field by field, what the newest event carrying that field said (computed here from the
//! events alone), with a TTL. Each test uses its own key prefix and deletes its keys at the end.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

mod support;

use testkit::handler::ctx;

use consumers::runtime::{Handler, HandlerError};
use events::samples::Generator;
use events::{Envelope, EventData, EventType};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use support::cache::{expected, order_key, owned, state};
use testkit::stores::{Keys, redis_url};
use workers::cache_warming::{CacheWarmingConfig, CacheWarmingWorker};

async fn worker(config: CacheWarmingConfig) -> (Arc<CacheWarmingWorker>, Keys) {
    let keys = Keys::fresh();
    let config = CacheWarmingConfig {
        key_prefix: keys.prefix.clone(),
        ..config
    };
    let worker = CacheWarmingWorker::connect(&redis_url(), config)
        .await
        .expect("connect and load the script");
    (Arc::new(worker), keys)
}

fn flows(seed: u64, n: u64) -> Vec<Vec<Envelope>> {
    let mut g = Generator::new(seed, "cache-test");
    (0..n).map(|i| g.order_flow(i)).collect()
}

/// Handles `events` dealt round-robin over `tasks` concurrent callers; all must succeed.
async fn handle_concurrently(w: &Arc<CacheWarmingWorker>, events: &[Envelope], tasks: usize) {
    let mut lanes = vec![Vec::new(); tasks];
    for (i, e) in events.iter().enumerate() {
        lanes[i % tasks].push(e.clone());
    }
    let mut set = tokio::task::JoinSet::new();
    for lane in lanes {
        let w = w.clone();
        set.spawn(async move {
            let ctx = ctx("cache-warming-test");
            for e in lane {
                w.handle(&e, &ctx)
                    .await
                    .unwrap_or_else(|err| panic!("{} {}: {err}", e.event_type(), e.event_id));
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_hold_the_newest_state_after_shuffled_events_and_replays_of_older_ones() {
    let config = CacheWarmingConfig {
        ttl_secs: 3_600,
        batch_size: 64,
        ..CacheWarmingConfig::default()
    };
    let (w, _keys) = worker(config).await;
    let flows = flows(21, 300);
    let mut all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    all.shuffle(&mut rand::rngs::StdRng::seed_from_u64(1));
    handle_concurrently(&w, &all, 16).await;

    let mut before = HashMap::new();
    for flow in &flows {
        let id = &flow[0].order_id;
        assert_eq!(state(&w, id).await, owned(expected(flow)), "order {id}");
        let entry = w.entry(id).await.unwrap().unwrap();
        let ttl = entry.ttl_secs.expect("a TTL is set");
        assert!((1..=3_600).contains(&ttl), "{ttl}");
        let newest = flow.iter().max_by_key(|e| order_key(e)).unwrap();
        assert!(
            entry
                .get("version")
                .unwrap()
                .ends_with(&newest.event_id.simple().to_string()),
            "{entry:?}"
        );
        before.insert(id.clone(), entry.fields);
    }
    // The generated amounts survive later events that carry none (shipped, payment.*).
    let some = &flows[0];
    assert!(
        state(&w, &some[0].order_id)
            .await
            .contains_key("amount_minor")
    );

    // Replay every event but each order's newest, newest-first: nothing may change, not even
    // the version bookkeeping.
    let mut older: Vec<Envelope> = flows
        .iter()
        .flat_map(|f| {
            let mut f = f.clone();
            f.sort_by_key(order_key);
            f.pop();
            f.into_iter().rev()
        })
        .collect();
    handle_concurrently(&w, &older, 16).await;
    older.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2));
    handle_concurrently(&w, &older, 16).await;
    for flow in &flows {
        let id = &flow[0].order_id;
        assert_eq!(
            w.entry(id).await.unwrap().unwrap().fields,
            before[id],
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_late_older_event_fills_its_own_fields_but_does_not_move_the_status_back() {
    let (w, _keys) = worker(CacheWarmingConfig::default()).await;
    let flow = &flows(22, 1)[0];
    let created = &flow[0];
    let shipped = flow
        .iter()
        .find(|e| e.event_type() == EventType::OrderShipped)
        .or_else(|| {
            flow.iter()
                .find(|e| e.event_type() == EventType::OrderCancelled)
        })
        .unwrap();
    w.handle(shipped, &ctx("cache-warming-test")).await.unwrap();
    let after_newer = state(&w, &created.order_id).await;
    assert!(!after_newer.contains_key("amount_minor"));
    w.handle(created, &ctx("cache-warming-test")).await.unwrap();
    let s = state(&w, &created.order_id).await;
    assert_ne!(s["status"], "created");
    assert_eq!(s["status"], after_newer["status"]);
    assert_eq!(s["event_id"], shipped.event_id.to_string());
    let EventData::OrderCreated(o) = &created.data else {
        unreachable!()
    };
    assert_eq!(s["amount_minor"], o.total.amount_minor.to_string());
    assert_eq!(s["currency"], o.total.currency.code());
}

#[tokio::test]
async fn a_server_that_lost_the_script_is_sent_the_body_and_caches_it_again() {
    let (w, _keys) = worker(CacheWarmingConfig::default()).await;
    let mut conn = w.pool().get().await.unwrap();
    // Other tests running now see NOSCRIPT too and take the same fallback.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let e = Generator::new(23, "cache-test").one(EventType::OrderPaid, 1);
    w.handle(&e, &ctx("cache-warming-test")).await.unwrap();
    assert_eq!(state(&w, &e.order_id).await["status"], "paid");
    let sha = redis::Script::new(include_str!("../src/cache_warming/script.lua"))
        .get_hash()
        .to_owned();
    let exists: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&sha)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, [true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_the_wrong_type_fails_its_event_permanently_and_only_that_one() {
    let config = CacheWarmingConfig {
        flushers: 1,
        linger_us: 200_000,
        ..CacheWarmingConfig::default()
    };
    let (w, _keys) = worker(config).await;
    let mut g = Generator::new(24, "cache-test");
    let events: Vec<Envelope> = (1..6).map(|n| g.one(EventType::OrderCreated, n)).collect();
    let mut conn = w.pool().get().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(w.key(&events[0].order_id))
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    let c = ctx("cache-warming-test");
    let outcomes = futures::future::join_all(events.iter().map(|e| w.handle(e, &c))).await;
    assert!(
        matches!(outcomes[0], Err(HandlerError::Permanent(_))),
        "{outcomes:?}"
    );
    assert!(outcomes[1..].iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(state(&w, &events[1].order_id).await["status"], "created");
}

#[tokio::test]
async fn the_embedded_stand_in_holds_the_same_newest_state() {
    use workers::embedded::MemoryCache;
    let flows = flows(23, 200);
    let mut all: Vec<Envelope> = flows.iter().flatten().cloned().collect();
    all.shuffle(&mut rand::rngs::StdRng::seed_from_u64(3));
    let memory = MemoryCache::default();
    for e in all.iter().chain(all.iter().rev()) {
        memory.handle(e, &ctx("cache-warming-test")).await.unwrap();
    }
    assert_eq!(memory.len(), flows.len());
    for flow in &flows {
        let fields: HashMap<String, String> = memory
            .entry(&flow[0].order_id)
            .expect("entry")
            .fields
            .into_iter()
            .filter(|(k, _)| !k.ends_with("version") && k != "updated_at")
            .collect();
        assert_eq!(fields, owned(expected(flow)), "{}", flow[0].order_id);
    }
}
