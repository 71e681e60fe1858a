//! Traces continue across Kafka: a daemon (`orderbus consume` as a child process) with
//! `[telemetry]` pointing at a local OTLP/HTTP collector exports, for an event published with a
//! known `traceparent`, a consumer span in the same trace whose parent is the publisher's span.
//! The collector here is a small HTTP server that keeps every OTLP/JSON body it receives.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use events::TraceParent;
use events::samples::Generator;
use producers::EventProducer;
use tokio::sync::watch;

type Bodies = Arc<Mutex<Vec<serde_json::Value>>>;

#[derive(Clone)]
struct Collector {
    bodies: Bodies,
    /// Bumped on every body, so the test awaits arrivals instead of polling.
    arrived: Arc<watch::Sender<usize>>,
}

async fn collect(State(c): State<Collector>, body: String) -> &'static str {
    if let Ok(v) = serde_json::from_str(&body) {
        c.bodies.lock().expect("lock").push(v);
        c.arrived.send_modify(|n| *n += 1);
    }
    "{}"
}

/// Every exported span as (traceId, spanId, parentSpanId, name, kind).
fn spans(bodies: &Bodies) -> Vec<(String, String, String, String, i64)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_lowercase();
    let mut out = Vec::new();
    for body in bodies.lock().expect("lock").iter() {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push((
                        text(&s["traceId"]),
                        text(&s["spanId"]),
                        text(&s["parentSpanId"]),
                        text(&s["name"]),
                        s["kind"].as_i64().unwrap_or_default(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_span_continues_the_publishers_trace() {
    let bodies: Bodies = Arc::default();
    let (arrived, mut arrivals) = watch::channel(0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(Collector {
            bodies: Arc::clone(&bodies),
            arrived: Arc::new(arrived),
        });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let topics = testkit::topics::fresh_topics(2).await;
    let group = testkit::unique("it-trace");
    let mut config = tempfile::NamedTempFile::new().expect("file");
    write!(
        config,
        "[topics]\norder_events = \"{}\"\npayment_events = \"{}\"\npartitions = 2\n\n\
         [telemetry]\notlp_endpoint = \"{collector}\"\nprotocol = \"http/json\"\n\
         service_name = \"orderbus-it\"\n\n\
         [groups.{group}]\nworker = \"log\"\nsession_timeout_ms = 6000\n\
         max_poll_interval_ms = 10000\n",
        topics.order_events, topics.payment_events,
    )
    .expect("write");
    let mut daemon = testkit::orderbus!()
        .env("RUST_LOG", "info,rdkafka=warn")
        .args(["consume", "--group", &group, "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(config.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn daemon");

    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let event = Generator::new(9, "it").order_flow(1).remove(0);
    let parent = TraceParent::new_root();
    producer
        .enqueue(&event, Some(parent))
        .await
        .expect("enqueued")
        .await
        .expect("delivered");
    let trace_id = parent.header_value()[3..35].to_owned();
    let span_id = parent.header_value()[36..52].to_owned();

    // Spans are exported in batches every few seconds; the bound only turns a missing span into
    // a failure with what did arrive.
    let wanted = |bodies: &Bodies| {
        spans(bodies)
            .into_iter()
            .find(|(t, _, p, _, _)| *t == trace_id && *p == span_id)
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        arrivals.wait_for(|_| wanted(&bodies).is_some()),
    )
    .await;
    let found = wanted(&bodies);
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait().expect("wait");
    let (_, own_id, _, name, kind) = found.unwrap_or_else(|| {
        panic!(
            "no span in trace {trace_id} with parent {span_id}; got {:?}",
            spans(&bodies)
        )
    });
    assert_eq!(name, format!("{} process", topics.order_events));
    // OTLP SpanKind 5 is CONSUMER.
    assert_eq!(kind, 5);
    assert_ne!(own_id, span_id, "a span of its own, not the publisher's");
    assert!(status.success(), "daemon exit: {status:?}");
}
