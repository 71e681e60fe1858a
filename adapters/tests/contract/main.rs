//! The provider contract: every HTTP provider (Twilio, Aliyun, SendGrid, Stripe), built from its
//! config against a local server that answers in the provider's own API shapes, handles the same
//! situations the same way: success; a 5xx, then success; 429 with `Retry-After` in seconds or as
//! an HTTP-date, and one reaching past the deadline; a permanent refusal (exactly one request,
//! not held against the provider's health); bad credentials; answers too slow for the wrapper
//! and for the bare adapter's own client; a refused connection. Each call through the wrapper
//! is also recorded in the metrics as the outcome it had, with one latency sample per attempt.
//!
//! [`Provider`] says how to build one provider and how its API shapes each answer; the scenarios
//! (`scenarios.rs`) are written once against it, and `contract!` runs each one for every provider
//! as `<provider>::<scenario>` (`cargo test -p adapters --test contract stripe::`). What only one
//! provider does (request shape, signing, idempotency keys, secrets) stays in its own test file.

#![allow(clippy::unwrap_used)]

mod providers;
#[path = "../support/recorded.rs"]
mod recorded;
mod scenarios;

use adapters::metrics::Kind;
use adapters::resilient::Resilient;
use adapters::{FailureKind, Result};
use wiremock::ResponseTemplate;

/// A permanent refusal in a provider's shape, and what the adapter must read from it.
struct Refused {
    /// The answer.
    answer: ResponseTemplate,
    /// The kind it means.
    kind: FailureKind,
    /// The provider's error code, as the failure must carry it.
    code: Option<&'static str>,
    /// Part of the provider's message, which the error must carry.
    message: &'static str,
}

/// How one HTTP provider is built against a local server, called, and how its API answers.
trait Provider {
    /// The adapter inside the wrapper, as workers hold it (`Arc<dyn SmsSender>`, ...).
    type Adapter;

    /// The HTTP method of the call.
    const METHOD: &'static str;

    /// The provider's id in [`Provider::accepted`].
    const ID: &'static str;

    /// The `kind` its metrics are labelled with.
    const KIND: Kind;

    /// The provider built from its config (testkit's, with quick resilience) against `base`.
    fn build(base: &str) -> Resilient<Self::Adapter>;

    /// One call through the wrapper, answering the provider's id.
    async fn call(client: &Resilient<Self::Adapter>) -> Result<String>;

    /// One call of the bare adapter (one attempt, its own client timeout).
    async fn call_bare(adapter: &Self::Adapter) -> Result<String>;

    /// The provider took the request.
    fn accepted() -> ResponseTemplate;

    /// The provider failed (5xx).
    fn server_error() -> ResponseTemplate;

    /// A 429 in the provider's shape; scenarios add the `Retry-After`.
    fn rate_limited() -> ResponseTemplate;

    /// A refusal that will not change on retry.
    fn refused() -> Refused;

    /// The answer to credentials the provider does not accept.
    fn bad_credentials() -> ResponseTemplate;
}

/// Every scenario for every provider, each a test named `<provider>::<scenario>`.
macro_rules! contract {
    (providers: [$($name:ident: $provider:ty),+ $(,)?], scenarios: $scenarios:tt) => {
        $(contract!(@provider $name, $provider, $scenarios);)+
    };
    (@provider $name:ident, $provider:ty, [$($scenario:ident),+ $(,)?]) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $scenario() {
                    crate::scenarios::$scenario::<$provider>().await;
                }
            )+
        }
    };
}

contract!(
    providers: [
        twilio: crate::providers::Twilio,
        aliyun: crate::providers::Aliyun,
        sendgrid: crate::providers::Sendgrid,
        stripe: crate::providers::Stripe,
    ],
    scenarios: [
        succeeds,
        retries_a_5xx_then_succeeds,
        waits_for_retry_after_in_seconds,
        waits_for_retry_after_as_http_date,
        does_not_sleep_past_the_deadline,
        permanent_refusal_is_sent_once,
        bad_credentials_are_permanent,
        slow_answers_time_out_and_are_retried,
        bare_adapter_times_out_on_its_own,
        refused_connection_is_retryable,
    ]
);
