//! Semantic checks that mirror `schemas/*.json` rule for rule.
//!
//! Decoding with serde already enforces shapes and types; these checks add the bounds and
//! patterns the JSON Schemas state (lengths, ID and phone patterns, amount ranges). They are
//! hand-written rather than run through a JSON Schema engine so that encode + validate stays in
//! the low microseconds; `tests/schemas.rs` proves both reject the same broken events.

use std::fmt;

use crate::error::Error;
use crate::money::{MAX_AMOUNT_MINOR, Money};

/// Where in an event a value sits, as a stack-allocated chain so the happy path allocates nothing.
#[derive(Clone, Copy, Debug)]
pub enum Path<'a> {
    /// The document root.
    Root,
    /// A named field of the parent.
    Field(&'a Path<'a>, &'static str),
    /// An array element of the parent.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    /// The path to field `name` below this one.
    pub fn field(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }

    /// The path to element `i` below this one.
    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Result of a validation step: `Error::InvalidField` names the offending path.
pub type Checked = Result<(), Error>;

/// Something that can check itself against the contract.
pub trait Validate {
    /// Checks `self`, naming positions relative to `at`.
    fn validate_at(&self, at: Path<'_>) -> Checked;
}

pub(crate) fn fail(at: Path<'_>, reason: impl Into<String>) -> Checked {
    Err(Error::InvalidField {
        path: at.to_string(),
        reason: reason.into(),
    })
}

/// A free-text field: `min..=max` characters (code points, as JSON Schema counts).
pub(crate) fn text(at: Path<'_>, value: &str, min: usize, max: usize) -> Checked {
    // Byte length bounds the char count from above, so most strings skip the count.
    if value.len() <= max && value.len() >= min.saturating_mul(4) {
        return Ok(());
    }
    let n = value.chars().count();
    if n < min {
        return fail(at, format!("must be at least {min} characters, got {n}"));
    }
    if n > max {
        return fail(at, format!("must be at most {max} characters, got {n}"));
    }
    Ok(())
}

/// The ID pattern shared by order, customer, payment and SKU identifiers:
/// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`.
pub(crate) fn identifier(at: Path<'_>, value: &str) -> Checked {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        fail(
            at,
            "must be 1-64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit",
        )
    }
}

/// E.164 phone number: `^\+[1-9][0-9]{6,14}$`.
pub(crate) fn phone(at: Path<'_>, value: &str) -> Checked {
    let b = value.as_bytes();
    let ok = (8..=16).contains(&b.len())
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        fail(at, "must be an E.164 phone number such as +14155550100")
    }
}

/// E-mail address: `^[^@\s]+@[^@\s]+\.[^@\s]+$`, at most 254 characters.
pub(crate) fn email(at: Path<'_>, value: &str) -> Checked {
    text(at, value, 3, 254)?;
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            let clean =
                |s: &str| !s.is_empty() && !s.chars().any(|c| c == '@' || c.is_whitespace());
            clean(local)
                && clean(domain)
                && domain
                    .char_indices()
                    .any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len())
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        fail(at, "must be an e-mail address such as ana@example.com")
    }
}

/// An integer within `min..=max`.
pub(crate) fn range(at: Path<'_>, value: i64, min: i64, max: i64) -> Checked {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        fail(at, format!("must be between {min} and {max}, got {value}"))
    }
}

impl Validate for Money {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        // The currency was checked when it was parsed or built.
        range(
            at.field("amount_minor"),
            self.amount_minor,
            0,
            MAX_AMOUNT_MINOR,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_json_paths() {
        let root = Path::Root;
        let data = root.field("data");
        let items = data.field("items");
        let second = items.index(2);
        assert_eq!(second.field("sku").to_string(), "data.items[2].sku");
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        let at = Path::Root.field("x");
        assert!(text(at, "ééé", 1, 3).is_ok());
        assert!(text(at, "éééé", 1, 3).is_err());
        assert!(text(at, "", 1, 3).is_err());
    }

    #[test]
    fn identifiers_phones_and_emails() {
        let at = Path::Root.field("x");
        assert!(identifier(at, "ord_2026-11:A.1").is_ok());
        assert!(identifier(at, "-starts-with-dash").is_err());
        assert!(identifier(at, "has space").is_err());
        assert!(identifier(at, &"a".repeat(65)).is_err());
        assert!(phone(at, "+14155550100").is_ok());
        assert!(phone(at, "14155550100").is_err());
        assert!(phone(at, "+0123456789").is_err());
        assert!(phone(at, "+1234").is_err());
        assert!(email(at, "ana@example.com").is_ok());
        assert!(email(at, "ana@example").is_err());
        assert!(email(at, "ana@.com").is_err());
        assert!(email(at, "a b@example.com").is_err());
        assert!(email(at, "ana@@example.com").is_err());
    }
}
