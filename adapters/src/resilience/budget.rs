//! The retry budget, a token bucket after Finagle's `RetryBudget`: every call deposits
//! `percent` of a token, every retry withdraws a whole one, and `min_per_second` retries per
//! second are always allowed on top. Deposits and withdrawals expire after `ttl_ms`, so the budget
//! tracks recent traffic. During an outage retries therefore add at most about `percent` to the
//! load on the provider instead of multiplying it by the attempt count.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::resilience::window::Window;

/// Milli-tokens per token: keeps fractional deposits exact in integer buckets.
const TOKEN: i64 = 1_000;
/// Time resolution of the budget's window.
const BUCKETS: usize = 10;

/// Retry-budget settings; the defaults are Finagle's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Off: retries are limited only by `retry.max_attempts` and the deadline.
    pub enabled: bool,
    /// Retries allowed as a fraction of calls in the last `ttl_ms` (0.2 = 20 %).
    pub percent: f64,
    /// Retries per second allowed regardless of traffic, so a quiet provider can still retry.
    pub min_per_second: u32,
    /// How long deposits and withdrawals count.
    pub ttl_ms: u64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            percent: 0.2,
            min_per_second: 10,
            ttl_ms: 10_000,
        }
    }
}

impl BudgetConfig {
    /// Checks the values, naming the bad field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        if !(self.percent.is_finite() && (0.0..=10.0).contains(&self.percent)) {
            return Err(Error::config(
                format!("{prefix}budget.percent"),
                "must be between 0 and 10 (0.2 = 20 %)",
            ));
        }
        if self.ttl_ms < 1_000 || self.ttl_ms > 60_000 {
            return Err(Error::config(
                format!("{prefix}budget.ttl_ms"),
                "must be between 1000 and 60000",
            ));
        }
        Ok(())
    }
}

/// A provider's retry budget.
///
/// Deposits happen on every call, so they avoid the lock: each bucket of the TTL is one atomic
/// word packing (bucket index, calls), bumped with a compare-and-swap; a word still holding an
/// older index is simply restarted. Withdrawals happen only on the failure path and keep a
/// locked window.
#[derive(Debug)]
pub struct RetryBudget {
    enabled: bool,
    deposit: i64,
    reserve: i64,
    start: Instant,
    bucket_nanos: u64,
    calls: [AtomicU64; BUCKETS],
    withdrawals: Mutex<Window>,
}

impl RetryBudget {
    /// A budget from validated settings.
    pub fn new(cfg: &BudgetConfig) -> Result<Self> {
        cfg.validate("")?;
        let ttl = Duration::from_millis(cfg.ttl_ms);
        let start = Instant::now();
        // The reserve is spread over the TTL: min_per_second for each second of it.
        let reserve = i64::from(cfg.min_per_second) * TOKEN * (cfg.ttl_ms as i64) / 1_000;
        Ok(Self {
            enabled: cfg.enabled,
            deposit: (cfg.percent * TOKEN as f64).round() as i64,
            reserve,
            start,
            bucket_nanos: cfg.ttl_ms * 1_000_000 / BUCKETS as u64,
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            withdrawals: Mutex::new(Window::new(start, ttl, BUCKETS)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.withdrawals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bucket index of `now`, truncated to the 32 bits packed with the count.
    fn bucket(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.start).as_nanos() as u64;
        (nanos / self.bucket_nanos) & u64::from(u32::MAX)
    }

    /// Counts a call (its first attempt).
    pub fn deposit_at(&self, now: Instant) {
        if !self.enabled || self.deposit == 0 {
            return;
        }
        let bucket = self.bucket(now);
        let slot = &self.calls[(bucket % BUCKETS as u64) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let next = if current >> 32 == bucket {
                current + 1
            } else {
                (bucket << 32) | 1
            };
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Calls counted in the TTL ending at `now`, as milli-tokens.
    fn deposits(&self, now: Instant) -> i64 {
        let bucket = self.bucket(now);
        let calls: u64 = self
            .calls
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|v| bucket.wrapping_sub(v >> 32) & u64::from(u32::MAX) < BUCKETS as u64)
            .map(|v| v & u64::from(u32::MAX))
            .sum();
        i64::try_from(calls)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.deposit)
    }

    /// Takes a token for one retry; `false` when the budget is spent.
    pub fn try_withdraw_at(&self, now: Instant) -> bool {
        if !self.enabled {
            return true;
        }
        let deposits = self.deposits(now);
        let mut w = self.lock();
        w.advance(now);
        if self.reserve + deposits + w.sum().a >= TOKEN {
            w.add(-TOKEN, 0);
            true
        } else {
            false
        }
    }

    /// Whole retries available now.
    pub fn balance(&self) -> i64 {
        let now = Instant::now();
        let deposits = self.deposits(now);
        let mut w = self.lock();
        w.advance(now);
        (self.reserve + deposits + w.sum().a) / TOKEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_fraction_of_calls_plus_a_reserve() {
        let budget = RetryBudget::new(&BudgetConfig {
            percent: 0.1,
            min_per_second: 1,
            ttl_ms: 10_000,
            ..BudgetConfig::default()
        })
        .expect("valid");
        let now = Instant::now();
        for _ in 0..100 {
            budget.deposit_at(now);
        }
        // 10 % of 100 calls + 1/s over 10 s = 20 retries, then no more.
        let granted = (0..1_000).filter(|_| budget.try_withdraw_at(now)).count();
        assert_eq!(granted, 20);
        // Once the window has passed, the withdrawals expire along with the deposits and only the
        // reserve is left.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(budget.balance(), 10);
    }
}
