//! The read side of orderbus. For now: [`snapshot`], reading a bounded range of topics (what
//! the demo shows and replay will build on). The consumer-group runtime and the workers come
//! next (see ARCHITECTURE.md: `runtime/`, `workers/`).
//!
//! - [`runtime`]: the consumer-group runtime, built piece by piece: [`runtime::offsets`] (safe
//!   commit points) and [`runtime::scheduler`] (per-key ordering across processors) so far.
//! - [`workers`]: the handlers groups run (`log` so far).
//! - [`snapshot`]: everything in some topics up to their high watermarks at the time of the call.
//! - [`error`]: the crate's one error type.

pub mod error;
pub mod runtime;
pub mod snapshot;
pub mod workers;

pub use error::{Error, Result};
