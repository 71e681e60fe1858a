//! The notification worker against a real PostgreSQL (`DATABASE_URL`, default the local
//! `orderbus_test` database) for its dedup store and local HTTP servers speaking Twilio's and
//! SendGrid's API shapes (wiremock): every notifying event reaches the providers exactly once per
//! channel, however often and however concurrently it is handled, through a provider outage, and
//! an unanswered send is never repeated; failures carry their reason codes and deliveries are
//! counted in the metrics. Each test works in its own schema, dropped at the end.

#![allow(clippy::unwrap_used)]

// The adapters tests' reader of a thread-local metrics recorder; not all of it is used here.
#[path = "../../adapters/tests/support/recorded.rs"]
#[allow(dead_code)]
mod recorded;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adapters::email::{EmailConfig, SendgridConfig};
use adapters::resilience::{ResilienceConfig, RetryConfig};
use adapters::sms::{SmsConfig, TwilioConfig};
use consumers::runtime::{Context, Handler, HandlerError};
use events::samples::Generator;
use events::{Envelope, EventType, Secret};
use serde_json::Value;
use testkit::stores::{Schema, database_url};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use workers::metrics::{BATCH_SIZE, NOTIFICATION_DEDUP_HITS, NOTIFICATIONS_SENT};
use workers::notification::{Channel, NotificationConfig, NotificationWorker, Senders, codes};

use recorded::{Readings, Recorded};

const TWILIO_PATH: &str = "/2010-04-01/Accounts/AC123/Messages.json";
const SENDGRID_PATH: &str = "/v3/mail/send";

fn quick() -> ResilienceConfig {
    testkit::resilience::healing()
}

fn senders(twilio: &MockServer, sendgrid: &MockServer, resilience: &ResilienceConfig) -> Senders {
    let sms = SmsConfig::Twilio(TwilioConfig {
        account_sid: "AC123".into(),
        auth_token: Secret::new("twilio-token"),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        base_url: twilio.uri(),
        resilience: resilience.clone(),
    });
    let email = EmailConfig::Sendgrid(SendgridConfig {
        api_key: Secret::new("SG.key"),
        from: "shop@example.com".into(),
        from_name: Some("Shop".into()),
        base_url: sendgrid.uri(),
        resilience: resilience.clone(),
    });
    Senders {
        sms: Some(sms.build().unwrap()),
        email: Some(email.build().unwrap()),
    }
}

async fn worker(senders: Senders, config: NotificationConfig) -> (Arc<NotificationWorker>, Schema) {
    let schema = Schema::fresh().await;
    let url = schema.url.clone();
    let config = NotificationConfig {
        schema: Some(schema.name.clone()),
        breaker_wait_ms: 200,
        ..config
    };
    let worker = NotificationWorker::connect(&url, config, senders)
        .await
        .expect("connect and migrate");
    (Arc::new(worker), schema)
}

async fn providers() -> (MockServer, MockServer) {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM1"})))
        .mount(&twilio)
        .await;
    let sendgrid = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SENDGRID_PATH))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "msg-1"))
        .mount(&sendgrid)
        .await;
    (twilio, sendgrid)
}

fn ctx(attempt: u32) -> Context {
    testkit::handler::context("notification-test", attempt)
}

fn events(seed: u64, orders: u64) -> Vec<Envelope> {
    let mut g = Generator::new(seed, "notification-test");
    (0..orders).flat_map(|i| g.order_flow(i)).collect()
}

/// The customer an event notifies, for the types that notify (confirmation, receipt, shipping
/// notice, action needed). No catch-all: a new event type must be placed here.
fn notified(e: &Envelope) -> Option<&events::Customer> {
    match &e.data {
        events::EventData::OrderCreated(d) => Some(&d.customer),
        events::EventData::OrderPaid(d) => Some(&d.customer),
        events::EventData::OrderShipped(d) => Some(&d.customer),
        events::EventData::PaymentFailed(d) => Some(&d.customer),
        events::EventData::OrderCancelled(_)
        | events::EventData::PaymentAuthorized(_)
        | events::EventData::PaymentCaptured(_)
        | events::EventData::PaymentRefunded(_) => None,
    }
}

