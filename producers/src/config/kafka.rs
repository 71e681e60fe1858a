//! `[kafka]`: the connection settings every Kafka client orderbus makes shares, their checks
//! (each error names its key), and the librdkafka configuration they become. Properties that a
//! typed key sets are refused in `properties`, so the typed, masked key is the one place.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use super::check::check_with_librdkafka;
use super::security::{SaslConfig, SecurityProtocol, TlsConfig};
use crate::error::{Error, Result};

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
