//! The retry topic. An event whose in-process retries are spent is parked on the group's retry
//! topic (`<group>.retry`, keyed like its source so it stays co-partitioned) with a not-before
//! time, and comes back to the same group after its delay without holding up other keys: the
//! runtime keeps parked events it has read in a [`DelayQueue`] (their offsets stay uncommitted,
//! so a crash loses nothing) and hands each to the scheduler when it is due.
//!
//! While an event of a key is parked, later events of that key either wait behind it
//! ([`RetryMode::BlockKey`], the default: they are parked too, as *followers*, and run after it
//! succeeds or is dead-lettered) or run on ([`RetryMode::Skip`]). [`Parking`] holds which keys
//! are blocked; sequence numbers that increase across processes order the parkings of one key.
//!
//! - `parked`: why and until when an event is parked, as the headers of its retry-topic copy,
//!   and the sequence numbers that order one key's parkings.
//! - `parking`: which keys are blocked by a parked event.
//! - `delay`: parked events read back, held until due.

mod delay;
mod parked;
mod parking;

use serde::{Deserialize, Serialize};

pub use delay::DelayQueue;
pub(crate) use parked::ParkHeaders;
pub use parked::{ParkKind, Parked, next_seq, now_ms};
pub use parking::Parking;

/// What later events of a key do while an earlier one waits on the retry topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RetryMode {
    /// They wait behind it (parked as followers), so the key's order holds; a key whose
    /// event keeps failing stalls until that event succeeds or is dead-lettered.
    #[default]
    BlockKey,
    /// They run on; nothing stalls, but the failed event is handled after later ones.
    Skip,
}
