//! Replay for backfill: read one topic's range `[from, to)` per partition again, fixed when the
//! replay starts, without joining or committing for any group, and either run a worker over it
//! in a new group ([`to_group`]) or copy it to another topic ([`to_topic`]).
//!
//! - [`bounds`]: `--from`/`--to` parsing and clamping to the watermarks (pure, unit-tested).
//! - [`time_search`]: a time to an offset, the broker's answer checked or searched (pure).
//! - `plan`: the bounds resolved once per partition into the replay's fixed ranges.
//! - `pace`: the rate limit and the progress counters.
//! - `reader`: the broker side (watermarks, ListOffsets, single reads, the range reader).
//! - [`sink`]: where replayed events go: a worker through the runtime's machinery, or a topic.
//!
//! [`plan`] resolves the bounds once: the high watermark read there is the end of `now`, so
//! events published after the start are never part of the replay.

pub mod bounds;
mod pace;
mod plan;
pub(crate) mod reader;
pub mod sink;
pub mod time_search;

pub use bounds::Bound;
pub use pace::Progress;
pub use plan::{PartitionRange, Plan, plan, plan_with_broker_answers};
pub use sink::{ReplayGroup, ReplayReport, ReplayRun, to_group, to_topic};
pub use time_search::TimeResolution;
