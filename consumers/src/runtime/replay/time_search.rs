//! From a time to an offset: the broker's ListOffsets-by-time answer checked against the
//! messages around it, and a binary search by offset when it does not hold. Pure over a
//! [`TimestampReader`], so it is tested without a broker.
//!
//! Correct when timestamps are non-decreasing within a partition (see [`bounds`](super::bounds)
//! for when that holds and what happens when it does not).

use crate::error::Result;

/// A message's position and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Offset of the message.
    pub offset: i64,
    /// Its timestamp, ms since the epoch.
    pub timestamp_ms: i64,
}

/// One partition as the time search sees it.
pub trait TimestampReader {
    /// The first message at or after `offset` and below the high watermark fixed at start, or
    /// `None` when there is none (offsets can have gaps: compaction, transaction markers).
    fn read_timestamp(&mut self, offset: i64) -> Result<Option<Stamp>>;
}

/// How a time bound was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeResolution {
    /// The broker's ListOffsets answer passed the check against the messages.
    Broker,
    /// The broker's answer was unusable (the reason); a search by offset found it.
    Searched(String),
}

/// The offset in `[low, high]` to read from to get exactly the messages with a timestamp
/// `>= t_ms`: the first such message's offset, or the start of the gap before it (`high` when
/// none is). `broker` is ListOffsets-by-time's answer (`None` for -1); it is used only if the
/// messages around it agree, otherwise a binary search reads single messages.
pub fn offset_for_time(
    reader: &mut dyn TimestampReader,
    low: i64,
    high: i64,
    t_ms: i64,
    broker: Option<i64>,
) -> Result<(i64, TimeResolution)> {
    let why = match broker {
        None => "the broker answered -1".to_owned(),
        Some(a) if a < low || a > high => {
            format!("the broker answered {a}, outside [{low}, {high}]")
        }
        Some(a) => match verify(reader, low, high, t_ms, a)? {
            None => return Ok((a, TimeResolution::Broker)),
            Some(why) => format!("the broker answered {a}, but {why}"),
        },
    };
    Ok((
        search(reader, low, high, t_ms)?,
        TimeResolution::Searched(why),
    ))
}

/// Checks that `a` is the boundary: the message at `a` is at or after `t`, the one before it
/// is before `t`. `None` when it is, else what is wrong.
fn verify(
    reader: &mut dyn TimestampReader,
    low: i64,
    high: i64,
    t_ms: i64,
    a: i64,
) -> Result<Option<String>> {
    if a < high {
        match reader.read_timestamp(a)? {
            Some(s) if s.timestamp_ms >= t_ms => {}
            Some(s) => {
                return Ok(Some(format!(
                    "the message at {} has timestamp {} < {t_ms}",
                    s.offset, s.timestamp_ms
                )));
            }
            None => return Ok(Some(format!("there is no message at or after {a}"))),
        }
    }
    if a > low {
        match reader.read_timestamp(a - 1)? {
            Some(s) if s.offset == a - 1 && s.timestamp_ms < t_ms => {}
            Some(s) if s.offset == a - 1 => {
                return Ok(Some(format!(
                    "the message before it (at {}) has timestamp {} >= {t_ms}",
                    s.offset, s.timestamp_ms
                )));
            }
            // A gap before the answer: the check cannot be made, so search.
            _ => return Ok(Some(format!("there is no message at {}", a - 1))),
        }
    }
    Ok(None)
}

