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
