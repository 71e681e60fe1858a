//! The first contact with the cluster, made when a command starts, so that a wrong address,
//! password or certificate fails it at once with librdkafka's own reason (e.g. "SASL
//! authentication error: ... invalid credentials", "certificate verify failed") instead of as
//! a delivery timeout later. librdkafka reports those reasons through its error and log
//! callbacks, not in the failed request's error, so this client records them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

use crate::config::KafkaConfig;
use crate::error::{Error, Result};

/// Keeps the most telling reasons librdkafka gave while the check ran.
#[derive(Debug, Default)]
struct Reasons(Mutex<Vec<String>>);

impl Reasons {
    fn push(&self, reason: String) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !all.contains(&reason) && all.len() < 8 {
            all.push(reason);
        }
    }

    /// Authentication and TLS reasons first: they say what to fix; "all brokers down" does not.
    fn best(&self) -> Option<String> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .find(|r| is_final(r))
            .or_else(|| all.first())
            .cloned()
    }

    /// A reason that waiting will not change was given.
    fn final_failure(&self) -> bool {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().any(|r| is_final(r))
    }
}

fn is_final(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("authentication") || r.contains("ssl handshake") || r.contains("certificate")
}

impl ClientContext for Reasons {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        ) {
            self.push(format!("{fac}: {log_message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Reasons {}

/// Asks the cluster for its metadata within `timeout`; on failure the error names the brokers
/// and the reason librdkafka gave. An authentication or TLS failure ends the wait at once: it
/// will not heal by waiting. Credentials never appear in the error: librdkafka does not print
/// them, and the config's own `Debug` masks them.
pub fn check_connection(kafka: &KafkaConfig, timeout: Duration) -> Result<()> {
    let client: BaseConsumer<Reasons> = kafka
        .client_config()
        .set("allow.auto.create.topics", "false")
        .create_with_context(Reasons::default())?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.min(Duration::from_secs(1));
        let failure = match client.fetch_metadata(None, attempt) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Serve the queued error events so their reasons reach the context.
        let _ = client.poll(Duration::from_millis(50));
        let reasons = client.context();
        if reasons.final_failure() || Instant::now() >= deadline {
            return Err(Error::Connect {
                servers: kafka.bootstrap_servers.clone(),
                reason: reasons.best().unwrap_or_else(|| failure.to_string()),
            });
        }
    }
}
