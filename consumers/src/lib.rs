//! The read side of orderbus: the consumer-group runtime and the tools built on it. It knows
//! nothing of stores or providers; the handlers it runs live in the `workers` crate.
//!
//! - [`runtime`]: the consumer-group runtime (see its module map), replay and redrive.
//! - [`snapshot`]: everything in some topics up to their high watermarks at the time of the call.
//! - [`error`]: the crate's one error type.

pub mod error;
pub mod runtime;
pub mod snapshot;

pub use error::{Error, Result};
