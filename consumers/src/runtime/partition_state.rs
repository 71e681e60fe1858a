//! What one Kafka client knows about the partitions it owns, for safe commits: per partition,
//! the offset to commit is the lowest one still being handled (or one past the highest seen when
//! nothing is in flight), so a commit never moves past an unfinished event, whatever order events
//! of different keys finish in. Gaps in offsets (compaction, transaction markers) need no special
//! case: only received offsets count.
//!
//! Each received event gets a [`Ticket`] (its coordinates and the assignment it came under);
//! [`Ticket::done`] is the one place an offset is marked finished.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// One partition's received-but-unfinished offsets.
#[derive(Debug, Clone, Default)]
pub struct PartitionOffsets {
    /// Which assignment of the partition this is; work from an earlier one is stale.
    generation: u64,
    in_flight: BTreeSet<i64>,
    /// One past the highest offset received.
    next: Option<i64>,
    /// The last offset handed out for commit.
    committed: Option<i64>,
}

impl PartitionOffsets {
    /// An event at `offset` was handed to the scheduler.
    pub fn received(&mut self, offset: i64) {
        self.in_flight.insert(offset);
        self.next = Some(self.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// The event at `offset` is finished (handled, retried elsewhere or dead-lettered).
    pub fn done(&mut self, offset: i64) {
        self.in_flight.remove(&offset);
    }

    /// Events received and not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The offset it is safe to commit now (Kafka's "next offset to read"): every offset below
    /// it that was received is finished.
    pub fn commit_point(&self) -> Option<i64> {
        self.in_flight.first().copied().or(self.next)
    }

    /// The commit point if it moved since the last call, marking it as committed.
    pub fn take_commit(&mut self) -> Option<i64> {
        let point = self.commit_point()?;
        if self.committed.is_some_and(|c| c >= point) {
            return None;
        }
        self.committed = Some(point);
        Some(point)
    }
}

/// Offsets of every partition a consumer owns, keyed by (topic, partition). Each time a
/// partition is (re)assigned it gets a new generation, so work received under an earlier
/// assignment can be recognised as stale after a revoke.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<(String, i32), PartitionOffsets>,
    generations: u64,
}

impl OffsetTracker {
    /// Records a received event; returns the partition's current generation.
    pub fn received(&mut self, topic: &str, partition: i32, offset: i64) -> u64 {
        let key = (topic.to_owned(), partition);
        if !self.partitions.contains_key(&key) {
            self.generations += 1;
            let generation = self.generations;
            self.partitions.insert(
                key.clone(),
                PartitionOffsets {
                    generation,
                    ..PartitionOffsets::default()
                },
            );
        }
        let p = self.partitions.entry(key).or_default();
        p.received(offset);
        p.generation
    }

    /// Records a finished event. Work from a revoked assignment is ignored: the new owner
    /// re-reads from the last commit, which never passed this event.
    pub fn done(&mut self, topic: &str, partition: i32, offset: i64, generation: u64) {
        if let Some(p) = self.partitions.get_mut(&(topic.to_owned(), partition))
            && p.generation == generation
        {
            p.done(offset);
        }
    }

    /// Whether work received under `generation` still belongs to this consumer.
    pub fn is_current(&self, topic: &str, partition: i32, generation: u64) -> bool {
        self.partitions
            .get(&(topic.to_owned(), partition))
            .is_some_and(|p| p.generation == generation)
    }

    /// Commit points that moved since the last call.
    pub fn take_commits(&mut self) -> Vec<(String, i32, i64)> {
        let mut out: Vec<(String, i32, i64)> = self
            .partitions
            .iter_mut()
            .filter_map(|((t, p), o)| o.take_commit().map(|at| (t.clone(), *p, at)))
            .collect();
        out.sort();
        out
    }

    /// Every partition's commit point now (committed or not).
    pub fn commit_points(&self) -> Vec<(String, i32, i64)> {
        self.partitions
            .iter()
            .filter_map(|((t, p), o)| o.commit_point().map(|at| (t.clone(), *p, at)))
            .collect()
    }

    /// Forgets a partition (revoked), returning its final commit point.
    pub fn revoke(&mut self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .remove(&(topic.to_owned(), partition))
            .and_then(|p| p.commit_point())
    }

    /// Events received and not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(PartitionOffsets::in_flight)
            .sum()
    }

    /// Events received and not finished in the given partitions.
    pub fn in_flight_of(&self, partitions: &[(String, i32)]) -> usize {
        partitions
            .iter()
            .filter_map(|k| self.partitions.get(k))
            .map(PartitionOffsets::in_flight)
            .sum()
    }
}

/// What one Kafka client shares with the processors and its rebalance callback.
#[derive(Debug, Default)]
pub(crate) struct ClientState {
    tracker: Mutex<OffsetTracker>,
    /// Events of this client held in the delay queue: in flight, but nothing to wait for
    /// when draining.
    pub(crate) delayed: AtomicUsize,
}

