//! The demo's input: the generated order flows through the typed producers, plus two events
//! every group must dead-letter, so the summary shows what a malformed event becomes.

use std::collections::HashSet;

use events::{Stream, headers, samples::Generator};
use producers::{EventProducer, OrderProducer, PaymentProducer, RawRecord, TopicsConfig};
use uuid::Uuid;

use super::Args;
use super::account::Source;

/// What [`publish`] sent: the valid events by id (all of them, and those on the order topic),
/// where the malformed ones went, and each order's id for the summary.
pub struct Published {
    pub events: HashSet<Uuid>,
    pub order_events: HashSet<Uuid>,
    pub malformed: Vec<Source>,
    pub order_ids: Vec<String>,
}

/// The generated flows through the typed producers, then the malformed events, which every
/// group must dead-letter with the reason.
pub async fn publish(
    shared: &EventProducer,
    topics: &TopicsConfig,
    args: &Args,
) -> anyhow::Result<Published> {
    let orders = OrderProducer::new(shared.clone());
    let payments = PaymentProducer::new(shared.clone());
    let mut generator = Generator::new(args.seed, shared.name());
    let (mut pending, mut order_ids) = (Vec::new(), Vec::new());
    for n in 0..args.orders {
        let flow = generator.order_flow(n);
        if let Some(first) = flow.first() {
            order_ids.push(first.order_id.clone());
        }
        for event in flow {
            pending.push(match event.event_type().stream() {
                Stream::Order => orders.enqueue_envelope(&event, None).await?,
                Stream::Payment => payments.enqueue_envelope(&event, None).await?,
            });
        }
    }
    let (mut events, mut order_events) = (HashSet::new(), HashSet::new());
    for p in pending {
        let sent = p.await?;
        events.insert(sent.event_id);
        if sent.topic == topics.order_events {
            order_events.insert(sent.event_id);
        }
    }
    Ok(Published {
        events,
        order_events,
        malformed: publish_malformed(shared, topics).await?,
        order_ids,
    })
}

/// A line that is not JSON and an event without its customer, on the order topic; returns
/// where they went.
async fn publish_malformed(
    shared: &EventProducer,
    topics: &TopicsConfig,
) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    let broken: [(&str, &[u8]); 2] = [
        ("ord_broken_1", b"this is not JSON"),
        (
            "ord_broken_2",
            br#"{"event_id":"0190f5d2-3b6c-7d4e-8f00-000000000001","event_type":"order.created","schema_version":1,"occurred_at":"2026-01-01T00:00:00Z","order_id":"ord_broken_2","producer":"demo","data":{}}"#,
        ),
    ];
    for (key, payload) in broken {
        let sent = shared
            .enqueue_raw(
                RawRecord {
                    topic: &topics.order_events,
                    key: key.as_bytes(),
                    payload,
                    headers: vec![(headers::EVENT_TYPE, b"order.created")],
                    partition: None,
                    timestamp_ms: None,
                },
                uuid::Uuid::nil(),
            )
            .await?
            .await?;
        sources.push((sent.topic, sent.partition, sent.offset));
    }
    Ok(sources)
}
