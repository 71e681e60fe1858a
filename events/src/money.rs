//! Money as integer minor units plus an ISO 4217 currency.
//!
//! Amounts never travel as floats: `amount_minor` counts the currency's minor unit (cents for
//! USD, yen for JPY, fils for BHD), and [`Currency::minor_units`] says how many decimals that is.

use std::fmt;

use crate::error::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount any event may carry: JavaScript's `Number.MAX_SAFE_INTEGER`, so consumers
/// in every language read it exactly. The JSON Schemas state the same bound.
pub const MAX_AMOUNT_MINOR: i64 = 9_007_199_254_740_991;

/// Active ISO 4217 currencies (circulating codes, without fund and precious-metal codes) with
/// their minor-unit exponent. `schemas/common.v1.json` lists the same codes; a test keeps the two
/// identical.
pub const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency code known to [`ISO_4217`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    index: u8,
}

impl Currency {
    /// Looks `code` up (exact, upper case: `"usd"` is refused, as the schema refuses it).
    pub fn new(code: &str) -> Result<Self, Error> {
        ISO_4217
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .ok()
            .and_then(|i| u8::try_from(i).ok())
            .map(|index| Self { index })
            .ok_or_else(|| Error::UnknownCurrency(code.to_owned()))
    }

    /// The three-letter code.
    pub fn code(self) -> &'static str {
        ISO_4217[usize::from(self.index)].0
    }

    /// Decimals of the minor unit: 2 for USD, 0 for JPY, 3 for BHD.
    pub fn minor_units(self) -> u8 {
        ISO_4217[usize::from(self.index)].1
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Currency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::new(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// An amount of money: `amount_minor` minor units of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in the currency's minor unit, `0..=MAX_AMOUNT_MINOR`.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: Currency,
}

impl Money {
    /// Money in minor units; range is checked by validation, not here, so decoding can say where.
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Formats as a decimal string in major units, e.g. `12.50 USD`.
    pub fn display_major(&self) -> String {
        let scale = 10i64.pow(u32::from(self.currency.minor_units()));
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        let scale_u = scale.unsigned_abs();
        if self.currency.minor_units() == 0 {
            format!("{sign}{abs} {}", self.currency)
        } else {
            format!(
                "{sign}{}.{:0width$} {}",
                abs / scale_u,
                abs % scale_u,
                self.currency,
                width = usize::from(self.currency.minor_units())
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_binary_search_is_valid() {
        for pair in ISO_4217.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        assert!(ISO_4217.len() < usize::from(u8::MAX));
    }

    #[test]
    fn looks_up_codes_and_exponents() {
        assert_eq!(Currency::new("JPY").map(Currency::minor_units), Ok(0));
        assert_eq!(Currency::new("BHD").map(Currency::minor_units), Ok(3));
        assert_eq!(Currency::new("USD").map(Currency::code), Ok("USD"));
        assert!(Currency::new("usd").is_err());
        assert!(Currency::new("XYZ").is_err());
    }

    #[test]
    fn displays_major_units() {
        let usd = Currency::new("USD").expect("usd");
        let jpy = Currency::new("JPY").expect("jpy");
        assert_eq!(Money::new(1250, usd).display_major(), "12.50 USD");
        assert_eq!(Money::new(5, usd).display_major(), "0.05 USD");
        assert_eq!(Money::new(1250, jpy).display_major(), "1250 JPY");
    }
}
