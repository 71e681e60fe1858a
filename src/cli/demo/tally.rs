//! Counting by event: each demo group's handler is wrapped so that the ids of the events it
//! handled are kept beside the number of handler calls. A redelivery (after a rebalance, or a
//! commit that did not reach the broker) calls the handler again for an event it already
//! handled, so calls can reach the number of events while some event was never handled; the
//! ids cannot.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use consumers::runtime::{Context, Handler, HandlerError};
use events::Envelope;
use tokio::sync::watch;
use uuid::Uuid;

use super::hold::Hold;

/// What one group's handler did, shared by every member of the group.
#[derive(Debug)]
pub struct Tally {
    handled: Mutex<HashSet<Uuid>>,
    /// Handler calls, watched so a caller can await a number of them.
    calls: watch::Sender<u64>,
    duplicates: AtomicU64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            handled: Mutex::default(),
            calls: watch::Sender::new(0),
            duplicates: AtomicU64::new(0),
        }
    }
}

impl Tally {
    /// One handler call for `id`; `ok` when the handler succeeded.
    pub fn record(&self, id: Uuid, ok: bool) {
        self.calls.send_modify(|n| *n += 1);
        if ok && !self.lock().insert(id) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Distinct events handled.
    pub fn handled(&self) -> u64 {
        self.lock().len() as u64
    }

    /// Handler calls, whatever they returned.
    pub fn calls(&self) -> u64 {
        *self.calls.borrow()
    }

    /// Successful calls for an event already handled.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Those of `ids` never handled.
    pub fn unhandled<'a>(&self, ids: impl IntoIterator<Item = &'a Uuid>) -> Vec<Uuid> {
        let handled = self.lock();
        ids.into_iter()
            .filter(|id| !handled.contains(id))
            .copied()
            .collect()
    }

    /// Returns once the handler has been called `calls` times.
    pub async fn reached(&self, calls: u64) {
        let mut watching = self.calls.subscribe();
        // The sender lives in `self`, so the wait cannot fail while `self` is borrowed.
        let _ = watching.wait_for(|n| *n >= calls).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        // The set stays right however a panicking holder left it: inserts are atomic.
        self.handled.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A worker whose calls are recorded in a [`Tally`]. Clones share the tally, so a second
/// member of the group (`--rebalance-after`) counts into the same one.
#[derive(Debug, Clone)]
pub struct Recorded<H> {
    handler: H,
    tally: Arc<Tally>,
    hold: Hold,
}

impl<H: Handler> Recorded<H> {
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            tally: Arc::default(),
            hold: Hold::None,
        }
    }

    pub fn tally(&self) -> Arc<Tally> {
        Arc::clone(&self.tally)
    }
}

impl<H: Handler + Clone> Recorded<H> {
    /// The same handler and tally, for a member whose calls `hold` governs.
    pub fn holding(&self, hold: Hold) -> Self {
        Self {
            hold,
            ..self.clone()
        }
    }
}

impl<H: Handler> Handler for Recorded<H> {
    fn name(&self) -> &str {
        self.handler.name()
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        self.hold.before(self.tally.calls(), &ctx.cancel).await;
        let result = self.handler.handle(event, ctx).await;
        self.tally.record(event.event_id, result.is_ok());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeliveries_are_counted_as_duplicates_not_as_events() {
        let tally = Tally::default();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        // The first two events, each delivered twice, and a failed try of the third: as many
        // calls as there are events and more, yet the third was never handled.
        for id in [ids[0], ids[1], ids[0], ids[1]] {
            tally.record(id, true);
        }
        tally.record(ids[2], false);
        assert_eq!(tally.calls(), 5);
        assert_eq!(tally.handled(), 2);
        assert_eq!(tally.duplicates(), 2);
        assert_eq!(tally.unhandled(&ids), vec![ids[2]]);
        tally.record(ids[2], true);
        assert!(tally.unhandled(&ids).is_empty());
        assert_eq!((tally.handled(), tally.duplicates()), (3, 2));
    }

    #[tokio::test]
    async fn reached_returns_once_the_calls_were_made() {
        let tally = Arc::new(Tally::default());
        let waiting = tokio::spawn({
            let tally = Arc::clone(&tally);
            async move { tally.reached(2).await }
        });
        tally.record(Uuid::new_v4(), true);
        assert!(!waiting.is_finished());
        tally.record(Uuid::new_v4(), false);
        waiting.await.expect("joins");
    }
}