impl ClientState {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut OffsetTracker) -> R) -> R {
        // A poisoned lock means a panic while holding it; the tracker's data is still sound.
        let mut guard = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Records a received message and hands out its ticket.
    pub(crate) fn receive(self: &Arc<Self>, topic: &str, partition: i32, offset: i64) -> Ticket {
        let generation = self.with(|t| t.received(topic, partition, offset));
        Ticket {
            client: Arc::clone(self),
            partition,
            offset,
            generation,
        }
    }
}

/// A received event's claim on its offset: finished by [`Ticket::done`], or dropped unfinished
/// (shutdown, revoke), in which case its offset is never committed past.
#[derive(Debug)]
pub(crate) struct Ticket {
    client: Arc<ClientState>,
    partition: i32,
    offset: i64,
    generation: u64,
}

impl Ticket {
    /// Whether the partition is still this client's under the same assignment.
    pub(crate) fn is_current(&self, topic: &str) -> bool {
        self.client
            .with(|t| t.is_current(topic, self.partition, self.generation))
    }

    /// The event is finished (handled, parked on the retry topic, or dead-lettered): its
    /// offset may be committed past.
    pub(crate) fn done(self, topic: &str) {
        self.client
            .with(|t| t.done(topic, self.partition, self.offset, self.generation));
    }

    /// The client the event came through.
    pub(crate) fn client(&self) -> &Arc<ClientState> {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_stop_at_the_lowest_unfinished_offset() {
        let mut p = PartitionOffsets::default();
        assert_eq!(p.commit_point(), None, "nothing seen, nothing to commit");
        for o in 10..15 {
            p.received(o);
        }
        assert_eq!(p.commit_point(), Some(10));
        p.done(12);
        p.done(13);
        assert_eq!(
            p.commit_point(),
            Some(10),
            "12 and 13 done, 10 still running"
        );
        p.done(10);
        assert_eq!(p.commit_point(), Some(11));
        p.done(11);
        assert_eq!(p.commit_point(), Some(14));
        p.done(14);
        assert_eq!(p.commit_point(), Some(15), "all done: one past the highest");
    }

    #[test]
    fn gaps_in_offsets_do_not_block_commits() {
        let mut p = PartitionOffsets::default();
        for o in [3, 7, 8, 20] {
            p.received(o);
        }
        for o in [3, 7, 8] {
            p.done(o);
        }
        assert_eq!(p.commit_point(), Some(20));
        p.done(20);
        assert_eq!(p.commit_point(), Some(21));
    }

    #[test]
    fn take_commit_reports_each_advance_once() {
        let mut p = PartitionOffsets::default();
        p.received(0);
        p.received(1);
        assert_eq!(p.take_commit(), Some(0));
        assert_eq!(p.take_commit(), None, "unchanged");
        p.done(1);
        assert_eq!(p.take_commit(), None, "0 still running");
        p.done(0);
        assert_eq!(p.take_commit(), Some(2));
    }

    #[test]
    fn random_completion_orders_never_commit_past_an_unfinished_event() {
        use rand::seq::SliceRandom;
        let mut rng = rand::rng();
        for _ in 0..200 {
            let mut p = PartitionOffsets::default();
            let mut offsets: Vec<i64> = (0..50).collect();
            offsets.iter().for_each(|o| p.received(*o));
            offsets.shuffle(&mut rng);
            let mut finished = BTreeSet::new();
            for o in offsets {
                p.done(o);
                finished.insert(o);
                let point = p.commit_point().expect("something seen");
                assert!(
                    (0..point).all(|x| finished.contains(&x)),
                    "committed {point} past an unfinished event"
                );
            }
            assert_eq!(p.commit_point(), Some(50));
        }
    }

    #[test]
    fn tracker_reports_per_partition_and_forgets_revoked_ones() {
        let mut t = OffsetTracker::default();
        let g0 = t.received("a", 0, 5);
        let g1 = t.received("a", 1, 9);
        t.done("a", 1, 9, g1);
        assert_eq!(
            t.take_commits(),
            vec![("a".into(), 0, 5), ("a".into(), 1, 10)]
        );
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.revoke("a", 0), Some(5));
        assert!(!t.is_current("a", 0, g0), "revoked work is stale");
        t.done("a", 0, 5, g0); // finished after revoke: ignored, no panic
        assert_eq!(t.in_flight(), 0);
        assert!(t.take_commits().is_empty());
        // Re-assigned later: a new generation, and the old one's completions do not count.
        let g2 = t.received("a", 0, 5);
        assert_ne!(g2, g0);
        t.done("a", 0, 5, g0);
        assert_eq!(t.in_flight(), 1);
        t.done("a", 0, 5, g2);
        assert_eq!(t.in_flight(), 0);
    }
}
