//! What per-order ordering means under at-least-once delivery, as test checks: every event of an
//! order is first handled after every earlier event of that order was handled, although any
//! event may be handled again later (a redelivery after a crash or rebalance).

use std::collections::HashMap;
use std::hash::Hash;

use events::Envelope;

/// Each key's event ids in publish order, keyed by `key(event)` (the order id, or the topic
/// and order id).
pub fn per_key<'a, K: Eq + Hash>(
    events: impl IntoIterator<Item = &'a Envelope>,
    key: impl Fn(&Envelope) -> K,
) -> HashMap<K, Vec<uuid::Uuid>> {
    let mut expected: HashMap<K, Vec<uuid::Uuid>> = HashMap::new();
    for e in events {
        expected.entry(key(e)).or_default().push(e.event_id);
    }
    expected
}

/// The first handling of each event, in order, and how many handlings were repeats.
pub fn first_handlings(handled: &[uuid::Uuid]) -> (Vec<uuid::Uuid>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut first = Vec::new();
    let mut repeats = 0;
    for id in handled {
        if seen.insert(*id) {
            first.push(*id);
        } else {
            repeats += 1;
        }
    }
    (first, repeats)
}

/// Checks that every key's events were first handled in publish order and that none is
/// missing; returns the number of repeated handlings (redeliveries) across all keys.
pub fn assert_order_kept<K: Eq + Hash + std::fmt::Debug>(
    expected: &HashMap<K, Vec<uuid::Uuid>>,
    handled: &HashMap<K, Vec<uuid::Uuid>>,
) -> usize {
    let mut repeats = 0;
    for (key, want) in expected {
        let got = handled
            .get(key)
            .unwrap_or_else(|| panic!("{key:?}: nothing handled"));
        let (first, again) = first_handlings(got);
        assert_eq!(
            &first, want,
            "{key:?}: first handled out of order or missing"
        );
        repeats += again;
    }
    repeats
}
