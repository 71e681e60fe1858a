//! Client-side adaptive throttling from the Google SRE book ("Handling Overload"), the way
//! go-zero's `core/breaker` googleBreaker does it.
//!
//! Over a rolling window (10 s in 40 buckets) the breaker counts `total` requests sent and
//! `accepts` (successes, and failures the caller deems acceptable, such as a declined card). It
//! sheds a new request with probability
//!
//! ```text
//! drop_ratio = max(0, (total - protection - K * accepts) / (total + 1))
//! ```
//!
//! so nothing is shed while the provider answers (`total ≈ accepts`), and under a full outage
//! almost everything is, without a hard open/closed switch. While shedding, one request is let
//! through whenever nothing has passed for `force_pass` (1 s): that probe is how the breaker
//! notices the provider is back.
//!
//! Shed requests are not added to `total` (go-zero's classic breaker does the same; the SRE book
//! counts them). Counting them makes the ratio feed on itself: with traffic flowing, recovery
//! after an outage then takes several windows, because the ratio only falls by a factor per
//! window. Without them the breaker closes within about one window once the provider answers
//! again (the test sees it close after ~4 s of traffic). The price: under a full outage with
//! steady traffic a fraction of calls still goes out (the ratio settles where the failures that
//! pass keep it up, about 15-20 % of calls at 20 calls/s); a consumer that pauses while
//! [`Breaker::would_allow`] is false cuts that to the probes. Shed requests are still counted in
//! [`BreakerMetrics::dropped`].
//!
//! The states exported for metrics are a reading of that ratio: `Closed` (ratio 0), `Open`
//! (shedding, no probe due) and `HalfOpen` (shedding, but the next request will be let through).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::resilience::window::Window;

/// Breaker settings; the defaults are go-zero's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Off: every call passes and nothing is counted.
    pub enabled: bool,
    /// Length of the rolling window.
    pub window_ms: u64,
    /// Buckets the window is split into (its time resolution).
    pub buckets: u32,
    /// SRE's K: how many requests per accepted one may be sent before shedding starts (> 1).
    pub k: f64,
    /// Requests in the window that are never shed, so a quiet provider's one failure does not
    /// start shedding.
    pub protection: u32,
    /// While shedding, let one request through if none passed for this long (the probe).
    pub force_pass_ms: u64,
    /// Drop ratio at or above which [`Breaker::would_allow`] says "pause" (unless a probe is
    /// due); below it, callers keep sending and let the breaker shed a fraction.
    pub pause_ratio: f64,
    /// Seed for the shedding dice; fixed in tests for repeatable runs, random when absent.
    pub seed: Option<u64>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_ms: 10_000,
            buckets: 40,
            k: 1.5,
            protection: 5,
            force_pass_ms: 1_000,
            pause_ratio: 0.5,
            seed: None,
        }
    }
}

impl BreakerConfig {
    /// Checks the values, naming the bad field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let field = |name: &str| format!("{prefix}breaker.{name}");
        if self.window_ms == 0 {
            return Err(Error::config(field("window_ms"), "must be > 0"));
        }
        if self.buckets == 0 || u64::from(self.buckets) > self.window_ms {
            return Err(Error::config(
                field("buckets"),
                "must be between 1 and window_ms (buckets of at least 1 ms)",
            ));
        }
        if !(self.k.is_finite() && self.k > 1.0) {
            return Err(Error::config(field("k"), "must be a number > 1"));
        }
        if self.force_pass_ms == 0 {
            return Err(Error::config(field("force_pass_ms"), "must be > 0"));
        }
        if !(self.pause_ratio > 0.0 && self.pause_ratio <= 1.0) {
            return Err(Error::config(field("pause_ratio"), "must be in (0, 1]"));
        }
        Ok(())
    }
}

/// The breaker as a metric reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Nothing is shed.
    Closed,
    /// Shedding with probability [`Breaker::drop_ratio`]; no probe due yet.
    Open,
    /// Shedding, but nothing passed for `force_pass_ms`: the next call is let through as a probe.
    HalfOpen,
}

impl BreakerState {
    /// Gauge value: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// A snapshot for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BreakerMetrics {
    /// Current state.
    pub state: BreakerState,
    /// Current shedding probability.
    pub drop_ratio: f64,
    /// Requests sent in the window.
    pub window_total: u64,
    /// Accepted requests in the window.
    pub window_accepts: u64,
    /// Since start: calls that passed and succeeded or failed acceptably.
    pub accepted: u64,
    /// Since start: calls that passed and failed.
    pub failed: u64,
    /// Since start: calls shed.
    pub dropped: u64,
    /// Since start: probes let through while shedding.
    pub forced_passes: u64,
}

#[derive(Debug)]
struct Inner {
    window: Window,
    last_pass: Option<Instant>,
    rng: SmallRng,
    accepted: u64,
    failed: u64,
    dropped: u64,
    forced: u64,
}

/// The adaptive-throttling breaker of one provider. Cheap to consult: one uncontended lock and a
/// few float operations, and the dice are rolled only while shedding.
#[derive(Debug)]
pub struct Breaker {
    enabled: bool,
    k: f64,
    protection: f64,
    force_pass: Duration,
    pause_ratio: f64,
    inner: Mutex<Inner>,
    /// The state the last [`Breaker::allow_at`] found, as its gauge value: read without the
    /// lock or a clock by whoever reports it after every call.
    decided: AtomicU8,
}

