//! HTTP plumbing shared by the Twilio, Aliyun, SendGrid and Stripe adapters: the client, the
//! mapping of transport errors and status codes to retryable or permanent, and `Retry-After`.
//!
//! Transport errors are stripped of their URL before they become messages: Aliyun's URL carries
//! the signed query, and no URL should leak into logs through an error.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::error::{Error, Failure, FailureKind, Result};

/// A client with the attempt timeout as its request timeout (the wrapper's timeout is the main
/// one; this one bounds direct use).
pub(crate) fn client(provider: &'static str, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("orderbus-adapters/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::config(format!("{provider}.client"), e.without_url().to_string()))
}

/// Parses a configured base URL, dropping a trailing slash so paths can be appended.
pub(crate) fn base_url(field: &str, raw: &str) -> Result<String> {
    let url = Url::parse(raw).map_err(|e| Error::config(field, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(field, "must be an http(s) URL"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Encodes one URL path segment (an id from a provider or an event).
pub(crate) fn path_segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// A request that got no HTTP answer: timeouts and connection failures are retryable.
pub(crate) fn transport_error(provider: &'static str, err: reqwest::Error) -> Error {
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

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response, if present and well-formed.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// Classifies a non-success status: 408, 429 and 5xx are retryable (429 and 503 with their
/// `Retry-After`), 401/403 permanent `Unauthorized`, any other 4xx permanent with the kind the
/// provider's error body suggested (`client_kind`).
pub(crate) fn status_error(
    provider: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    client_kind: FailureKind,
    code: Option<String>,
    message: String,
) -> Error {
    let code_num = status.as_u16();
    let failure = |kind| {
        Failure::new(kind, message.clone())
            .with_status(code_num)
            .with_code(code.clone())
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::retryable_after(
            provider,
            failure(FailureKind::RateLimited),
            retry_after(headers),
        );
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Error::retryable_after(
            provider,
            failure(FailureKind::Server),
            retry_after(headers),
        );
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Error::permanent(provider, failure(FailureKind::Unauthorized));
    }
    Error::permanent(provider, failure(client_kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        let h = HeaderMap::new();
        let e = |s: u16| {
            status_error(
                "t",
                StatusCode::from_u16(s).expect("status"),
                &h,
                FailureKind::Rejected,
                None,
                String::new(),
            )
        };
        assert!(e(429).is_retryable());
        assert!(e(500).is_retryable());
        assert!(e(503).is_retryable());
        assert!(!e(400).is_retryable());
        assert!(!e(404).is_retryable());
        assert_eq!(
            e(401).failure().map(|f| f.kind),
            Some(FailureKind::Unauthorized)
        );
    }
}
