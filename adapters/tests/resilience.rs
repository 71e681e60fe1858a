//! The resilience wrapper on paused tokio time with a scripted provider: the breaker opens under
//! sustained failure, sheds, lets a probe through after 1 s and closes again; acceptable errors
//! do not trip it; the retry budget bounds retries in an outage; deadlines and rate limits hold.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use adapters::resilience::{
    BreakerConfig, BreakerState, BudgetConfig, RateLimitConfig, Resilience, ResilienceConfig,
    RetryConfig,
};
use adapters::{Error, Failure, FailureKind};
use tokio::time::Instant;

fn config(max_attempts: u32) -> ResilienceConfig {
    ResilienceConfig {
        deadline_ms: 10_000,
        attempt_timeout_ms: 1_000,
        retry: RetryConfig {
            max_attempts,
            initial_backoff_ms: 10,
            max_backoff_ms: 100,
            factor: 2.0,
            jitter: false,
        },
        budget: BudgetConfig {
            enabled: false,
            ..BudgetConfig::default()
        },
        breaker: BreakerConfig {
            seed: Some(42),
            ..BreakerConfig::default()
        },
        rate_limit: None,
    }
}

/// A provider that is up or down on demand and counts the calls that reached it.
#[derive(Default)]
struct Provider {
    down: AtomicBool,
    calls: AtomicU32,
}

impl Provider {
    async fn call(&self) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(Error::retryable(
                "fake",
                Failure::new(FailureKind::Server, "503"),
            ))
        } else {
            Ok(())
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_sheds_probes_and_closes() {
    let policy = Resilience::new("fake", &config(1)).unwrap();
    let provider = Provider::default();
    provider.down.store(true, Ordering::SeqCst);

    // Sustained failure, 100 calls 10 ms apart.
    let mut shed = 0;
    for _ in 0..100 {
        if matches!(
            policy.call(|| provider.call()).await,
            Err(Error::BreakerOpen { .. })
        ) {
            shed += 1;
        }
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert!(shed > 50, "most calls are shed once it opens, got {shed}");
    assert_eq!(
        provider.calls() + shed,
        100,
        "a shed call never reaches the provider"
    );
    assert_eq!(policy.breaker().state(), BreakerState::Open);
    assert!(policy.breaker().drop_ratio() > 0.5);
    assert!(!policy.would_allow(), "a consumer would pause now");
    assert_eq!(policy.stats().shed, u64::from(shed));

    // The provider recovers; after 1 s without a pass a probe is due.
    provider.down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_millis(1_100)).await;
    assert_eq!(policy.breaker().state(), BreakerState::HalfOpen);
    assert!(policy.would_allow());
    let before = provider.calls();
    policy.call(|| provider.call()).await.unwrap();
    assert_eq!(
        provider.calls(),
        before + 1,
        "the probe reached the provider"
    );
    assert_eq!(policy.breaker().metrics().forced_passes, 1);

    // Traffic continues; successes (and failures ageing out) close it within the window.
    let mut closed_after = None;
    for step in 0..300 {
        let _ = policy.call(|| provider.call()).await;
        tokio::time::advance(Duration::from_millis(50)).await;
        if policy.breaker().state() == BreakerState::Closed {
            closed_after = Some(step);
            break;
        }
    }
    assert!(closed_after.is_some(), "breaker never closed");
    assert_eq!(policy.breaker().drop_ratio(), 0.0);
    policy.call(|| provider.call()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn acceptable_errors_do_not_trip_the_breaker() {
    let policy = Resilience::new("fake", &config(3)).unwrap();
    let calls = AtomicU32::new(0);
    for _ in 0..200 {
        let err = policy
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::permanent(
                    "fake",
                    Failure::new(FailureKind::Declined, "insufficient_funds"),
                ))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Permanent { .. }));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        200,
        "no retries, nothing shed"
    );
    assert_eq!(policy.breaker().state(), BreakerState::Closed);
    assert_eq!(policy.breaker().metrics().accepted, 200);
    // An unacceptable permanent error (bad credentials) does count as failure.
    for _ in 0..20 {
        let _ = policy
            .call(|| async {
                Err::<(), _>(Error::permanent(
                    "fake",
                    Failure::new(FailureKind::Unauthorized, "401"),
                ))
            })
            .await;
    }
    assert_eq!(policy.breaker().metrics().failed, 20);
}

#[tokio::test(start_paused = true)]
async fn retry_budget_bounds_retries_in_an_outage() {
    let mut cfg = config(5);
    cfg.breaker.enabled = false;
    cfg.budget = BudgetConfig {
        enabled: true,
        percent: 0.1,
        min_per_second: 1,
        ttl_ms: 10_000,
    };
    let policy = Resilience::new("fake", &cfg).unwrap();
    let provider = Provider::default();
    provider.down.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let mut exhausted = 0;
    for _ in 0..200 {
        if matches!(
            policy.call(|| provider.call()).await,
            Err(Error::BudgetExhausted { .. })
        ) {
            exhausted += 1;
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "all within one budget window"
    );
    let retries = policy.stats().retries;
    // 10 % of 200 calls + 1/s reserve over the 10 s TTL = 30 retries; without a budget, 800.
    assert!(retries <= 30, "retries {retries}");
    assert!(
        retries >= 20,
        "the budget does allow some retries: {retries}"
    );
    assert_eq!(u64::from(provider.calls()), 200 + retries);
    assert!(exhausted > 150, "{exhausted}");
}

#[tokio::test(start_paused = true)]
async fn deadline_bounds_attempts_and_backoff() {
    let mut cfg = config(10);
    cfg.deadline_ms = 1_000;
    cfg.attempt_timeout_ms = 300;
    let policy = Resilience::new("fake", &cfg).unwrap();
    let attempts = AtomicU32::new(0);
    let start = Instant::now();
    let err = policy
        .call(|| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), Error>>().await
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(
        start.elapsed() <= Duration::from_millis(1_000),
        "{:?}",
        start.elapsed()
    );
    let n = attempts.load(Ordering::SeqCst);
    assert!((3..=4).contains(&n), "{n} attempts");
    assert_eq!(policy.stats().timeouts, u64::from(n));
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_deadline_returns_at_once() {
    let policy = Resilience::new("fake", &config(3)).unwrap();
    let start = Instant::now();
    let err = policy
        .call(|| async {
            Err::<(), _>(Error::retryable_after(
                "fake",
                Failure::new(FailureKind::RateLimited, "slow down"),
                Some(Duration::from_secs(60)),
            ))
        })
        .await
        .unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no sleep past the deadline"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(policy.stats().deadline_exceeded, 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_calls_within_the_deadline() {
    let mut cfg = config(1);
    cfg.rate_limit = Some(RateLimitConfig {
        per_second: 10,
        burst: Some(1),
    });
    let policy = Resilience::new("fake", &cfg).unwrap();
    let provider = Provider::default();
    let start = Instant::now();
    for _ in 0..5 {
        policy.call(|| provider.call()).await.unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(policy.stats().rate_limited, 4);

    // With a deadline shorter than the next permit, the call gives up without waiting.
    let mut tight = cfg.clone();
    tight.deadline_ms = 50;
    tight.attempt_timeout_ms = 50;
    let policy = Resilience::new("fake", &tight).unwrap();
    policy.call(|| provider.call()).await.unwrap();
    let err = policy.call(|| provider.call()).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 0, .. }),
        "{err}"
    );
}
