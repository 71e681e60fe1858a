//! Typed configuration for Kafka clients, the producer and the topics, as read from the
//! `[kafka]`, `[producer]` and `[topics]` sections of `orderbus.toml` (and `ORDERBUS_...`
//! environment overrides). `validate` fails naming the key and the problem; nothing here ever
//! prints a secret.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::{Secret, is_secret_key};

/// Connection settings shared by every Kafka client orderbus makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// `client.id` reported to the brokers.
    pub client_id: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: SecurityProtocol,
    /// SASL credentials; required for the `sasl_*` protocols.
    pub sasl: Option<SaslConfig>,
    /// TLS files; used by `ssl` and `sasl_ssl`.
    pub tls: Option<TlsConfig>,
    /// Any other librdkafka property, passed through as is (e.g. `"socket.keepalive.enable"`).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client_id: "orderbus".into(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            properties: BTreeMap::new(),
        }
    }
}

/// Transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// SASL mechanism and credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password; never logged.
    pub password: Secret,
}

/// SASL mechanisms orderbus supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// `PLAIN`
    #[serde(rename = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256`
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512`
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// TLS settings (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA bundle to verify the brokers with; the system store when unset.
    pub ca_location: Option<String>,
    /// Client certificate, for mutual TLS.
    pub certificate_location: Option<String>,
    /// Client key, for mutual TLS.
    pub key_location: Option<String>,
    /// Password of the client key; never logged.
    pub key_password: Option<Secret>,
    /// Verify the broker host name against its certificate (default true).
    pub verify_hostname: Option<bool>,
}

/// Properties orderbus sets from typed keys; passing them through `properties` is refused so the
/// typed key (which is validated and masked) is the one place to set them.
const MANAGED: &[(&str, &str)] = &[
    ("bootstrap.servers", "kafka.bootstrap_servers"),
    ("metadata.broker.list", "kafka.bootstrap_servers"),
    ("client.id", "kafka.client_id"),
    ("security.protocol", "kafka.security_protocol"),
    ("sasl.mechanism", "kafka.sasl.mechanism"),
    ("sasl.mechanisms", "kafka.sasl.mechanism"),
    ("sasl.username", "kafka.sasl.username"),
    ("sasl.password", "kafka.sasl.password"),
    ("ssl.key.password", "kafka.tls.key_password"),
    ("enable.idempotence", "producer.enable_idempotence"),
    ("acks", "producer.acks"),
    (
        "partitioner",
        "(fixed: murmur2_random, the Java client's placement)",
    ),
];

impl KafkaConfig {
    /// Checks every key; the error names the first that is wrong.
    pub fn validate(&self) -> Result<()> {
        let servers: Vec<&str> = self.bootstrap_servers.split(',').map(str::trim).collect();
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Error::config(
                "kafka.bootstrap_servers",
                "must not be empty",
            ));
        }
        for s in &servers {
            let port = s
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0) {
                return Err(Error::config(
                    "kafka.bootstrap_servers",
                    format!("`{s}` is not host:port"),
                ));
            }
        }
        if self.client_id.trim().is_empty() {
            return Err(Error::config("kafka.client_id", "must not be empty"));
        }
        match (self.security_protocol.uses_sasl(), &self.sasl) {
            (true, None) => {
                return Err(Error::config(
                    "kafka.sasl",
                    format!(
                        "security_protocol is {} but no [kafka.sasl] section is set",
                        self.security_protocol.as_str()
                    ),
                ));
            }
            (false, Some(_)) => {
                return Err(Error::config(
                    "kafka.sasl",
                    format!(
                        "is set but security_protocol is {}; use sasl_plaintext or sasl_ssl",
                        self.security_protocol.as_str()
                    ),
                ));
            }
            (true, Some(sasl)) if sasl.username.is_empty() => {
                return Err(Error::config("kafka.sasl.username", "must not be empty"));
            }
            _ => {}
        }
        if self.tls.is_some() && !self.security_protocol.uses_tls() {
            return Err(Error::config(
                "kafka.tls",
                format!(
                    "is set but security_protocol is {}; use ssl or sasl_ssl",
                    self.security_protocol.as_str()
                ),
            ));
        }
        for key in self.properties.keys() {
            if let Some((_, typed)) = MANAGED.iter().find(|(p, _)| p == key) {
                return Err(Error::config(
                    format!("kafka.properties.\"{key}\""),
                    format!("is managed by orderbus; set {typed} instead"),
                ));
            }
        }
        // librdkafka knows its own property names and value ranges: ask it, at start.
        check_with_librdkafka(&self.client_config(), "kafka.properties")
    }

    /// The librdkafka configuration for any client: connection, security and passthrough.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol.as_str());
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanism", sasl.mechanism.as_str())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose());
        }
        if let Some(tls) = &self.tls {
            let files = [
                ("ssl.ca.location", &tls.ca_location),
                ("ssl.certificate.location", &tls.certificate_location),
                ("ssl.key.location", &tls.key_location),
            ];
            for (key, value) in files {
                if let Some(v) = value {
                    c.set(key, v);
                }
            }
            if let Some(p) = &tls.key_password {
                c.set("ssl.key.password", p.expose());
            }
            if let Some(verify) = tls.verify_hostname {
                c.set(
                    "ssl.endpoint.identification.algorithm",
                    if verify { "https" } else { "none" },
                );
            }
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

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
fn refusal(section: &str, key: &str, value: &str, description: &str) -> Error {
    let problem = if is_secret_key(key) {
        format!("librdkafka refused the value of {key} (value hidden)")
    } else {
        format!("{description} (value `{value}`)")
    };
    Error::config(format!("{section}.\"{key}\""), problem)
}

/// How many replicas must acknowledge a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// Every in-sync replica (`acks=all`); required for idempotence.
    All,
    /// The partition leader only.
    Leader,
    /// Nobody: fire and forget.
    None,
}

/// Payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip
    Gzip,
    /// snappy
    Snappy,
    /// lz4
    Lz4,
    /// zstd
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Producer settings (`[producer]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// Written into every event's `producer` field.
    pub name: String,
    /// Acknowledgements to wait for; `all` unless idempotence is off.
    pub acks: Acks,
    /// Exactly-once per partition on retries (needs `acks = "all"`).
    pub enable_idempotence: bool,
    /// How long to wait to fill a batch (librdkafka `linger.ms`).
    pub linger_ms: u32,
    /// Largest batch in bytes (`batch.size`).
    pub batch_size: u32,
    /// Largest batch in messages (`batch.num.messages`).
    pub batch_num_messages: u32,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: Compression,
    /// Delivery timeout: a publish fails after this long without an acknowledgement.
    pub message_timeout_ms: u32,
    /// Local queue bound in messages; a full queue makes `publish` wait, not buffer more.
    pub queue_max_messages: u32,
    /// How long `publish` waits for room in a full queue before failing.
    pub queue_full_timeout_ms: u32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            name: "orderbus".into(),
            acks: Acks::All,
            enable_idempotence: true,
            linger_ms: 5,
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
            compression: Compression::Lz4,
            message_timeout_ms: 30_000,
            queue_max_messages: 100_000,
            queue_full_timeout_ms: 10_000,
        }
    }
}

