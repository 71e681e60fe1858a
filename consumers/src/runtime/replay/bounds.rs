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

#[cfg(test)]
mod tests {
    use super::*;

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
