//! Helpers shared by the integration tests: quick resilience settings and request inspection.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;

use adapters::resilience::{BreakerConfig, BudgetConfig, ResilienceConfig, RetryConfig};

/// Short timeouts and backoffs so failing paths stay quick; no jitter so counts are exact.
pub fn quick() -> ResilienceConfig {
    ResilienceConfig {
        deadline_ms: 5_000,
        attempt_timeout_ms: 300,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 10,
            max_backoff_ms: 50,
            factor: 2.0,
            jitter: false,
        },
        budget: BudgetConfig::default(),
        breaker: BreakerConfig {
            seed: Some(1),
            ..BreakerConfig::default()
        },
        rate_limit: None,
    }
}

/// A form-encoded body as a map.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The header's value, or "" when absent.
pub fn header(req: &wiremock::Request, name: &str) -> String {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
