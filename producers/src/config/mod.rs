//! Typed configuration for Kafka clients, the producer and the topics, as read from the
//! `[kafka]`, `[producer]` and `[topics]` sections of `orderbus.toml` (and `ORDERBUS_...`
//! environment overrides). `validate` fails naming the key and the problem; nothing here ever
//! prints a secret.

//!
//! - `kafka`: `[kafka]`, shared by every client; `security`: its protocol, SASL and TLS parts.
//! - `producer`: `[producer]`.
//! - `topics`: `[topics]`.
//! - `check`: librdkafka's verdict on a configuration, and the topic-name rule.

mod check;
mod kafka;
mod producer;
mod security;
mod topics;

pub use check::check_topic_name;
pub(crate) use check::check_with_librdkafka;
pub use kafka::KafkaConfig;
pub use producer::{Acks, Compression, ProducerConfig};
pub use security::{SaslConfig, SaslMechanism, SecurityProtocol, TlsConfig};
pub use topics::TopicsConfig;

#[cfg(test)]
mod tests {
    use super::check::refusal;
    use super::*;
    use crate::error::{Error, Result};
    use crate::secret::Secret;

    fn key_of(r: Result<()>) -> String {
        match r {
            Err(Error::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        KafkaConfig::default().validate().expect("kafka");
        ProducerConfig::default().validate().expect("producer");
        TopicsConfig::default().validate().expect("topics");
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let k = |f: fn(&mut KafkaConfig)| {
            let mut c = KafkaConfig::default();
            f(&mut c);
            key_of(c.validate())
        };
        assert_eq!(
            k(|c| c.bootstrap_servers = "nohost".into()),
            "kafka.bootstrap_servers"
        );
        assert_eq!(
            k(|c| c.security_protocol = SecurityProtocol::SaslSsl),
            "kafka.sasl"
        );
        assert_eq!(
            k(|c| {
                c.properties.insert("linger.ms".into(), "banana".into());
            }),
            "kafka.properties.\"linger.ms\""
        );
        assert_eq!(
            k(|c| {
                c.properties.insert("no.such.property".into(), "1".into());
            }),
            "kafka.properties.\"no.such.property\""
        );
        assert_eq!(
            k(|c| {
                c.properties.insert("sasl.password".into(), "x".into());
            }),
            "kafka.properties.\"sasl.password\""
        );
        let p = |f: fn(&mut ProducerConfig)| {
            let mut c = ProducerConfig::default();
            f(&mut c);
            key_of(c.validate())
        };
        assert_eq!(p(|c| c.acks = Acks::Leader), "producer.acks");
        assert_eq!(
            p(|c| c.message_timeout_ms = 1),
            "producer.message_timeout_ms"
        );
        let t = |f: fn(&mut TopicsConfig)| {
            let mut c = TopicsConfig::default();
            f(&mut c);
            key_of(c.validate())
        };
        assert_eq!(
            t(|c| c.order_events = "bad topic".into()),
            "topics.order_events"
        );
        assert_eq!(t(|c| c.partitions = 0), "topics.partitions");
    }

    #[test]
    fn secret_values_never_reach_the_error() {
        let e = refusal(
            "kafka.properties",
            "ssl.key.pem",
            "hunter2",
            "bad PEM: hunter2",
        );
        let shown = e.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("kafka.properties.\"ssl.key.pem\""),
            "{shown}"
        );
        let e = refusal("kafka.properties", "linger.ms", "banana", "Invalid value");
        assert!(e.to_string().contains("banana"));
        let sasl = SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{sasl:?}").contains("hunter2"));
        let kafka = KafkaConfig {
            security_protocol: SecurityProtocol::SaslPlaintext,
            sasl: Some(sasl),
            ..KafkaConfig::default()
        };
        kafka.validate().expect("valid");
        assert!(!format!("{kafka:?}").contains("hunter2"));
    }
}
