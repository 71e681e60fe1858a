//! What makes `--rebalance-after` redeliver for certain. A second member joining a group only
//! redelivers what the first had handled and not yet committed when its partitions were
//! revoked, and a fast group may have committed everything by then. So once the group's handler
//! was called the given number of times, the first member's further calls wait until the second
//! member handles an event: those events are in flight on partitions the rebalance takes away,
//! the revoke cannot commit them (its drain times out), their new owner handles them, and then
//! the waiting calls finish them a second time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The longest a held call waits: past it the hold gives up rather than stall the demo (the
/// run then may not redeliver, which the forced-rebalance test notices). The embedded broker
/// takes about ten seconds from the second member's start to its first event (the first
/// members hear of the join at their next heartbeat, then the group waits for every member to
/// rejoin), and the demo gives up on a group that made no progress for a minute.
const LONGEST: Duration = Duration::from_secs(30);

/// Whether a member's handler calls wait, or open the wait for the others.
#[derive(Debug, Clone, Default)]
pub enum Hold {
    /// Calls never wait.
    #[default]
    None,
    /// The first member's: calls made once the group's handler was called `after` times wait
    /// for the gate.
    After { after: u64, gate: Gate },
    /// The second member's: its first call opens the gate.
    Opens(Gate),
}

/// Shut until the second member handles an event.
#[derive(Debug, Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    pub fn shut() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Hold {
    /// The first member's hold, and the second member's.
    pub fn pair(after: u64) -> (Hold, Hold) {
        let gate = Gate::shut();
        (
            Hold::After {
                after,
                gate: gate.clone(),
            },
            Hold::Opens(gate),
        )
    }

    /// Before a handler call, `calls` calls into the group so far: waits, opens or does
    /// nothing. A shutdown (`cancel`) ends the wait.
    pub async fn before(&self, calls: u64, cancel: &CancellationToken) {
        match self {
            Hold::None => {}
            Hold::Opens(Gate(open)) => {
                open.send_replace(true);
            }
            Hold::After { after, gate } if calls >= *after => {
                let mut opened = gate.0.subscribe();
                tokio::select! {
                    _ = opened.wait_for(|open| *open) => {}
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(LONGEST) => {}
                }
            }
            Hold::After { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_member_waits_past_its_calls_until_the_second_handles_one() {
        let (first, second) = Hold::pair(2);
        let cancel = CancellationToken::new();
        // Below the number of calls, no wait.
        first.before(1, &cancel).await;
        let held = tokio::spawn({
            let (first, cancel) = (first.clone(), cancel.clone());
            async move { first.before(2, &cancel).await }
        });
        tokio::task::yield_now().await;
        assert!(!held.is_finished());
        second.before(0, &cancel).await;
        held.await.expect("joins");
        // Open for good: later calls pass at once.
        first.before(9, &cancel).await;
    }
}
