//! `ORDERBUS_...` values where a string is expected. figment reads an environment value the way
//! TOML reads a bare value, so `ORDERBUS_KAFKA__SASL__PASSWORD=12345678` becomes a number and
//! a string setting refuses it ("expected a string"). An environment variable is always text:
//! where a string setting got a number or a boolean from the environment, the variable's exact
//! text is used instead (leading zeros and all), and the configuration is read again.

use std::collections::BTreeSet;

use figment::Figment;
use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use serde::de::DeserializeOwned;

use super::ENV_PREFIX;

/// `figment.extract()`, with string settings taking any value from the environment.
pub(super) fn extract<T: DeserializeOwned>(mut figment: Figment) -> Result<T, Box<figment::Error>> {
    let mut forced = BTreeSet::new();
    loop {
        let errors = match figment.extract::<T>() {
            Ok(value) => return Ok(value),
            Err(errors) => errors,
        };
        let texts: Vec<(String, String)> = errors
            .clone()
            .into_iter()
            .filter_map(|e| text_for_string(&e))
            .filter(|(key, _)| forced.insert(key.clone()))
            .collect();
        // Nothing new to take as text: the errors are real.
        if texts.is_empty() {
            return Err(Box::new(errors));
        }
        for (key, text) in texts {
            figment = figment.merge(Serialized::default(&key, text));
        }
    }
}

/// For a string setting given a number or boolean by an environment variable: the setting's
/// dotted key and the variable's text.
fn text_for_string(e: &figment::Error) -> Option<(String, String)> {
    let Kind::InvalidType(actual, expected) = &e.kind else {
        return None;
    };
    let scalar = matches!(
        actual,
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) | Actual::Bool(_)
    );
    let from_env = e
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    // A segment with a dot would nest wrongly in a key path.
    if !scalar
        || !from_env
        || !expected.contains("string")
        || e.path.iter().any(|s| s.contains('.'))
    {
        return None;
    }
    let var = format!("{ENV_PREFIX}{}", e.path.join("__"));
    let text = std::env::vars()
        .find(|(k, _)| k.eq_ignore_ascii_case(&var))
        .map(|(_, v)| v)?;
    Some((e.path.join("."), text))
}
