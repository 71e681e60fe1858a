//! W3C Trace Context `traceparent` values (`00-<trace-id>-<parent-id>-<flags>`), carried in a
//! message header so a trace continues from the service that published to the workers.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::error::Error;

/// A parsed `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace ID, never all zero.
    pub trace_id: [u8; 16],
    /// 8-byte parent span ID, never all zero.
    pub span_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Starts a new sampled trace with random IDs.
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        // An all-zero ID is invalid; the chance is negligible, but loop rather than hope.
        while trace_id == [0; 16] {
            rng.fill(&mut trace_id);
        }
        while span_id == [0; 8] {
            rng.fill(&mut span_id);
        }
        Self {
            trace_id,
            span_id,
            flags: 1,
        }
    }

    /// A child in the same trace: same trace ID, a new span ID.
    pub fn child(&self) -> Self {
        let mut span_id = [0u8; 8];
        while span_id == [0; 8] {
            rand::rng().fill(&mut span_id);
        }
        Self { span_id, ..*self }
    }
}

impl TraceParent {
    /// The header value, `00-<32 hex>-<16 hex>-<2 hex>`, built in one allocation (this runs
    /// once per published event, so it avoids the formatter).
    pub fn header_value(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(55);
        let mut push = |b: u8| {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        };
        push(0);
        self.trace_id.iter().for_each(|b| push(*b));
        self.span_id.iter().for_each(|b| push(*b));
        push(self.flags);
        // Dashes go in afterwards at their fixed places: 2, 35 and 52.
        for at in [2, 35, 52] {
            out.insert(at, '-');
        }
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header_value())
    }
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl FromStr for TraceParent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidTraceParent(s.chars().take(80).collect());
        let mut parts = s.split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        // Version 00 has exactly four parts; later versions may append more.
        if version == "ff"
            || hex::<1>(version).is_none()
            || (version == "00" && parts.next().is_some())
        {
            return Err(bad());
        }
        let trace_id = hex::<16>(trace).filter(|t| *t != [0; 16]).ok_or_else(bad)?;
        let span_id = hex::<8>(span).filter(|t| *t != [0; 8]).ok_or_else(bad)?;
        let flags = hex::<1>(flags).ok_or_else(bad)?[0];
        Ok(Self {
            trace_id,
            span_id,
            flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_spec_example() {
        let s = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let tp: TraceParent = s.parse().expect("valid");
        assert_eq!(tp.to_string(), s);
        assert_eq!(tp.header_value(), s);
        assert_eq!(tp.child().trace_id, tp.trace_id);
        assert_ne!(tp.child().span_id, tp.span_id);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn new_roots_are_valid_and_distinct() {
        let a = TraceParent::new_root();
        let b = TraceParent::new_root();
        assert_ne!(a.trace_id, b.trace_id);
        assert_eq!(a.to_string().parse::<TraceParent>().ok(), Some(a));
    }
}