impl Breaker {
    /// A breaker from validated settings.
    pub fn new(cfg: &BreakerConfig) -> Result<Self> {
        cfg.validate("")?;
        let rng = match cfg.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Ok(Self {
            enabled: cfg.enabled,
            k: cfg.k,
            protection: f64::from(cfg.protection),
            force_pass: Duration::from_millis(cfg.force_pass_ms),
            pause_ratio: cfg.pause_ratio,
            inner: Mutex::new(Inner {
                window: Window::new(
                    Instant::now(),
                    Duration::from_millis(cfg.window_ms),
                    cfg.buckets as usize,
                ),
                last_pass: None,
                rng,
                accepted: 0,
                failed: 0,
                dropped: 0,
                forced: 0,
            }),
            decided: AtomicU8::new(BreakerState::Closed.as_gauge()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves only counters behind; keep using them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ratio(&self, inner: &Inner) -> f64 {
        let sum = inner.window.sum();
        let (accepts, total) = (sum.a as f64, sum.b as f64);
        ((total - self.protection - self.k * accepts) / (total + 1.0)).max(0.0)
    }

    fn probe_due(&self, inner: &Inner, now: Instant) -> bool {
        inner
            .last_pass
            .is_none_or(|t| now.saturating_duration_since(t) > self.force_pass)
    }

    /// Decides whether a request may go out now; a `false` is counted as a shed request.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    /// [`Breaker::allow`] at a given time (the caller already has one).
    pub fn allow_at(&self, now: Instant) -> bool {
        if !self.enabled {
            return true;
        }
        let mut inner = self.lock();
        inner.window.advance(now);
        let ratio = self.ratio(&inner);
        let decided = |state: BreakerState| self.decided.store(state.as_gauge(), Ordering::Relaxed);
        if ratio <= 0.0 {
            decided(BreakerState::Closed);
            inner.last_pass = Some(now);
            return true;
        }
        if self.probe_due(&inner, now) {
            decided(BreakerState::HalfOpen);
            inner.last_pass = Some(now);
            inner.forced += 1;
            return true;
        }
        decided(BreakerState::Open);
        if inner.rng.random::<f64>() < ratio {
            inner.dropped += 1;
            return false;
        }
        inner.last_pass = Some(now);
        true
    }

    /// Records how a request that was allowed ended: `accepted` for a success or an acceptable
    /// (business) failure.
    pub fn record(&self, accepted: bool) {
        self.record_at(Instant::now(), accepted);
    }

    /// [`Breaker::record`] at a given time.
    pub fn record_at(&self, now: Instant, accepted: bool) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        inner.window.advance(now);
        inner.window.add(i64::from(accepted), 1);
        if accepted {
            inner.accepted += 1;
        } else {
            inner.failed += 1;
        }
    }

    /// The probability a request is shed now.
    pub fn drop_ratio(&self) -> f64 {
        let mut inner = self.lock();
        inner.window.advance(Instant::now());
        self.ratio(&inner)
    }

    /// The state as metrics report it.
    pub fn state(&self) -> BreakerState {
        self.metrics().state
    }

    /// The state the last allow decision found (closed before any): what a call's metrics
    /// report after it, one atomic load, where [`Breaker::state`] takes the lock and the time.
    pub fn decided(&self) -> BreakerState {
        match self.decided.load(Ordering::Relaxed) {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        }
    }

    /// Whether a caller should send work now: `false` while the breaker would shed at least
    /// `pause_ratio` of calls and no probe is due. A consumer group pauses the affected handler
    /// while this is `false` and resumes when it turns `true` (which it does after
    /// `force_pass_ms`, so the probe can go out).
    pub fn would_allow(&self) -> bool {
        if !self.enabled {
            return true;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.window.advance(now);
        self.ratio(&inner) < self.pause_ratio || self.probe_due(&inner, now)
    }

    /// A snapshot for metrics.
    pub fn metrics(&self) -> BreakerMetrics {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.window.advance(now);
        let ratio = self.ratio(&inner);
        let state = if ratio <= 0.0 || !self.enabled {
            BreakerState::Closed
        } else if self.probe_due(&inner, now) {
            BreakerState::HalfOpen
        } else {
            BreakerState::Open
        };
        let sum = inner.window.sum();
        BreakerMetrics {
            state,
            drop_ratio: ratio,
            window_total: u64::try_from(sum.b).unwrap_or(0),
            window_accepts: u64::try_from(sum.a).unwrap_or(0),
            accepted: inner.accepted,
            failed: inner.failed,
            dropped: inner.dropped,
            forced_passes: inner.forced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(&BreakerConfig {
            seed: Some(7),
            ..BreakerConfig::default()
        })
        .expect("valid config")
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_follows_the_sre_formula() {
        let b = breaker();
        // 5 failures are within the protection: nothing is shed.
        for _ in 0..5 {
            b.record(false);
        }
        assert_eq!(b.drop_ratio(), 0.0);
        assert_eq!(b.state(), BreakerState::Closed);
        // 20 failures, 4 accepts: (24 - 5 - 1.5*4) / 25 = 0.52.
        for _ in 0..15 {
            b.record(false);
        }
        for _ in 0..4 {
            b.record(true);
        }
        assert!((b.drop_ratio() - 0.52).abs() < 1e-9, "{}", b.drop_ratio());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_age_out_of_the_window() {
        let b = breaker();
        for _ in 0..50 {
            b.record(false);
        }
        assert!(b.drop_ratio() > 0.8);
        tokio::time::advance(Duration::from_millis(10_300)).await;
        assert_eq!(b.drop_ratio(), 0.0);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = BreakerConfig {
            k: 0.9,
            ..BreakerConfig::default()
        };
        let err = bad
            .validate("sms.resilience.")
            .expect_err("k <= 1 is refused");
        assert!(
            err.to_string().contains("sms.resilience.breaker.k"),
            "{err}"
        );
    }
}
