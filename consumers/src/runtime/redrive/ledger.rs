//! The redrive ledger: the durable record of which dead letters were redriven, on the topic
//! `<group>.dlq.redriven` (one partition, JSON values).
//!
//! Each batch is written as an intent *before* its copies are published (`pending`: the dead
//! letters in it, and for every source partition it writes to, that partition's high watermark
//! at that moment), and confirmed *after* every copy was acknowledged (`done`). A crash between
//! the two leaves a pending batch; the next run settles it by scanning those source partitions
//! from the recorded watermarks for copies whose `orderbus.redriven.from` names a dead letter of
//! the batch: those found count as redriven, the others are redriven again. So every dead letter
//! is published once, whatever point a run dies at, at the price of two small ledger writes per
//! batch and, only after a crash, a scan of what was published to the source partitions since.
//!
//! Why not a consumer group's committed offset on the dead-letter topic: a position cannot skip
//! dead letters left out by `--reason` and still redrive them later, and the commit after the
//! publish has the same crash window this ledger closes.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// The ledger topic of a group.
pub fn ledger_topic(group: &str) -> String {
    format!("{group}.dlq.redriven")
}

/// Where a batch writes, and from which offset its copies can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Source topic.
    pub topic: String,
    /// Partition written to.
    pub partition: i32,
    /// Its high watermark before the batch was published.
    pub from: i64,
}

/// State of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// About to publish `items`.
    Pending,
    /// `items` are redriven (all acknowledged, or found by a settling scan).
    Done,
}

/// One ledger record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Batch id (a UUID).
    pub batch: String,
    /// Pending or done.
    pub state: State,
    /// Dead letters, as `dlqtopic/partition/offset`.
    pub items: Vec<String>,
    /// For a pending batch: the source partitions it writes to.
    #[serde(default)]
    pub marks: Vec<Mark>,
}

/// What the ledger says after reading it whole.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Dead letters recorded as redriven.
    pub redriven: BTreeSet<String>,
    /// Batches with an intent and no confirmation, in ledger order.
    pub pending: Vec<Record>,
    /// Records that did not parse (reported, never fatal).
    pub unreadable: u64,
}

impl Ledger {
    /// Folds the ledger's records, in offset order.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut ledger = Ledger::default();
        let mut pending: HashMap<String, Record> = HashMap::new();
        let mut order = Vec::new();
        for v in values {
            let Ok(record) = serde_json::from_slice::<Record>(v) else {
                ledger.unreadable += 1;
                continue;
            };
            match record.state {
                State::Pending => {
                    order.push(record.batch.clone());
                    pending.insert(record.batch.clone(), record);
                }
                State::Done => {
                    pending.remove(&record.batch);
                    ledger.redriven.extend(record.items);
                }
            }
        }
        ledger.pending = order
            .into_iter()
            .filter_map(|b| pending.remove(&b))
            .collect();
        ledger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: &Record) -> Vec<u8> {
        serde_json::to_vec(r).expect("json")
    }

    #[test]
    fn done_batches_count_and_unconfirmed_ones_stay_pending() {
        let mark = Mark {
            topic: "orders".into(),
            partition: 1,
            from: 40,
        };
        let a = Record {
            batch: "a".into(),
            state: State::Pending,
            items: vec!["g.dlq/0/1".into(), "g.dlq/0/2".into()],
            marks: vec![mark.clone()],
        };
        let a_done = Record {
            state: State::Done,
            marks: Vec::new(),
            ..a.clone()
        };
        let b = Record {
            batch: "b".into(),
            state: State::Pending,
            items: vec!["g.dlq/1/7".into()],
            marks: vec![mark],
        };
        let values = [json(&a), json(&a_done), b"garbage".to_vec(), json(&b)];
        let ledger = Ledger::from_values(values.iter().map(Vec::as_slice));
        assert_eq!(
            ledger.redriven,
            BTreeSet::from(["g.dlq/0/1".to_owned(), "g.dlq/0/2".to_owned()])
        );
        assert_eq!(ledger.pending, vec![b]);
        assert_eq!(ledger.unreadable, 1);
    }
}
