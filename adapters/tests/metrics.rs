//! What calls through the wrapper record, on paused tokio time with a scripted SMS provider:
//! calls by outcome (a success, a 5xx retried into a success, a permanent refusal, shed calls),
//! a latency sample per attempt, the breaker gauge moving closed → open → closed, and one log
//! line when the breaker opens and one when it closes, however many calls it sheds in between.
//! (The contract suite checks the same recording against each real provider's HTTP answers.)

#![allow(clippy::unwrap_used)]

#[path = "support/recorded.rs"]
mod recorded;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters::metrics::{BREAKER_STATE, CALL_SECONDS, CALLS, Kind, Outcome};
use adapters::resilience::{BreakerState, Resilience};
use adapters::resilient::Resilient;
use adapters::sms::{Sms, SmsReceipt, SmsSender};
use adapters::{BoxFuture, Error, Failure, FailureKind, Result};
use recorded::{Readings, Recorded};

const PROVIDER: &str = "scripted";
const LABELS: [(&str, &str); 2] = [("provider", PROVIDER), ("kind", "sms")];

/// Answers from a script, then `then` for every later call.
#[derive(Debug)]
struct Scripted {
    script: Mutex<VecDeque<Option<FailureKind>>>,
    then: Mutex<Option<FailureKind>>,
}

impl Scripted {
    fn push(&self, answers: &[Option<FailureKind>]) {
        self.script.lock().unwrap().extend(answers);
    }

    fn then(&self, answer: Option<FailureKind>) {
        *self.then.lock().unwrap() = answer;
    }
}

impl SmsSender for Scripted {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn send<'a>(&'a self, _sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        let next = self.script.lock().unwrap().pop_front();
        let answer = next.unwrap_or(*self.then.lock().unwrap());
        Box::pin(async move {
            match answer {
                None => Ok(SmsReceipt {
                    provider: PROVIDER,
                    id: "SM1".into(),
                }),
                Some(FailureKind::Server) => Err(Error::retryable(
                    PROVIDER,
                    Failure::new(FailureKind::Server, "503"),
                )),
                Some(kind) => Err(Error::permanent(PROVIDER, Failure::new(kind, "refused"))),
            }
        })
    }
}

fn client() -> Resilient<Arc<Scripted>> {
    // Three attempts, a seeded breaker: the counts are exact.
    let config = testkit::resilience::quick();
    let scripted = Arc::new(Scripted {
        script: Mutex::default(),
        then: Mutex::default(),
    });
    let policy = Resilience::new(PROVIDER, &config).unwrap();
    Resilient::new(Kind::Sms, scripted, Arc::new(policy))
}

fn calls(r: &Readings, outcome: Outcome) -> u64 {
    r.counter(
        CALLS,
        &[LABELS[0], LABELS[1], ("outcome", outcome.as_str())],
    )
}

/// The counts of every outcome, in [`Outcome::ALL`]'s order.
fn all_calls(r: &Readings) -> Vec<u64> {
    Outcome::ALL.iter().map(|&o| calls(r, o)).collect()
}

/// Log output of this thread, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures what this thread logs while the guard lives.
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn lines_with(&self, text: &str) -> usize {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter(|l| l.contains(text))
            .count()
    }
}

const OPENED: &str = "circuit breaker opened";
const CLOSED: &str = "circuit breaker closed";

#[tokio::test(start_paused = true)]
async fn calls_are_counted_by_outcome_and_the_breaker_gauge_follows_the_breaker() {
    let (logs, _logging) = Logs::capture();
    let metrics = Recorded::start();
    let client = client();
    let sms = testkit::providers::sms();
    let r = metrics.read();
    assert_eq!(r.gauge(BREAKER_STATE, &LABELS), Some(0.0), "made closed");

    // A success, a 5xx retried into a success, a permanent refusal.
    client.send(&sms).await.unwrap();
    client.inner().push(&[Some(FailureKind::Server), None]);
    client.send(&sms).await.unwrap();
    client.inner().push(&[Some(FailureKind::InvalidRecipient)]);
    client.send(&sms).await.unwrap_err();
    let r = metrics.read();
    assert_eq!(
        all_calls(&r),
        [2, 0, 1, 0, 0],
        "ok, retryable, permanent, shed, timeout"
    );
    assert_eq!(r.samples(CALL_SECONDS, &LABELS).len(), 4, "one per attempt");
    assert_eq!(r.gauge(BREAKER_STATE, &LABELS), Some(0.0));

    // An outage: failed calls until the breaker sheds one, then more calls while it sheds.
    client.inner().then(Some(FailureKind::Server));
    let mut failed = 0;
    while !matches!(client.send(&sms).await, Err(Error::BreakerOpen { .. })) {
        failed += 1;
        assert!(failed < 100, "the breaker never shed");
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let r = metrics.read();
    assert_eq!(calls(&r, Outcome::Retryable), failed);
    assert_eq!(calls(&r, Outcome::Shed), 1);
    assert_eq!(r.gauge(BREAKER_STATE, &LABELS), Some(2.0), "open");
    for _ in 0..50 {
        let _ = client.send(&sms).await;
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert!(calls(&metrics.read(), Outcome::Shed) > 10);
    assert_eq!(
        logs.lines_with(OPENED),
        1,
        "one line, not one per shed call"
    );
    assert_eq!(logs.lines_with(CLOSED), 0);

    // The provider is back and the outage has left the breaker's window: closed again.
    client.inner().then(None);
    tokio::time::advance(Duration::from_secs(11)).await;
    client.send(&sms).await.unwrap();
    let r = metrics.read();
    assert_eq!(all_calls(&r), [1, 0, 0, 0, 0]);
    assert_eq!(r.gauge(BREAKER_STATE, &LABELS), Some(0.0), "closed");
    assert_eq!(client.resilience().breaker().state(), BreakerState::Closed);
    client.send(&sms).await.unwrap();
    assert_eq!((logs.lines_with(OPENED), logs.lines_with(CLOSED)), (1, 1));
}
