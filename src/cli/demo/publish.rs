//! The demo's input: the generated order flows through the typed producers, plus two events
//! every group must dead-letter, so the summary shows what a malformed event becomes.

use events::{Stream, headers, samples::Generator};
use producers::{EventProducer, OrderProducer, PaymentProducer, RawRecord, TopicsConfig};

use super::Args;

/// What [`publish`] sent: events in all (not counting the malformed two), of them on the
/// order topic, and each order's id for the summary.
pub struct Published {
    pub total: u64,
    pub order_events: u64,
    pub order_ids: Vec<String>,
}

/// The generated flows through the typed producers, plus a line that is not JSON and an event
/// without its customer, which every group must dead-letter with the reason.
pub async fn publish(
    shared: &EventProducer,
    topics: &TopicsConfig,
    args: &Args,
) -> anyhow::Result<Published> {
    let orders = OrderProducer::new(shared.clone());
    let payments = PaymentProducer::new(shared.clone());
    let mut generator = Generator::new(args.seed, shared.name());
    let (mut pending, mut order_events, mut order_ids) = (Vec::new(), 0, Vec::new());
    for n in 0..args.orders {
        let flow = generator.order_flow(n);
        if let Some(first) = flow.first() {
            order_ids.push(first.order_id.clone());
        }
        for event in flow {
            pending.push(match event.event_type().stream() {
                Stream::Order => {
                    order_events += 1;
                    orders.enqueue_envelope(&event, None).await?
                }
                Stream::Payment => payments.enqueue_envelope(&event, None).await?,
            });
        }
    }
    let total = pending.len() as u64;
    for p in pending {
        p.await?;
    }
    let malformed: [(&str, &[u8]); 2] = [
        ("ord_broken_1", b"this is not JSON"),
        (
            "ord_broken_2",
            br#"{"event_id":"0190f5d2-3b6c-7d4e-8f00-000000000001","event_type":"order.created","schema_version":1,"occurred_at":"2026-01-01T00:00:00Z","order_id":"ord_broken_2","producer":"demo","data":{}}"#,
        ),
    ];
    for (key, payload) in malformed {
        shared
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
    }
    Ok(Published {
        total,
        order_events,
        order_ids,
    })
}
