//! Replay bounds: what `--from` and `--to` accept, and the pure logic that turns a time into an
//! offset. `from` is inclusive, `to` exclusive; a time resolves to the first offset whose
//! message timestamp is at or after it.
//!
//! Timestamps are the producer's publish time (CreateTime; orderbus producers never set it
//! themselves), which is non-decreasing within a partition written by one producer. Under that
//! assumption "timestamp >= t" is monotone in the offset, which is what makes both the check of
//! the broker's answer and the binary search correct. With several producers whose clocks
//! disagree a partition's timestamps can step back a little; the boundary found is then one
//! offset where the step from "< t" to ">= t" happens, not necessarily the only one.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// One end of a replay range, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// The low watermark (`from` only).
    Earliest,
    /// The high watermark at the time the replay starts (`to` only).
    Now,
    /// The same offset on every partition.
    Offset(i64),
    /// Per partition (`P:N,P:N`); only the partitions named are replayed.
    Offsets(BTreeMap<i32, i64>),
    /// A time, in milliseconds since the Unix epoch.
    Time(i64),
}

impl Bound {
    /// Parses `--from`: `earliest`, an offset, `P:N,P:N` or an RFC 3339 time.
    pub fn parse_from(value: &str) -> Result<Self> {
        Self::parse("from", value)
    }

    /// Parses `--to`: `now`, an offset, `P:N,P:N` or an RFC 3339 time.
    pub fn parse_to(value: &str) -> Result<Self> {
        Self::parse("to", value)
    }

    fn parse(which: &'static str, value: &str) -> Result<Self> {
        let bad = |problem: &str| Error::Bound {
            which,
            value: value.to_owned(),
            problem: problem.to_owned(),
        };
        let v = value.trim();
        match (which, v) {
            ("from", "earliest") => return Ok(Bound::Earliest),
            ("to", "now") => return Ok(Bound::Now),
            ("from", "now") => return Err(bad("`now` is only a --to bound")),
            ("to", "earliest") => return Err(bad("`earliest` is only a --from bound")),
            _ => {}
        }
        if let Ok(n) = v.parse::<i64>() {
            return if n < 0 {
                Err(bad("offsets are not negative"))
            } else {
                Ok(Bound::Offset(n))
            };
        }
        if v.contains('T') {
            let t = OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|e| bad(&format!("not an RFC 3339 time ({e})")))?;
            let ms = t.unix_timestamp_nanos() / 1_000_000;
            return i64::try_from(ms)
                .ok()
                .filter(|ms| *ms >= 0)
                .map(Bound::Time)
                .ok_or_else(|| bad("time out of range"));
        }
        let mut map = BTreeMap::new();
        for part in v.split(',') {
            let (p, n) = part.split_once(':').ok_or_else(|| {
                bad(&format!(
                    "expected {}, an offset, P:N,P:N or an RFC 3339 time",
                    if which == "from" { "earliest" } else { "now" }
                ))
            })?;
            let p: i32 = p
                .trim()
                .parse()
                .map_err(|_| bad("partition is not a number"))?;
            let n: i64 = n
                .trim()
                .parse()
                .map_err(|_| bad("offset is not a number"))?;
            if p < 0 || n < 0 {
                return Err(bad("partitions and offsets are not negative"));
            }
            if map.insert(p, n).is_some() {
                return Err(bad(&format!("partition {p} named twice")));
            }
        }
        Ok(Bound::Offsets(map))
    }
}

/// Puts `offset` inside `[low, high]`, saying so when it moved.
pub fn clamp(offset: i64, low: i64, high: i64) -> (i64, Option<String>) {
    if offset < low {
        (
            low,
            Some(format!(
                "offset {offset} is below the low watermark {low}; using {low}"
            )),
        )
    } else if offset > high {
        (
            high,
            Some(format!(
                "offset {offset} is past the high watermark {high}; using {high}"
            )),
        )
    } else {
        (offset, None)
    }
}

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

    #[test]
    fn bounds_parse_and_name_what_is_wrong() {
        assert_eq!(Bound::parse_from("earliest").expect("ok"), Bound::Earliest);
        assert_eq!(Bound::parse_to("now").expect("ok"), Bound::Now);
        assert_eq!(Bound::parse_to("42").expect("ok"), Bound::Offset(42));
        assert_eq!(
            Bound::parse_from("0:5, 2:7").expect("ok"),
            Bound::Offsets(BTreeMap::from([(0, 5), (2, 7)]))
        );
        assert_eq!(
            Bound::parse_from("2024-05-01T10:00:00.250Z").expect("ok"),
            Bound::Time(1_714_557_600_250)
        );
        assert_eq!(
            Bound::parse_from("2024-05-01T12:00:00+02:00").expect("ok"),
            Bound::Time(1_714_557_600_000)
        );
        for (which, v) in [
            ("from", "now"),
            ("to", "earliest"),
            ("from", "-3"),
            ("from", "0:1,0:2"),
            ("from", "yesterday"),
            ("to", "2024-13-01T00:00:00Z"),
        ] {
            let e = if which == "from" {
                Bound::parse_from(v)
            } else {
                Bound::parse_to(v)
            };
            let text = e.expect_err(v).to_string();
            assert!(text.starts_with(&format!("bad --{which} `{v}`")), "{text}");
        }
        assert_eq!(
            clamp(3, 5, 9),
            (
                5,
                Some("offset 3 is below the low watermark 5; using 5".into())
            )
        );
        assert_eq!(clamp(7, 5, 9), (7, None));
        assert_eq!(clamp(12, 5, 9).0, 9);
    }
}
