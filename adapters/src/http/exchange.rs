//! One HTTP exchange, the same for every HTTP provider: send the request, read the whole answer,
//! and turn it into the call's result. What differs between providers is only how their bodies
//! read, which each supplies as the two hooks of [`Api`]:
//!
//! - a 2xx goes to [`Api::accepted`], which returns the call's value, or a [`Refusal`] for APIs
//!   that answer some failures with HTTP 200 (Aliyun);
//! - anything else goes to [`Api::refused`], which reads the provider's code and message.
//!
//! A refusal is then classified here, by its status unless the provider's [`Verdict`] says
//! otherwise: 429 is retryable `RateLimited`, 5xx and 408 retryable `Server` (both with their
//! `Retry-After`), 401/403 permanent `Unauthorized`, anything else permanent with the kind the
//! provider read. A request that gets no answer is retryable (`Timeout`, `Connection`); one that
//! could not be built is permanent (`Protocol`).
//!
//! Transport errors are stripped of their URL before they become messages: Aliyun's URL carries
//! the signed query, and no URL should leak into logs through an error.

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Error, Failure, FailureKind, Result};
use crate::http::retry_after::retry_after;

/// How one provider's HTTP API shapes its answers: the hooks [`exchange`] calls once it has
/// read an answer. Hooks only read; [`exchange`] decides retryable or permanent.
pub(crate) trait Api {
    /// Provider name in errors.
    const PROVIDER: &'static str;

    /// What a successful call returns.
    type Output;

    /// Reads a 2xx answer.
    fn accepted(&self, reply: &Reply<'_>) -> Result<Self::Output, Refusal>;

    /// Reads any other answer: the provider's code and message, and what they mean.
    fn refused(&self, reply: &Reply<'_>) -> Refusal;
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

impl Reply<'_> {
    /// The body as JSON.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(self.body)
    }

    /// A header's value, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A provider's account of a failed call, as its hook read it from the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The kind when the status says "permanent, the request's fault" (a 4xx other than 401, 403,
    /// 408 and 429): `Rejected`, or what the provider's code means (`InvalidRecipient`, ...).
    pub kind: FailureKind,
    /// The provider's error code.
    pub code: Option<String>,
    /// The provider's message; the status's reason phrase when `None`.
    pub message: Option<String>,
    /// Stripe's decline code.
    pub decline_code: Option<String>,
    /// What decides retryable or permanent.
    pub verdict: Verdict,
}

impl Refusal {
    /// A refusal of `kind` with nothing else known, decided by its status.
    pub(crate) fn new(kind: FailureKind) -> Self {
        Self {
            kind,
            code: None,
            message: None,
            decline_code: None,
            verdict: Verdict::ByStatus,
        }
    }
}

/// What decides whether a refusal is retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The HTTP status, as the module docs say.
    ByStatus,
    /// The provider's answer: retryable with this kind whatever the status (Aliyun `Throttling*`,
    /// `Stripe-Should-Retry: true`).
    Retry(FailureKind),
    /// The provider's answer: permanent with this kind whatever the status (Aliyun `isv.*`,
    /// Stripe card errors).
    Permanent(FailureKind),
}

/// Sends `request` and reads the answer with `api`'s hooks: one attempt, no retry (the
/// resilience wrapper retries).
pub(crate) async fn exchange<A: Api>(api: &A, request: RequestBuilder) -> Result<A::Output> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(A::PROVIDER, e))?;
    let status = response.status();
    // Taken rather than cloned: reading the body consumes the response, and the hooks still need
    // the headers (`X-Message-Id`, `Retry-After`, `Stripe-Should-Retry`).
    let headers = std::mem::take(response.headers_mut());
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(A::PROVIDER, e))?;
    let reply = Reply {
        status,
        headers: &headers,
        body: &body,
    };
    let refusal = if status.is_success() {
        match api.accepted(&reply) {
            Ok(output) => return Ok(output),
            Err(refusal) => refusal,
        }
    } else {
        api.refused(&reply)
    };
    Err(refusal_error(A::PROVIDER, &reply, refusal))
}

/// Whether the status alone makes a refusal worth retrying: 429, 408 and 5xx.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// The kind and retryability a status gives a refusal read as `client_kind`.
fn by_status(status: StatusCode, client_kind: FailureKind) -> (FailureKind, bool) {
    if status == StatusCode::TOO_MANY_REQUESTS {
        (FailureKind::RateLimited, true)
    } else if retryable_status(status) {
        (FailureKind::Server, true)
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        (FailureKind::Unauthorized, false)
    } else {
        (client_kind, false)
    }
}