/// The (event id) of every e-mail and the (to, body) of every SMS the events call for,
/// computed from the events alone.
fn expected(events: &[Envelope]) -> (HashSet<String>, usize) {
    let mut emails = HashSet::new();
    let mut sms = 0;
    for e in events {
        let Some(customer) = notified(e) else {
            continue;
        };
        if customer.email.is_some() {
            emails.insert(e.event_id.to_string());
        }
        if customer.phone.is_some() {
            sms += 1;
        }
    }
    (emails, sms)
}

/// Handles `event` as the runtime would: retry while the error is retryable (with a short
/// pause, standing in for the runtime's backoff), up to a generous bound. Counts retries.
async fn drive(w: &NotificationWorker, e: &Envelope, retries: &AtomicUsize) {
    let mut last = String::new();
    for attempt in 1..=600 {
        match w.handle(e, &ctx(attempt)).await {
            Ok(()) => return,
            Err(HandlerError::Retryable(r)) => {
                last = r.reason;
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(err) => panic!("{} {}: {err}", e.event_type(), e.event_id),
        }
    }
    panic!("{} never went through: {last}", e.event_id);
}

/// Handles every event from `lanes` concurrent tasks, each twice at the same time.
async fn drive_all(
    w: &Arc<NotificationWorker>,
    events: &[Envelope],
    lanes: usize,
    twice: bool,
) -> usize {
    let retries = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let lane_events: Vec<Envelope> = events.iter().skip(lane).step_by(lanes).cloned().collect();
        let (w, retries) = (w.clone(), retries.clone());
        tasks.spawn(async move {
            for e in &lane_events {
                if twice {
                    tokio::join!(drive(&w, e, &retries), drive(&w, e, &retries));
                } else {
                    drive(&w, e, &retries).await;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    retries.load(Ordering::Relaxed)
}

/// Every request's SMS as (to, body).
async fn sms_sent(server: &MockServer) -> Vec<(String, String)> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| {
            let f = testkit::http::form(&r.body);
            (f["To"].clone(), f["Body"].clone())
        })
        .collect()
}

/// Every request's e-mail reference (the event id).
async fn email_refs(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["custom_args"]["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn rows(w: &NotificationWorker, state: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notification_deliveries WHERE state = $1")
        .bind(state)
        .fetch_one(w.dedup().pool())
        .await
        .unwrap()
}

/// What the worker recorded for `sms` text messages and `emails` e-mails delivered once each
/// and then delivered again: each sent once, the repeats stopped by the dedup claim, one `sent`
/// mark written per message.
fn assert_recorded(r: &Readings, sms: usize, emails: usize) {
    let sent = |c| r.counter(NOTIFICATIONS_SENT, &[("channel", c)]);
    assert_eq!((sent("sms"), sent("email")), (sms as u64, emails as u64));
    let hits = |c| {
        r.counter(
            NOTIFICATION_DEDUP_HITS,
            &[("channel", c), ("claim", "sent")],
        )
    };
    assert!(hits("sms") >= sms as u64 && hits("email") >= emails as u64);
    let marks = r.samples(BATCH_SIZE, &[("batcher", "notification_marks")]);
    assert_eq!(marks.iter().sum::<f64>() as usize, sms + emails);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_each_channel_once_however_often_it_is_handled() {
    let (twilio, sendgrid) = providers().await;
    let metrics = Recorded::start();
    let (w, _schema) = worker(
        senders(&twilio, &sendgrid, &quick()),
        NotificationConfig::default(),
    )
    .await;
    let events = events(11, 60);
    let (emails, sms) = expected(&events);
    assert!(
        sms > 50 && emails.len() > 100,
        "enough traffic: {sms} sms, {} emails",
        emails.len()
    );

    // Every event handled twice at the same time, then everything redelivered once more.
    drive_all(&w, &events, 8, true).await;
    drive_all(&w, &events, 4, false).await;

    let refs = email_refs(&sendgrid).await;
    assert_eq!(refs.len(), emails.len(), "one e-mail per event");
    assert_eq!(refs.iter().cloned().collect::<HashSet<_>>(), emails);
    let texts = sms_sent(&twilio).await;
    assert_eq!(texts.len(), sms, "one SMS per event with a phone");
    assert_eq!(
        texts.iter().collect::<HashSet<_>>().len(),
        sms,
        "no SMS twice"
    );
    assert!(
        texts
            .iter()
            .all(|(to, body)| to.starts_with("+1415555") && !body.contains('{'))
    );
    let sent = i64::try_from(sms + emails.len()).unwrap();
    assert_eq!(rows(&w, "sent").await, sent);
    assert_eq!(rows(&w, "claimed").await, 0);
    assert_recorded(&metrics.read(), sms, emails.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_outage_loses_nothing_and_sends_nothing_twice() {
    let (twilio, sendgrid) = providers().await;
    let (w, _schema) = worker(
        senders(&twilio, &sendgrid, &quick()),
        NotificationConfig::default(),
    )
    .await;
    let events = events(12, 60);
    let (emails, sms) = expected(&events);
    let (before, after) = events.split_at(events.len() / 3);
    drive_all(&w, before, 4, false).await;
    let sent_before = sms_sent(&twilio).await.len();
    assert!(sent_before > 0);

    // Twilio fails the next 60 requests with 503, then answers again.
    const OUTAGE: usize = 60;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(OUTAGE as u64)
        .with_priority(1)
        .mount(&twilio)
        .await;
    let retries = drive_all(&w, after, 8, false).await;

    let texts = sms_sent(&twilio).await;
    let distinct: HashSet<_> = texts.iter().collect();
    assert_eq!(distinct.len(), sms, "every SMS went out");
    assert_eq!(
        texts.len() - OUTAGE,
        sms,
        "the only repeats are the 503'd attempts"
    );
    assert!(retries > 0, "the outage sent events back for retry");
    let breaker = w
        .senders()
        .resilience(Channel::Sms)
        .unwrap()
        .breaker()
        .metrics();
    assert!(breaker.failed >= OUTAGE as u64, "{breaker:?}");
    // E-mail went on through the SMS outage, each exactly once.
    let refs = email_refs(&sendgrid).await;
    assert_eq!(refs.len(), emails.len());
    assert_eq!(refs.into_iter().collect::<HashSet<_>>(), emails);
    assert_eq!(rows(&w, "claimed").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_send_is_never_repeated_and_a_refused_one_may_be() {
    let (twilio, sendgrid) = (MockServer::start().await, MockServer::start().await);
    // SendGrid takes the mail but answers after the attempt timeout.
    Mock::given(method("POST"))
        .and(path(SENDGRID_PATH))
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(2)))
        .mount(&sendgrid)
        .await;
    // Twilio says the number is invalid (21211): permanent, and the claim is given back.
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"code": 21211, "message": "The 'To' number +14155550007 is not a valid phone number."}),
        ))
        .mount(&twilio)
        .await;
    let resilience = ResilienceConfig {
        retry: RetryConfig {
            max_attempts: 1,
            ..quick().retry
        },
        ..quick()
    };
    let (w, _schema) = worker(
        senders(&twilio, &sendgrid, &resilience),
        NotificationConfig::default(),
    )
    .await;
    let mut g = Generator::new(5, "notification-test");
    let mut event = g.one(EventType::OrderShipped, 7);
    if let events::EventData::OrderShipped(d) = &mut event.data {
        d.customer.phone = Some("+14155550007".into());
    }
    for round in 1..=3 {
        let err = w
            .handle(&event, &ctx(round))
            .await
            .expect_err("both channels fail");
        let HandlerError::Permanent(failure) = err else {
            panic!("round {round}: {err}")
        };
        // The first channel's code: the dead letter's reason.
        assert_eq!(failure.code, codes::INVALID_PHONE, "round {round}");
        let reason = failure.reason;
        assert!(
            reason.contains("email") && reason.contains("not re-sent"),
            "{reason}"
        );
        assert!(
            reason.contains("sms") && !reason.contains("+14155550007"),
            "contact masked: {reason}"
        );
    }
    assert_eq!(
        email_refs(&sendgrid).await.len(),
        1,
        "an unanswered e-mail is never repeated"
    );
    assert_eq!(
        sms_sent(&twilio).await.len(),
        3,
        "a refused SMS may be tried again"
    );
    assert_eq!(rows(&w, "unknown").await, 1);
}

#[tokio::test]
async fn a_channel_without_a_provider_fails_the_start_naming_the_key() {
    let config = NotificationConfig {
        channels: vec![Channel::Sms],
        ..NotificationConfig::default()
    };
    let err = NotificationWorker::connect(&database_url(), config, Senders::default())
        .await
        .expect_err("sms needs a provider");
    assert!(err.to_string().contains("workers.sms"), "{err}");
}
