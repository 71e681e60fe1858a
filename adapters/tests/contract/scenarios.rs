//! The contract's scenarios, each written once against [`Provider`] and run for every provider.
//! Settings are testkit's `quick()`: 300 ms per attempt, 5 s per call, three attempts. Each
//! scenario that calls through the wrapper also checks what the call recorded ([`recorded`]).

use std::time::{Duration, Instant, SystemTime};

use adapters::metrics::{BREAKER_STATE, CALL_SECONDS, CALLS, Outcome};
use adapters::resilience::ResilienceStats;
use adapters::resilient::Resilient;
use adapters::{Error, FailureKind};
use testkit::http::count;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Provider;
use crate::recorded::Recorded;

/// Longer than any attempt may take.
const SLOW: Duration = Duration::from_secs(2);

/// A server giving `answers` in turn, the last one to every later request too.
async fn serve<P: Provider>(answers: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    let last = answers.len() - 1;
    for (i, answer) in answers.into_iter().enumerate() {
        let mock = Mock::given(method(P::METHOD))
            .respond_with(answer)
            .with_priority(u8::try_from(i + 1).unwrap());
        let mock = if i < last {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(&server).await;
    }
    server
}

fn kind(err: &Error) -> Option<FailureKind> {
    err.failure().map(|f| f.kind)
}

/// Checks what `client` recorded since the last reading: one call, as `outcome` (no other
/// outcome counted), one latency sample per attempt, and the breaker still closed. Returns the
/// latencies.
fn recorded<P: Provider>(
    metrics: &Recorded,
    client: &Resilient<P::Adapter>,
    outcome: Outcome,
    attempts: usize,
) -> Vec<f64> {
    let r = metrics.read();
    let provider = client.resilience().provider();
    let labels = [("provider", provider), ("kind", P::KIND.as_str())];
    for o in Outcome::ALL {
        let with = [labels[0], labels[1], ("outcome", o.as_str())];
        let want = u64::from(o == outcome);
        assert_eq!(r.counter(CALLS, &with), want, "{provider}: {}", o.as_str());
    }
    let latencies = r.samples(CALL_SECONDS, &labels);
    assert_eq!(
        latencies.len(),
        attempts,
        "{provider}: a sample per attempt"
    );
    assert_eq!(r.gauge(BREAKER_STATE, &labels), Some(0.0), "{provider}");
    latencies
}

pub async fn succeeds<P: Provider>() {
    let server = serve::<P>(vec![P::accepted()]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    assert_eq!(P::call(&client).await.unwrap(), P::ID);
    assert_eq!(count(&server).await, 1);
    assert_eq!(client.resilience().stats(), ResilienceStats::default());
    recorded::<P>(&metrics, &client, Outcome::Ok, 1);
}

pub async fn retries_a_5xx_then_succeeds<P: Provider>() {
    let server = serve::<P>(vec![P::server_error(), P::accepted()]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    assert_eq!(P::call(&client).await.unwrap(), P::ID);
    assert_eq!(count(&server).await, 2);
    assert_eq!(client.resilience().stats().retries, 1);
    // One call that succeeded, not a retryable one and an ok one: two attempts.
    recorded::<P>(&metrics, &client, Outcome::Ok, 2);
}

/// Retries once after the 429's `Retry-After` (`value`), which took at least `at_least`.
async fn waits_for_retry_after<P: Provider>(value: &str, at_least: Duration) {
    let limited = P::rate_limited().insert_header("Retry-After", value);
    let server = serve::<P>(vec![limited, P::accepted()]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    let start = Instant::now();
    assert_eq!(P::call(&client).await.unwrap(), P::ID);
    assert!(start.elapsed() >= at_least, "{:?}", start.elapsed());
    assert_eq!(count(&server).await, 2);
    let stats = client.resilience().stats();
    assert_eq!(stats.retries, 1);
    assert_eq!(
        stats.retry_after_waits, 1,
        "the wait was the provider's Retry-After"
    );
    recorded::<P>(&metrics, &client, Outcome::Ok, 2);
}

pub async fn waits_for_retry_after_in_seconds<P: Provider>() {
    waits_for_retry_after::<P>("1", Duration::from_secs(1)).await;
}

pub async fn waits_for_retry_after_as_http_date<P: Provider>() {
    // HTTP-dates have whole seconds, so "2 s from now" is between 1 and 2 s away.
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    waits_for_retry_after::<P>(&at, Duration::from_millis(900)).await;
}

pub async fn does_not_sleep_past_the_deadline<P: Provider>() {
    let limited = P::rate_limited().insert_header("Retry-After", "3600");
    let server = serve::<P>(vec![limited]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    let err = P::call(&client).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
        "{err}"
    );
    assert!(err.is_retryable(), "the retry topic may still honour it");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(kind(&err), Some(FailureKind::RateLimited));
    assert_eq!(count(&server).await, 1);
    // Out of time before its retry: a timeout, whatever the last answer was.
    recorded::<P>(&metrics, &client, Outcome::Timeout, 1);
}

pub async fn permanent_refusal_is_sent_once<P: Provider>() {
    let refused = P::refused();
    let server = serve::<P>(vec![refused.answer]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    let err = P::call(&client).await.unwrap_err();
    assert!(matches!(err, Error::Permanent { .. }), "{err}");
    let failure = err.failure().unwrap();
    assert_eq!(failure.kind, refused.kind, "{err}");
    assert_eq!(failure.code.as_deref(), refused.code, "{err}");
    assert!(err.to_string().contains(refused.message), "{err}");
    assert_eq!(count(&server).await, 1);
    // A refused message or payment says nothing about the provider's health.
    let breaker = client.resilience().breaker().metrics();
    assert_eq!((breaker.accepted, breaker.failed), (1, 0));
    recorded::<P>(&metrics, &client, Outcome::Permanent, 1);
}

pub async fn bad_credentials_are_permanent<P: Provider>() {
    let server = serve::<P>(vec![P::bad_credentials()]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    let err = P::call(&client).await.unwrap_err();
    assert!(matches!(err, Error::Permanent { .. }), "{err}");
    assert_eq!(kind(&err), Some(FailureKind::Unauthorized), "{err}");
    assert_eq!(count(&server).await, 1);
    // Unlike a refusal, refused credentials fail every call: the breaker counts them.
    assert_eq!(client.resilience().breaker().metrics().failed, 1);
    recorded::<P>(&metrics, &client, Outcome::Permanent, 1);
}

pub async fn slow_answers_time_out_and_are_retried<P: Provider>() {
    let server = serve::<P>(vec![P::accepted().set_delay(SLOW)]).await;
    let metrics = Recorded::start();
    let client = P::build(&server.uri());
    let err = P::call(&client).await.unwrap_err();
    assert_eq!(kind(&err), Some(FailureKind::Timeout), "{err}");
    assert!(err.is_retryable());
    assert_eq!(client.resilience().stats().timeouts, 3);
    assert_eq!(count(&server).await, 3);
    // An abandoned attempt counts for as long as it was let run (300 ms).
    let latencies = recorded::<P>(&metrics, &client, Outcome::Timeout, 3);
    assert!(latencies.iter().all(|&s| s > 0.25), "{latencies:?}");
}

pub async fn bare_adapter_times_out_on_its_own<P: Provider>() {
    let server = serve::<P>(vec![P::accepted().set_delay(SLOW)]).await;
    let client = P::build(&server.uri());
    let err = P::call_bare(client.inner()).await.unwrap_err();
    assert_eq!(kind(&err), Some(FailureKind::Timeout), "{err}");
    assert!(err.is_retryable());
    assert_eq!(count(&server).await, 1);
}

pub async fn refused_connection_is_retryable<P: Provider>() {
    // Nothing listens on the discard port.
    let client = P::build("http://127.0.0.1:9");
    let err = P::call_bare(client.inner()).await.unwrap_err();
    assert_eq!(kind(&err), Some(FailureKind::Connection), "{err}");
    assert!(err.is_retryable());
}