impl ProducerConfig {
    /// Checks every key; the error names the first that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.chars().count() > 100 {
            return Err(Error::config("producer.name", "must be 1-100 characters"));
        }
        if self.enable_idempotence && self.acks != Acks::All {
            return Err(Error::config(
                "producer.acks",
                "must be \"all\" while producer.enable_idempotence is true",
            ));
        }
        if self.linger_ms > 900_000 {
            return Err(Error::config(
                "producer.linger_ms",
                "must be at most 900000",
            ));
        }
        if !(1..=1_000_000).contains(&self.batch_num_messages) {
            return Err(Error::config(
                "producer.batch_num_messages",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=2_147_483_647).contains(&self.batch_size) {
            return Err(Error::config("producer.batch_size", "must be at least 1"));
        }
        if self.message_timeout_ms <= self.linger_ms {
            return Err(Error::config(
                "producer.message_timeout_ms",
                "must be greater than producer.linger_ms",
            ));
        }
        if !(1..=10_000_000).contains(&self.queue_max_messages) {
            return Err(Error::config(
                "producer.queue_max_messages",
                "must be between 1 and 10000000",
            ));
        }
        Ok(())
    }

    /// Adds the producer properties to a client config.
    pub fn apply(&self, c: &mut ClientConfig) {
        c.set(
            "acks",
            match self.acks {
                Acks::All => "all",
                Acks::Leader => "1",
                Acks::None => "0",
            },
        )
        .set("enable.idempotence", self.enable_idempotence.to_string())
        .set("linger.ms", self.linger_ms.to_string())
        .set("batch.size", self.batch_size.to_string())
        .set("batch.num.messages", self.batch_num_messages.to_string())
        .set("compression.type", self.compression.as_str())
        .set("message.timeout.ms", self.message_timeout_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            self.queue_max_messages.to_string(),
        )
        // The Java client's placement, so every language puts an order on the same partition.
        .set("partitioner", "murmur2_random");
    }
}

/// Topic names and how `orderbus topics create` makes them (`[topics]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Topic of `order.*` events.
    pub order_events: String,
    /// Topic of `payment.*` events.
    pub payment_events: String,
    /// Partitions for new topics.
    pub partitions: i32,
    /// Replicas for new topics.
    pub replication_factor: i32,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            order_events: "order-events".into(),
            payment_events: "payment-events".into(),
            partitions: 12,
            replication_factor: 1,
        }
    }
}

impl TopicsConfig {
    /// Checks every key; the error names the first that is wrong.
    pub fn validate(&self) -> Result<()> {
        check_topic_name("topics.order_events", &self.order_events)?;
        check_topic_name("topics.payment_events", &self.payment_events)?;
        if self.order_events == self.payment_events {
            return Err(Error::config(
                "topics.payment_events",
                "must differ from topics.order_events",
            ));
        }
        if !(1..=10_000).contains(&self.partitions) {
            return Err(Error::config(
                "topics.partitions",
                "must be between 1 and 10000",
            ));
        }
        if !(1..=32).contains(&self.replication_factor) {
            return Err(Error::config(
                "topics.replication_factor",
                "must be between 1 and 32",
            ));
        }
        Ok(())
    }

    /// The topic an event type is published to.
    pub fn topic_for(&self, event_type: events::EventType) -> &str {
        match event_type.stream() {
            events::Stream::Order => &self.order_events,
            events::Stream::Payment => &self.payment_events,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
