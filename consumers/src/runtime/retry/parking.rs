//! Which keys have events on the retry topic, so that later events of a blocked key follow the
//! parked one instead of overtaking it (`block-key`), and when the key is free again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::parked::{ParkKind, Parked};

#[derive(Debug, Default)]
struct KeyState {
    /// This key's events on the retry topic not yet taken back.
    parked: u32,
    /// Sequence number of the key's latest parking for failure.
    last_failed_seq: u64,
    /// When the key's latest failed event is due; followers are due with it.
    blocked_until_ms: i64,
    /// Partition the key lives on, to forget it when that partition is revoked.
    partition: i32,
}

/// Which keys have events on the retry topic. Counted when this process parks an event and
/// when it reads a parked event it did not park itself (parked before a restart or by
/// another member), uncounted when a parked event is taken back for handling.
#[derive(Debug, Default)]
pub struct Parking {
    inner: Mutex<ParkingInner>,
}

#[derive(Debug, Default)]
struct ParkingInner {
    keys: HashMap<String, KeyState>,
    /// Parked by this process and not read back yet, so the read does not count them twice.
    unread: HashSet<u64>,
}

impl Parking {
    fn with<R>(&self, f: impl FnOnce(&mut ParkingInner) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// This process parked an event of `key` with sequence `seq`, due at `due_ms`.
    pub fn parked(&self, key: &str, partition: i32, seq: u64, due_ms: i64, kind: ParkKind) {
        self.with(|p| {
            p.unread.insert(seq);
            let k = p.keys.entry(key.to_owned()).or_default();
            k.parked += 1;
            k.partition = partition;
            if kind == ParkKind::Failed {
                k.last_failed_seq = k.last_failed_seq.max(seq);
                k.blocked_until_ms = due_ms;
            }
        });
    }

    /// Parking `seq` failed (shutdown came first): undo [`Parking::parked`].
    pub fn unpark(&self, key: &str, seq: u64) {
        let counted = self.with(|p| p.unread.remove(&seq));
        if counted {
            self.taken(key);
        }
    }

    /// A parked event of `key` was read from the retry topic (it now waits in memory).
    pub fn read(&self, key: &str, partition: i32, parked: &Parked) {
        self.with(|p| {
            if p.unread.remove(&parked.seq) {
                return;
            }
            let k = p.keys.entry(key.to_owned()).or_default();
            k.parked += 1;
            k.partition = partition;
            k.blocked_until_ms = k.blocked_until_ms.max(parked.not_before_ms);
        });
    }

    /// A parked event of `key` is taken back for handling (or dropped as revoked).
    pub fn taken(&self, key: &str) {
        self.with(|p| {
            if let Some(k) = p.keys.get_mut(key) {
                k.parked = k.parked.saturating_sub(1);
                if k.parked == 0 {
                    p.keys.remove(key);
                }
            }
        });
    }

    /// Under `block-key`: whether an event of `key` must be parked behind an earlier one, and
    /// until when. `seq` is the event's parking number when it comes from the retry topic
    /// (then it waits only if an earlier event was re-parked after it), `None` when fresh
    /// (then it waits while anything of its key is parked).
    pub fn must_follow(&self, key: &str, seq: Option<u64>) -> Option<i64> {
        self.with(|p| {
            let k = p.keys.get(key)?;
            let blocked = match seq {
                None => k.parked > 0,
                Some(s) => k.last_failed_seq > s,
            };
            blocked.then_some(k.blocked_until_ms)
        })
    }

    /// Forgets keys of partitions this process no longer owns; their new owner rebuilds
    /// the state as it reads the retry topic.
    pub fn revoke(&self, partitions: &[i32]) {
        self.with(|p| p.keys.retain(|_, k| !partitions.contains(&k.partition)));
    }

    /// Keys with events parked.
    pub fn blocked_keys(&self) -> usize {
        self.with(|p| p.keys.len())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_event_follows_while_its_key_is_parked() {
        let p = Parking::default();
        assert_eq!(p.must_follow("k", None), None);
        p.parked("k", 0, 10, 5_000, ParkKind::Failed);
        assert_eq!(p.must_follow("k", None), Some(5_000));
        assert_eq!(p.must_follow("other", None), None);
        // The parked event comes back: reading it does not count it twice.
        p.read(
            "k",
            0,
            &Parked {
                not_before_ms: 5_000,
                round: 1,
                attempts: 3,
                seq: 10,
            },
        );
        p.taken("k");
        assert_eq!(p.must_follow("k", None), None);
        assert_eq!(p.blocked_keys(), 0);
    }

    #[test]
    fn a_parked_follower_waits_again_when_the_event_ahead_is_reparked() {
        let p = Parking::default();
        p.parked("k", 0, 1, 1_000, ParkKind::Failed);
        p.parked("k", 0, 2, 1_000, ParkKind::Follower);
        // The failed one comes back, fails again and is parked anew with seq 3.
        p.taken("k");
        p.parked("k", 0, 3, 9_000, ParkKind::Failed);
        // The follower (seq 2) must go behind it again, until its new due time.
        p.taken("k");
        assert_eq!(p.must_follow("k", Some(2)), Some(9_000));
        p.parked("k", 0, 4, 9_000, ParkKind::Follower);
        // The re-parked one succeeds; the follower (seq 4) now runs.
        p.taken("k");
        assert_eq!(p.must_follow("k", Some(4)), None);
    }

    #[test]
    fn events_parked_by_another_life_block_their_key_once_read() {
        let p = Parking::default();
        p.read(
            "k",
            3,
            &Parked {
                not_before_ms: 7_000,
                round: 1,
                attempts: 3,
                seq: 99,
            },
        );
        assert_eq!(p.must_follow("k", None), Some(7_000));
        p.revoke(&[3]);
        assert_eq!(p.must_follow("k", None), None);
    }
}
