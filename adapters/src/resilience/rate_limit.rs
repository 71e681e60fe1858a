//! Per-provider rate limiting with `governor` (GCRA), waiting for a permit rather than failing,
//! but never past the call's deadline. Governor reads time through [`TokioClock`], so paused
//! tokio time in tests drives it too.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Rate-limit settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests that may go out at once after a quiet spell (defaults to `per_second`).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    fn quota(&self, prefix: &str) -> Result<Quota> {
        let rate = NonZeroU32::new(self.per_second).ok_or_else(|| {
            Error::config(format!("{prefix}rate_limit.per_second"), "must be > 0")
        })?;
        let burst = match self.burst {
            None => rate,
            Some(b) => NonZeroU32::new(b)
                .ok_or_else(|| Error::config(format!("{prefix}rate_limit.burst"), "must be > 0"))?,
        };
        Ok(Quota::per_second(rate).allow_burst(burst))
    }

    /// Checks the values, naming the bad field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        self.quota(prefix).map(|_| ())
    }
}

/// Governor's clock on tokio's time, as the duration since the limiter was made.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// A provider's rate limiter.
#[derive(Debug)]
pub struct RateLimit {
    limiter: Limiter,
}

/// The permit could not be had before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastDeadline;

impl RateLimit {
    /// A limiter from validated settings.
    pub fn new(cfg: &RateLimitConfig) -> Result<Self> {
        let quota = cfg.quota("")?;
        let clock = TokioClock {
            start: Instant::now(),
        };
        Ok(Self {
            limiter: RateLimiter::direct_with_clock(quota, clock),
        })
    }

    /// Takes a permit now if one is free.
    pub fn try_acquire(&self) -> bool {
        self.limiter.check().is_ok()
    }

    /// Waits for a permit; gives up at once (without sleeping) if the wait would end after
    /// `deadline`. Returns whether it had to wait.
    pub async fn acquire(&self, deadline: Instant) -> Result<bool, PastDeadline> {
        let mut waited = false;
        loop {
            match self.limiter.check() {
                Ok(()) => return Ok(waited),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.limiter.clock().now());
                    if Instant::now() + wait > deadline {
                        return Err(PastDeadline);
                    }
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_a_permit_within_the_deadline_only() {
        let limit = RateLimit::new(&RateLimitConfig {
            per_second: 2,
            burst: Some(1),
        })
        .expect("valid");
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(limit.acquire(far).await, Ok(false));
        // The next permit is 500 ms away: a deadline 100 ms out is refused without sleeping.
        let before = Instant::now();
        let near = before + Duration::from_millis(100);
        assert_eq!(limit.acquire(near).await, Err(PastDeadline));
        assert_eq!(Instant::now(), before);
        // With room, it waits for it.
        assert_eq!(limit.acquire(far).await, Ok(true));
        assert!(Instant::now() >= before + Duration::from_millis(500));
    }

    #[test]
    fn zero_rate_is_refused_by_name() {
        let err = RateLimitConfig {
            per_second: 0,
            burst: None,
        }
        .validate("stripe.resilience.")
        .expect_err("zero rate");
        assert!(
            err.to_string()
                .contains("stripe.resilience.rate_limit.per_second")
        );
    }
}
