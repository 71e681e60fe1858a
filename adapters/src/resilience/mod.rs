//! One resilience wrapper for every adapter: [`Resilience::call`] runs a provider call through a
//! circuit breaker, a rate limiter, a per-attempt timeout and retries, inside an overall deadline,
//! configured per provider by [`ResilienceConfig`].
//!
//! Per attempt the order is **breaker → rate limit → timeout → call**, with the retry loop around
//! all of it (so the breaker is consulted again before every retry). The breaker comes before the
//! rate limiter, not after: a call the breaker will shed should fail at once, letting the
//! consumer pause, rather than first queue for a permit (up to its whole deadline) and then be
//! shed; and permits are then spent only on requests that really go out. The rate-limit wait
//! counts against the deadline but not against the attempt timeout, which measures the provider.
//!
//! Retries happen only for retryable errors, at most `retry.max_attempts` attempts, each backoff
//! at least the provider's `Retry-After`, never sleeping past the deadline, and only while the
//! retry budget has tokens (`budget.rs`). Permanent errors return after one attempt.
//!
//! - [`breaker`]: SRE adaptive throttling (go-zero's googleBreaker).
//! - [`retry`]: backoff settings and the wait decision.
//! - [`budget`]: the Finagle-style retry budget.
//! - [`rate_limit`]: governor on tokio time.
//! - `window`: the rolling bucket window the breaker and the budget share.

pub mod breaker;
pub mod budget;
pub mod rate_limit;
pub mod retry;
mod window;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use breaker::{Breaker, BreakerConfig, BreakerMetrics, BreakerState};
pub use budget::{BudgetConfig, RetryBudget};
pub use rate_limit::{RateLimit, RateLimitConfig};
pub use retry::RetryConfig;

use crate::error::{Error, Failure, FailureKind, Result};

/// Resilience settings of one provider (`[sms.resilience]`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceConfig {
    /// Overall time for one call: rate-limit waits, attempts and backoffs together.
    pub deadline_ms: u64,
    /// Time for one attempt (also the HTTP client's request timeout).
    pub attempt_timeout_ms: u64,
    /// Retry attempts and backoff.
    pub retry: RetryConfig,
    /// Retry budget.
    pub budget: BudgetConfig,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
    /// Rate limit; none when absent.
    pub rate_limit: Option<RateLimitConfig>,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            deadline_ms: 10_000,
            attempt_timeout_ms: 3_000,
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            breaker: BreakerConfig::default(),
            rate_limit: None,
        }
    }
}

impl ResilienceConfig {
    /// Checks every value; the error names the field under `prefix` (e.g. `sms.resilience.`).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        if self.deadline_ms == 0 {
            return Err(Error::config(format!("{prefix}deadline_ms"), "must be > 0"));
        }
        if self.attempt_timeout_ms == 0 || self.attempt_timeout_ms > self.deadline_ms {
            return Err(Error::config(
                format!("{prefix}attempt_timeout_ms"),
                "must be > 0 and <= deadline_ms",
            ));
        }
        self.retry.validate(prefix)?;
        self.budget.validate(prefix)?;
        self.breaker.validate(prefix)?;
        if let Some(rl) = &self.rate_limit {
            rl.validate(prefix)?;
        }
        Ok(())
    }

    /// The per-attempt timeout.
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }
}

/// Counters since start, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResilienceStats {
    /// Retries made (attempts after the first).
    pub retries: u64,
    /// Retries whose wait was set by the provider's `Retry-After`.
    pub retry_after_waits: u64,
    /// Attempts that timed out (the attempt timeout, or the adapter's own).
    pub timeouts: u64,
    /// Calls shed by the breaker.
    pub shed: u64,
    /// Calls that stopped retrying because the budget was spent.
    pub budget_exhausted: u64,
    /// Calls that ran out of deadline.
    pub deadline_exceeded: u64,
    /// Attempts that waited for a rate-limit permit.
    pub rate_limited: u64,
}

#[derive(Debug, Default)]
struct Counters {
    retries: AtomicU64,
    retry_after_waits: AtomicU64,
    timeouts: AtomicU64,
    shed: AtomicU64,
    budget_exhausted: AtomicU64,
    deadline_exceeded: AtomicU64,
    rate_limited: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The resilience policy of one provider; share it (`Arc`) between the adapter wrapper and
/// whoever watches the breaker.
#[derive(Debug)]
pub struct Resilience {
    provider: &'static str,
    deadline: Duration,
    attempt_timeout: Duration,
    retry: RetryConfig,
    breaker: Breaker,
    budget: RetryBudget,
    limiter: Option<RateLimit>,
    acceptable: fn(&Error) -> bool,
    counters: Counters,
}

impl Resilience {
    /// A policy for `provider` from settings, validated (errors name the field).
    pub fn new(provider: &'static str, cfg: &ResilienceConfig) -> Result<Self> {
        cfg.validate("resilience.")?;
        Ok(Self {
            provider,
            deadline: Duration::from_millis(cfg.deadline_ms),
            attempt_timeout: cfg.attempt_timeout(),
            retry: cfg.retry.clone(),
            breaker: Breaker::new(&cfg.breaker)?,
            budget: RetryBudget::new(&cfg.budget)?,
            limiter: cfg.rate_limit.as_ref().map(RateLimit::new).transpose()?,
            acceptable: Error::is_acceptable,
            counters: Counters::default(),
        })
    }

