//! Loading `orderbus.toml` with `ORDERBUS_...` environment overrides into one typed [`Config`],
//! and turning every problem into a message that names the key, where it came from and what is
//! wrong, without ever echoing a secret.
//!
//! Environment keys use `__` between levels: `ORDERBUS_KAFKA__BOOTSTRAP_SERVERS`,
//! `ORDERBUS_PRODUCER__LINGER_MS`, `ORDERBUS_KAFKA__SASL__PASSWORD`. A string setting takes any
//! variable's text, numeric-looking or not (see `env`).

mod env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use consumers::runtime::GroupConfig;
use workers::{WorkerKind, WorkersConfig};

use anyhow::bail;
use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Toml};
use producers::secret::is_secret_key;
use producers::{KafkaConfig, ProducerConfig, TopicsConfig};

use crate::telemetry::{LogConfig, TelemetryConfig};
use serde::{Deserialize, Serialize};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "orderbus.toml";
/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "ORDERBUS_";

/// Everything orderbus reads at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Broker connection and security.
    pub kafka: KafkaConfig,
    /// Producer behaviour.
    pub producer: ProducerConfig,
    /// Topic names and creation settings.
    pub topics: TopicsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Consumer groups by name (`[groups.notification]`, ...), run by `orderbus consume`.
    pub groups: BTreeMap<String, GroupConfig<WorkerKind>>,
    /// What the workers connect to and their settings (`[workers]`).
    pub workers: WorkersConfig,
    /// Trace export (`[telemetry]`).
    pub telemetry: TelemetryConfig,
}

impl Config {
    /// Checks every section; the error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.kafka.validate()?;
        self.producer.validate()?;
        self.topics.validate()?;
        self.workers.validate()?;
        self.telemetry.validate()?;
        self.log.validate()?;
        for (name, group) in &self.groups {
            let at = format!("groups.{name}");
            group.validate(&at)?;
        }
        Ok(())
    }
}

/// Reads `path` (or `orderbus.toml` when present), applies `ORDERBUS_...` environment
/// overrides, and validates.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let mut figment = Figment::new();
    let file: Option<PathBuf> = match path {
        Some(p) if !p.exists() => bail!("config file {} does not exist", p.display()),
        Some(p) => Some(p.to_owned()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
    };
    if let Some(f) = &file {
        figment = figment.merge(Toml::file_exact(f));
    }
    // ORDERBUS_CONFIG names the file (a CLI flag), it is not a key.
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]));
    let config: Config = env::extract(figment).map_err(|e| describe(*e))?;
    config.validate()?;
    Ok(config)
}

/// The dotted key of `field` under `path`; figment sometimes already ends the path with it.
fn with_field(path: &[String], field: &str) -> String {
    if path.last().is_some_and(|last| last == field) {
        path.join(".")
    } else {
        path.iter()
            .map(String::as_str)
            .chain([field])
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// One line per problem: key, source, reason; values of secret keys are left out.
fn describe(errors: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let mut key = e.path.join(".");
            let reason = match &e.kind {
                Kind::UnknownField(field, expected) => {
                    key = with_field(&e.path, field);
                    format!("unknown key; expected one of: {}", expected.join(", "))
                }
                Kind::MissingField(field) => {
                    key = with_field(&e.path, field);
                    "is required".to_owned()
                }
                Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected)
                    if is_secret_key(&key) =>
                {
                    format!("invalid value (hidden); expected {expected}")
                }
                other => other.to_string(),
            };
            let source = match (&e.metadata, &e.profile) {
                (Some(m), _) if m.source.is_some() => {
                    format!(
                        " (from {} {})",
                        m.name,
                        m.source
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )
                }
                // The environment provider can name the exact variable.
                (Some(m), _) if m.name.contains("environment") => {
                    format!(" (from {ENV_PREFIX}{})", e.path.join("__").to_uppercase())
                }
                (Some(m), _) => format!(" (from {})", m.name),
                (None, _) => String::new(),
            };
            let key = if key.is_empty() {
                "(root)".to_owned()
            } else {
                key
            };
            format!("config `{key}`{source}: {reason}")
        })
        .collect();
    anyhow::anyhow!(lines.join("\n"))
}
