//! The one error type of the events crate: everything that can be wrong with an event's bytes,
//! shape or content, each variant naming the place (a dotted path) and the problem.

/// What is wrong with an event. `Display` is meant for people and dead-letter headers;
/// [`Error::reason_code`] is the stable machine-readable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not UTF-8.
    #[error("payload is not UTF-8: invalid byte at offset {valid_up_to}")]
    NotUtf8 {
        /// Bytes before the first invalid one.
        valid_up_to: usize,
    },
    /// The text is not JSON (or is truncated).
    #[error("payload is not JSON: {reason} at line {line}, column {column}")]
    NotJson {
        /// Parser's description.
        reason: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A required field is absent.
    #[error("missing field `{path}`")]
    MissingField {
        /// Dotted path of the absent field.
        path: String,
    },
    /// A field the contract does not have.
    #[error("unknown field `{path}`")]
    UnknownField {
        /// Dotted path of the extra field.
        path: String,
    },
    /// A field has the wrong type or a value outside its domain.
    #[error("field `{path}` is invalid: {reason}")]
    InvalidField {
        /// Dotted path of the field (`(root)` for the document itself).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `event_type` names no known event.
    #[error("unknown event_type `{0}`")]
    UnknownEventType(String),
    /// The event type is known but not in this version.
    #[error("unsupported schema_version {version} for {event_type} (supported: {supported})")]
    UnsupportedSchemaVersion {
        /// Event type.
        event_type: String,
        /// Version found.
        version: u64,
        /// Versions this build reads.
        supported: String,
    },
    /// The currency code is not an active ISO 4217 code.
    #[error("`{0}` is not an active ISO 4217 currency code")]
    UnknownCurrency(String),
    /// A W3C `traceparent` value could not be parsed.
    #[error("invalid traceparent: {0}")]
    InvalidTraceParent(String),
}

impl Error {
    /// Stable, machine-readable reason, used in dead-letter headers and metrics labels.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Error::NotUtf8 { .. } => "not_utf8",
            Error::NotJson { .. } => "not_json",
            Error::MissingField { .. } => "missing_field",
            Error::UnknownField { .. } => "unknown_field",
            Error::InvalidField { .. } | Error::UnknownCurrency(_) => "invalid_field",
            Error::UnknownEventType(_) => "unknown_event_type",
            Error::UnsupportedSchemaVersion { .. } => "unsupported_schema_version",
            Error::InvalidTraceParent(_) => "invalid_traceparent",
        }
    }

    /// The dotted path the error points at, when it points at one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::MissingField { path }
            | Error::UnknownField { path }
            | Error::InvalidField { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// `Result` with the events crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
