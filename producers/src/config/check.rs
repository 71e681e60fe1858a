//! Checks shared by the sections: librdkafka's own verdict on a finished client configuration
//! (mapped to the key it came from, secrets masked), and Kafka's rule for topic names.

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;

use crate::error::{Error, Result};
use crate::secret::is_secret_key;

/// Asks librdkafka to accept every property; maps a refusal to the config key it came from,
/// masking the value when the property is a secret.
pub(crate) fn check_with_librdkafka(config: &ClientConfig, section: &str) -> Result<()> {
    match config.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, description, key, value)) => {
            Err(refusal(section, &key, &value, &description))
        }
        Err(e) => Err(Error::config(section, e.to_string())),
    }
}

/// The error for a property librdkafka refused. For a secret property neither the value nor
/// librdkafka's description (which may quote it) is shown.
pub(super) fn refusal(section: &str, key: &str, value: &str, description: &str) -> Error {
    let problem = if is_secret_key(key) {
        format!("librdkafka refused the value of {key} (value hidden)")
    } else {
        format!("{description} (value `{value}`)")
    };
    Error::config(format!("{section}.\"{key}\""), problem)
}

/// Kafka's own rule for topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic_name(key: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            key,
            format!("`{name}` is not a valid topic name (1-249 of a-z A-Z 0-9 . _ -)"),
        ))
    }
}