/// The error for a refusal: retryable ones carry the answer's `Retry-After`.
fn refusal_error(provider: &'static str, reply: &Reply<'_>, refusal: Refusal) -> Error {
    let (kind, retryable) = match refusal.verdict {
        Verdict::ByStatus => by_status(reply.status, refusal.kind),
        Verdict::Retry(kind) => (kind, true),
        Verdict::Permanent(kind) => (kind, false),
    };
    let message = refusal
        .message
        .unwrap_or_else(|| reply.status.canonical_reason().unwrap_or("").to_owned());
    let failure = Failure {
        kind,
        status: Some(reply.status.as_u16()),
        code: refusal.code,
        decline_code: refusal.decline_code,
        message,
    };
    if retryable {
        Error::retryable_after(provider, failure, retry_after(reply.headers))
    } else {
        Error::permanent(provider, failure)
    }
}

/// A request that got no HTTP answer: timeouts and connection failures are retryable.
fn transport_error(provider: &'static str, err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() {
        FailureKind::Timeout
    } else if err.is_builder() {
        FailureKind::Protocol
    } else {
        FailureKind::Connection
    };
    let failure = Failure::new(kind, error_chain(&err.without_url()));
    if kind == FailureKind::Protocol {
        Error::permanent(provider, failure)
    } else {
        Error::retryable(provider, failure)
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    fn classify(status: u16, headers: &HeaderMap, refusal: Refusal) -> Error {
        let reply = Reply {
            status: StatusCode::from_u16(status).expect("status"),
            headers,
            body: b"",
        };
        refusal_error("t", &reply, refusal)
    }

    fn by(status: u16) -> Error {
        classify(
            status,
            &HeaderMap::new(),
            Refusal::new(FailureKind::InvalidRecipient),
        )
    }

    fn kind(e: &Error) -> Option<FailureKind> {
        e.failure().map(|f| f.kind)
    }

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        for (status, expected, retryable) in [
            (429, FailureKind::RateLimited, true),
            (500, FailureKind::Server, true),
            (503, FailureKind::Server, true),
            (408, FailureKind::Server, true),
            (401, FailureKind::Unauthorized, false),
            (403, FailureKind::Unauthorized, false),
            // Other 4xx keep the kind the provider's body gave.
            (400, FailureKind::InvalidRecipient, false),
            (404, FailureKind::InvalidRecipient, false),
        ] {
            let e = by(status);
            assert_eq!(kind(&e), Some(expected), "{status}");
            assert_eq!(e.is_retryable(), retryable, "{status}");
            assert_eq!(e.failure().and_then(|f| f.status), Some(status));
        }
    }

    #[test]
    fn retryable_refusals_carry_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let seven = Some(Duration::from_secs(7));
        let plain = Refusal::new(FailureKind::Rejected);
        assert_eq!(classify(429, &headers, plain.clone()).retry_after(), seven);
        assert_eq!(classify(503, &headers, plain.clone()).retry_after(), seven);
        assert_eq!(classify(400, &headers, plain).retry_after(), None);
    }

    #[test]
    fn the_providers_verdict_wins_over_the_status() {
        let h = HeaderMap::new();
        let retry = Refusal {
            verdict: Verdict::Retry(FailureKind::RateLimited),
            ..Refusal::new(FailureKind::Rejected)
        };
        let e = classify(400, &h, retry);
        assert!(e.is_retryable());
        assert_eq!(kind(&e), Some(FailureKind::RateLimited));
        let permanent = Refusal {
            verdict: Verdict::Permanent(FailureKind::Rejected),
            ..Refusal::new(FailureKind::Rejected)
        };
        assert!(!classify(503, &h, permanent).is_retryable());
    }

    #[test]
    fn the_providers_words_are_kept() {
        let h = HeaderMap::new();
        let refusal = Refusal {
            code: Some("card_declined".into()),
            message: Some("Your card was declined.".into()),
            decline_code: Some("insufficient_funds".into()),
            verdict: Verdict::Permanent(FailureKind::Declined),
            ..Refusal::new(FailureKind::Rejected)
        };
        let e = classify(402, &h, refusal);
        let f = e.failure().expect("failure");
        assert_eq!(f.code.as_deref(), Some("card_declined"));
        assert_eq!(f.decline_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(f.message, "Your card was declined.");
        assert!(e.is_acceptable(), "a decline is a business answer");
        // Without a message the reason phrase stands in.
        let e = by(503);
        assert_eq!(
            e.failure().map(|f| f.message.as_str()),
            Some("Service Unavailable")
        );
    }
}
