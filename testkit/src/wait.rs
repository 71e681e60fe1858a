//! Waiting for a condition instead of sleeping for a guessed time. Every wait has a generous
//! bound that only turns a stall into a failure with a message; nothing is timed.

use std::time::Duration;

use tokio::sync::watch;

/// How long a wait may take before the test fails as stalled.
pub const STALL: Duration = Duration::from_secs(180);

/// Waits until `holds` is true, for state that offers no notification (counters, gauges, files,
/// a child's output): checked every few milliseconds.
pub async fn wait_until(what: &str, mut holds: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STALL;
    while !holds() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The blocking form of [`wait_until`], for tests and helpers without a runtime.
pub fn wait_until_blocking(what: &str, bound: Duration, mut holds: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + bound;
    while !holds() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the watched count reaches `n`.
pub async fn wait_for(rx: &mut watch::Receiver<usize>, n: usize) {
    let reached = tokio::time::timeout(STALL, rx.wait_for(|c| *c >= n))
        .await
        .is_ok();
    assert!(reached, "stalled at {} of {n}", *rx.borrow());
}
