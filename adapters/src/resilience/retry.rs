//! Retry policy: how many attempts, the exponential backoff with jitter between them (built with
//! `backon`), and how a provider's `Retry-After` and the call's deadline bend it. The loop that
//! applies it lives in [`super::Resilience::call`]; the decisions are pure functions here so they
//! can be tested without time.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Retry settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per call, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry.
    pub initial_backoff_ms: u64,
    /// Largest backoff.
    pub max_backoff_ms: u64,
    /// Growth per retry.
    pub factor: f32,
    /// Add random jitter (up to one more backoff) so callers do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff_ms: 100,
            max_backoff_ms: 5_000,
            factor: 2.0,
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// Checks the values, naming the bad field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let field = |name: &str| format!("{prefix}retry.{name}");
        if self.max_attempts == 0 {
            return Err(Error::config(field("max_attempts"), "must be >= 1"));
        }
        if self.initial_backoff_ms == 0 {
            return Err(Error::config(field("initial_backoff_ms"), "must be > 0"));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(Error::config(
                field("max_backoff_ms"),
                "must be >= initial_backoff_ms",
            ));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Error::config(field("factor"), "must be a number >= 1"));
        }
        Ok(())
    }

    /// The backoff sequence for one call; built only once a call fails, so successful calls pay
    /// nothing for it.
    pub(crate) fn backoff(&self) -> ExponentialBackoff {
        let builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(self.initial_backoff_ms))
            .with_max_delay(Duration::from_millis(self.max_backoff_ms))
            .with_factor(self.factor)
            .without_max_times();
        if self.jitter {
            builder.with_jitter().build()
        } else {
            builder.build()
        }
    }
}

/// How long to wait before the next attempt, or `None` to stop because the wait would end past
/// the deadline (`remaining`). A provider's `Retry-After` is a floor: we never come back sooner
/// than it asked, and never sleep past the deadline for it either (the error keeps the
/// `Retry-After`, so the caller's retry topic can honour it instead).
pub(crate) fn next_wait(
    backoff: Duration,
    retry_after: Option<Duration>,
    remaining: Duration,
) -> Option<Duration> {
    let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
    (wait < remaining).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn retry_after_is_a_floor_and_the_deadline_a_ceiling() {
        assert_eq!(next_wait(100 * MS, None, 1_000 * MS), Some(100 * MS));
        assert_eq!(
            next_wait(100 * MS, Some(700 * MS), 1_000 * MS),
            Some(700 * MS)
        );
        assert_eq!(
            next_wait(900 * MS, Some(700 * MS), 1_000 * MS),
            Some(900 * MS)
        );
        assert_eq!(next_wait(100 * MS, Some(2_000 * MS), 1_000 * MS), None);
        assert_eq!(next_wait(1_000 * MS, None, 1_000 * MS), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = RetryConfig {
            jitter: false,
            initial_backoff_ms: 100,
            max_backoff_ms: 300,
            ..RetryConfig::default()
        };
        // backon computes in f32 seconds, so compare whole milliseconds.
        let delays: Vec<_> = cfg.backoff().take(4).map(|d| d.as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 300, 300]);
    }

    #[test]
    fn validation_names_the_field() {
        let err = RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        }
        .validate("email.resilience.")
        .expect_err("zero attempts");
        assert!(
            err.to_string()
                .contains("email.resilience.retry.max_attempts")
        );
    }
}
