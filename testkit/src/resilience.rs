//! Quick resilience settings for provider and worker tests: short timeouts and backoffs so
//! failing paths stay quick, no jitter and a seeded breaker so counts are exact.

use adapters::resilience::{BreakerConfig, BudgetConfig, ResilienceConfig, RetryConfig};

/// Short timeouts (300 ms per attempt, 5 s per call), three attempts 10-50 ms apart, the
/// default breaker with a fixed seed.
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

/// [`quick`] for workers calling providers through the runtime: 500 ms per attempt, 3 s per
/// call, and a breaker that lets a probe through every `force_pass_ms`.
pub fn for_workers(force_pass_ms: u64) -> ResilienceConfig {
    let mut r = quick();
    r.deadline_ms = 3_000;
    r.attempt_timeout_ms = 500;
    r.breaker.force_pass_ms = force_pass_ms;
    r
}

/// [`for_workers`] with a breaker that forgets within 2 s and probes every 100 ms, so an
/// outage heals within a test's patience.
pub fn healing() -> ResilienceConfig {
    let mut r = for_workers(100);
    r.breaker.window_ms = 2_000;
    r.breaker.buckets = 20;
    r
}