    /// Replaces the "acceptable error" predicate: errors it accepts count as successes for the
    /// breaker. The default, [`Error::is_acceptable`], accepts business refusals (declined card,
    /// invalid recipient, request rejected as invalid).
    #[must_use]
    pub fn with_acceptable(mut self, acceptable: fn(&Error) -> bool) -> Self {
        self.acceptable = acceptable;
        self
    }

    /// The provider this policy guards.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The breaker, for its state and metrics.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The retry budget.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Whether to send work now (see [`Breaker::would_allow`]); a consumer pauses while `false`.
    pub fn would_allow(&self) -> bool {
        self.breaker.would_allow()
    }

    /// Counters since start.
    pub fn stats(&self) -> ResilienceStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ResilienceStats {
            retries: get(&c.retries),
            retry_after_waits: get(&c.retry_after_waits),
            timeouts: get(&c.timeouts),
            shed: get(&c.shed),
            budget_exhausted: get(&c.budget_exhausted),
            deadline_exceeded: get(&c.deadline_exceeded),
            rate_limited: get(&c.rate_limited),
        }
    }

    /// Runs `op` (one attempt per invocation) under the policy. `op` must be safe to repeat:
    /// adapters make it so with idempotency keys where the provider supports them.
    pub async fn call<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        // Computed only when needed: a call that succeeds at once never looks at it.
        let deadline = || start + self.deadline;
        self.budget.deposit_at(start);
        let mut attempts: u32 = 0;
        let mut backoff = None;
        let mut now = start;
        loop {
            if !self.breaker.allow_at(now) {
                bump(&self.counters.shed);
                return Err(Error::BreakerOpen {
                    provider: self.provider,
                });
            }
            if let Some(limiter) = &self.limiter {
                match limiter.acquire(deadline()).await {
                    Ok(waited) => {
                        if waited {
                            bump(&self.counters.rate_limited);
                            now = Instant::now();
                        }
                    }
                    Err(_) => return Err(self.past_deadline(attempts, None)),
                }
            }
            let attempt_deadline = || deadline().min(now + self.attempt_timeout);
            attempts += 1;
            let outcome = match timeout_at(attempt_deadline, op()).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    let waited = attempt_deadline().saturating_duration_since(now);
                    Err(Error::retryable(
                        self.provider,
                        Failure::new(FailureKind::Timeout, format!("no answer within {waited:?}")),
                    ))
                }
            };
            let error = match outcome {
                Ok(value) => {
                    // Recorded at the attempt's start: saves a clock read on the hot path, and
                    // an attempt is at most `attempt_timeout` long, so the bucket is close enough.
                    self.breaker.record_at(now, true);
                    return Ok(value);
                }
                Err(error) => error,
            };
            now = Instant::now();
            self.breaker.record_at(now, (self.acceptable)(&error));
            // Ours or the HTTP client's (whichever fired first), a timeout is a timeout.
            if error
                .failure()
                .is_some_and(|f| f.kind == FailureKind::Timeout)
            {
                bump(&self.counters.timeouts);
            }
            if !error.is_retryable() || attempts >= self.retry.max_attempts {
                return Err(error);
            }
            let step = backoff
                .get_or_insert_with(|| self.retry.backoff())
                .next()
                .unwrap_or(Duration::from_millis(self.retry.max_backoff_ms));
            let retry_after = error.retry_after();
            let Some(wait) =
                retry::next_wait(step, retry_after, deadline().saturating_duration_since(now))
            else {
                return Err(self.past_deadline(attempts, Some(error)));
            };
            if !self.budget.try_withdraw_at(now) {
                bump(&self.counters.budget_exhausted);
                return Err(Error::BudgetExhausted {
                    provider: self.provider,
                    attempts,
                    last: Box::new(error),
                });
            }
            bump(&self.counters.retries);
            if retry_after.is_some_and(|ra| ra >= step) {
                bump(&self.counters.retry_after_waits);
            }
            tracing::debug!(provider = self.provider, attempts, ?wait, %error, "retrying");
            tokio::time::sleep(wait).await;
            now = Instant::now();
        }
    }

    fn past_deadline(&self, attempts: u32, last: Option<Error>) -> Error {
        bump(&self.counters.deadline_exceeded);
        Error::DeadlineExceeded {
            provider: self.provider,
            attempts,
            last: last.map(Box::new),
        }
    }
}

/// `tokio::time::timeout_at`, but the timer is armed only if the attempt does not finish on its
/// first poll: creating and dropping a tokio timer takes the timer driver's lock, which would be
/// most of the wrapper's cost for a call that needs no waiting. A call that waits (every real
/// network call) gets an ordinary tokio timeout.
async fn timeout_at<F: Future>(
    deadline: impl FnOnce() -> Instant,
    fut: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => tokio::time::timeout_at(deadline(), fut).await,
    }
}
