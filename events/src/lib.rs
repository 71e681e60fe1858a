//! The language of orderbus: typed order and payment events, the envelope they travel in, the
//! message key and headers, and (de)serialization checked against `schemas/`. No I/O.
//!
//! - [`catalog`]: the one table of event types, yielding [`EventType`], [`EventData`],
//!   [`Stream`] and the [`Payload`] traits.
//! - [`envelope`]: [`Envelope`] and its encoding.
//! - [`payload`]: the `data` of each event type (v1).
//! - [`money`]: [`Money`] in integer minor units, [`Currency`] (ISO 4217).
//! - [`decode`](mod@decode): bytes to a checked [`Envelope`], with located errors.
//! - [`validate`]: the rules the JSON Schemas state, checked in code.
//! - [`headers`]: message header names and values.
//! - [`samples`]: realistic order lifecycles for demos, benchmarks and tests.
//! - [`trace`]: W3C `traceparent`.
//! - [`secret`]: [`Secret`], a config value that never prints itself.
//! - [`error`]: the crate's one error type.
//!
//! # Adding an event type
//!
//! 1. Write its payload struct in [`payload`]: serde derives with `deny_unknown_fields`, and an
//!    `impl Validate` stating the schema's bounds.
//! 2. Add one row to the table in [`catalog`]: variant, wire name, stream, payload type, schema
//!    version. That row alone gives the type its [`EventType`] variant (in `ALL`, `as_str`,
//!    parsing, `stream`, the schema file name and the `event_type`/`schema_version` header
//!    values), its [`EventData`] variant, its [`Payload`] and stream marker impls (so only the
//!    right typed producer takes it), validation and its decode arm.
//! 3. Give it sample data in [`samples`]: an arm in `Generator::standalone_data` (the compiler
//!    asks for it), and a place in `order_flow` if demo lifecycles should contain it.
//! 4. Write `schemas/<wire name>.v<version>.json`. `tests/schemas.rs` fails until the schema
//!    exists, names the type and version, and accepts every event the code builds; it asks
//!    (by not compiling) for the type's broken examples in `data_edits`, which schema and
//!    decoder must both reject. The catalog's contract test asks for its name and stream.
//! 5. Build the workspace. No `match` on an [`EventType`] or [`EventData`] has a catch-all arm,
//!    so the compiler lists every worker that must decide what the new type means to it; the
//!    rest (topics, headers, metrics, DLQ, replay) follow from the row. Add the name to the
//!    contract's `event_type` list in README.md and ARCHITECTURE.md.

pub mod catalog;
pub mod decode;
pub mod envelope;
pub mod error;
pub mod headers;
pub mod money;
pub mod payload;
pub mod samples;
pub mod secret;
mod strict;
pub mod trace;
pub mod validate;

pub use catalog::{EventData, EventType, OrderPayload, Payload, PaymentPayload, Stream};
pub use decode::{decode, decode_publish_input, decode_str};
pub use envelope::{Envelope, now_micros};
pub use error::{Error, Result};
pub use money::{Currency, Money};
pub use payload::*;
pub use secret::Secret;
pub use trace::TraceParent;
pub use validate::Validate;