/// Binary search by offset, one message read per step.
fn search(reader: &mut dyn TimestampReader, low: i64, high: i64, t_ms: i64) -> Result<i64> {
    let (mut lo, mut hi) = (low, high);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match reader.read_timestamp(mid)? {
            Some(s) if s.timestamp_ms < t_ms => lo = s.offset + 1,
            // At or after t, or nothing left: the boundary is at or before mid.
            _ => hi = mid,
        }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partition in memory: (offset, timestamp) in offset order, with optional gaps.
    struct Mem {
        messages: Vec<Stamp>,
        reads: usize,
    }

    impl Mem {
        fn new(timestamps: &[(i64, i64)]) -> Self {
            let messages: Vec<Stamp> = timestamps
                .iter()
                .map(|&(offset, timestamp_ms)| Stamp {
                    offset,
                    timestamp_ms,
                })
                .collect();
            Mem { messages, reads: 0 }
        }

        fn dense(timestamps: &[i64]) -> Self {
            let pairs: Vec<(i64, i64)> = timestamps
                .iter()
                .enumerate()
                .map(|(i, t)| (i as i64, *t))
                .collect();
            Self::new(&pairs)
        }

        /// The right answer, by looking at everything: just past the last message before `t`
        /// (reading from there yields exactly the messages at or after `t`; where that lands
        /// in a gap, any offset of the gap would do, and the search gives the first).
        fn truth(&self, t: i64) -> i64 {
            self.messages
                .iter()
                .rev()
                .find(|s| s.timestamp_ms < t)
                .map_or(0, |s| s.offset + 1)
        }
    }

    impl TimestampReader for Mem {
        fn read_timestamp(&mut self, offset: i64) -> Result<Option<Stamp>> {
            self.reads += 1;
            Ok(self.messages.iter().find(|s| s.offset >= offset).copied())
        }
    }

    #[test]
    fn a_right_broker_answer_is_checked_and_kept() {
        let mut p = Mem::dense(&[10, 10, 20, 20, 20, 30, 40]);
        assert_eq!(
            offset_for_time(&mut p, 0, 7, 20, Some(2)).expect("ok"),
            (2, TimeResolution::Broker)
        );
        assert_eq!(p.reads, 2, "one read at the answer, one before it");
        let mut p = Mem::dense(&[10, 20]);
        assert_eq!(
            offset_for_time(&mut p, 0, 2, 99, Some(2)).expect("ok").0,
            2,
            "past the last message: the high watermark"
        );
    }

    #[test]
    fn wrong_missing_and_out_of_range_answers_fall_back_to_the_search() {
        let ts = [10, 10, 20, 20, 20, 30, 40];
        for (answer, what) in [
            (
                Some(3),
                "inside the run of 20s: the one before is not earlier",
            ),
            (Some(1), "too early"),
            (Some(6), "too late"),
            (None, "-1"),
            (Some(99), "out of range"),
            (Some(-5), "negative"),
        ] {
            let mut p = Mem::dense(&ts);
            let (at, how) = offset_for_time(&mut p, 0, 7, 20, answer).expect("ok");
            assert_eq!(at, 2, "{what}");
            assert!(
                matches!(how, TimeResolution::Searched(_)),
                "{what}: {how:?}"
            );
        }
    }

    #[test]
    fn search_matches_a_full_scan_for_every_time_with_gaps_and_ties() {
        // Gaps at 3-4 and 9 (compaction), ties, and a run at the end.
        let mut p = Mem::new(&[
            (0, 100),
            (1, 100),
            (2, 105),
            (5, 110),
            (6, 110),
            (7, 120),
            (8, 130),
            (10, 130),
            (11, 150),
        ]);
        for t in 90..160 {
            let want = p.truth(t);
            let (got, _) = offset_for_time(&mut p, 0, 12, t, None).expect("ok");
            assert_eq!(got, want, "t = {t}");
            // A lying broker that answers one off in either direction changes nothing.
            for lie in [want - 1, want + 1] {
                let (got, _) = offset_for_time(&mut p, 0, 12, t, Some(lie)).expect("ok");
                assert_eq!(got, want, "t = {t}, broker said {lie}");
            }
        }
    }

    #[test]
    fn the_search_reads_logarithmically_many_messages() {
        let ts: Vec<i64> = (0..100_000).map(|i| i / 3).collect();
        let mut p = Mem::dense(&ts);
        let (at, _) = offset_for_time(&mut p, 0, 100_000, 20_000, None).expect("ok");
        assert_eq!(at, 60_000);
        assert!(p.reads <= 20, "{} reads", p.reads);
    }

    #[test]
    fn empty_partitions_and_a_raised_low_watermark() {
        let mut p = Mem::new(&[]);
        assert_eq!(offset_for_time(&mut p, 0, 0, 5, None).expect("ok").0, 0);
        // Retention removed offsets below 4.
        let mut p = Mem::new(&[(4, 50), (5, 60), (6, 70)]);
        assert_eq!(offset_for_time(&mut p, 4, 7, 10, Some(4)).expect("ok").0, 4);
        assert_eq!(offset_for_time(&mut p, 4, 7, 65, None).expect("ok").0, 6);
    }
}
