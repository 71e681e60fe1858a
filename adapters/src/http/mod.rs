//! HTTP plumbing shared by the Twilio, Aliyun, SendGrid and Stripe adapters: the client and the
//! URL helpers an adapter is built with, and [`exchange`], the one request/answer sequence every
//! call goes through (send, read the body, classify the status), to which each provider adds
//! only how its bodies read ([`Api`]).
//!
//! - `exchange`: [`exchange`], the provider hooks ([`Api`]), [`Reply`], [`Refusal`] and
//!   [`Verdict`], and the status classification.
//! - `retry_after`: `Retry-After` as seconds or an HTTP-date.

mod exchange;
mod retry_after;

use std::time::Duration;

use reqwest::Url;

pub(crate) use exchange::{Api, Refusal, Reply, Verdict, exchange, retryable_status};

use crate::error::{Error, Result};

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
