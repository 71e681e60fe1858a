//! What every processor of one run shares: the handler, the producer for the group's own
//! topics, the parked-event bookkeeping, the settings, the stop signal and the counters. Built
//! once by a group or a replay, read by `process` and `attempt`.

use std::sync::Arc;

use producers::EventProducer;
use tokio_util::sync::CancellationToken;

use crate::runtime::config::GroupConfig;
use crate::runtime::metrics::GroupStats;
use crate::runtime::retry::Parking;

/// Everything a processor needs, shared.
#[derive(Debug)]
pub(crate) struct Deps<H> {
    pub(crate) group: String,
    pub(crate) handler: Arc<H>,
    pub(crate) producer: EventProducer,
    pub(crate) dlq_topic: String,
    pub(crate) retry_topic: String,
    pub(crate) parking: Arc<Parking>,
    /// Events are replayed for backfill, not consumed live (the handler sees the flag).
    pub(crate) replay: bool,
    pub(crate) config: GroupConfig,
    pub(crate) cancel: CancellationToken,
    pub(crate) stats: Arc<GroupStats>,
}
