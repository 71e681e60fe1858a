//! Settings of one consumer group (`[groups.<name>]` in `orderbus.toml`): how many Kafka
//! clients and processors, flow control, commits, timeouts and retries. Validated at start with
//! the failing key named.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::retry::RetryMode;

/// Where a group without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// From the oldest retained event (backfill on first start).
    Earliest,
    /// Only events published from now on.
    Latest,
}

/// One consumer group. `W` names the handler the group runs, as the application picks it (the
/// `orderbus` binary uses `workers::WorkerKind`, read from the `worker` key); the runtime is
/// handed the handler itself and never reads it, so its own configs use `()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig<W = ()> {
    /// The handler this group runs.
    pub worker: W,
    /// Topics to read; empty means the order and payment topics.
    pub topics: Vec<String>,
    /// Kafka clients in the group (partitions are split between them).
    pub consumers: usize,
    /// Concurrent handlers; different keys run in parallel up to this many.
    pub processors: usize,
    /// Events held at once (running or waiting for their key); at the limit the client stops
    /// taking messages until one finishes (librdkafka's prefetch, bounded by
    /// `queued_max_kbytes`, then stops fetching).
    pub max_in_flight: usize,
    /// Start for a group with no commits.
    pub offset_reset: OffsetReset,
    /// How often finished offsets are committed.
    pub commit_interval_ms: u64,
    /// Group session timeout (the broker drops a silent member after this).
    pub session_timeout_ms: u64,
    /// Longest time between polls before the member is considered stuck.
    pub max_poll_interval_ms: u64,
    /// Bytes fetched per request at most (`fetch.max.bytes`).
    pub fetch_max_bytes: u32,
    /// Prefetched messages librdkafka may hold per client, in KiB
    /// (`queued.max.messages.kbytes`); with `max_in_flight` this bounds the group's memory.
    pub queued_max_kbytes: u32,
    /// On revoke or shutdown, how long to wait for running events to finish before committing.
    pub drain_timeout_ms: u64,
    /// Handling attempts in-process before the event is dead-lettered (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_initial_ms: u64,
    /// Largest retry delay.
    pub retry_max_ms: u64,
    /// Delays of the retry topic, one per round: once the in-process attempts are spent the
    /// event is parked on `<group>.retry` for `retry_delays_ms[0]`, then (after another
    /// `max_attempts`) for `retry_delays_ms[1]`, ...; after the last round it is
    /// dead-lettered. Empty: no retry topic, dead-letter at once.
    pub retry_delays_ms: Vec<u64>,
    /// What later events of a key do while an earlier one is parked on the retry topic:
    /// `block-key` (wait behind it, order kept) or `skip` (run on).
    pub retry_mode: RetryMode,
}

impl<W: Default> Default for GroupConfig<W> {
    fn default() -> Self {
        Self {
            worker: W::default(),
            topics: Vec::new(),
            consumers: 1,
            processors: 16,
            max_in_flight: 1_000,
            offset_reset: OffsetReset::Earliest,
            commit_interval_ms: 1_000,
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 300_000,
            fetch_max_bytes: 52_428_800,
            queued_max_kbytes: 65_536,
            drain_timeout_ms: 10_000,
            max_attempts: 3,
            retry_initial_ms: 100,
            retry_max_ms: 5_000,
            retry_delays_ms: vec![1_000, 10_000, 60_000],
            retry_mode: RetryMode::BlockKey,
        }
    }
}

impl<W> GroupConfig<W> {
    /// The worker's name and the settings the runtime uses.
    pub fn split(self) -> (W, GroupConfig) {
        let GroupConfig {
            worker,
            topics,
            consumers,
            processors,
            max_in_flight,
            offset_reset,
            commit_interval_ms,
            session_timeout_ms,
            max_poll_interval_ms,
            fetch_max_bytes,
            queued_max_kbytes,
            drain_timeout_ms,
            max_attempts,
            retry_initial_ms,
            retry_max_ms,
            retry_delays_ms,
            retry_mode,
        } = self;
        let runtime = GroupConfig {
            worker: (),
            topics,
            consumers,
            processors,
            max_in_flight,
            offset_reset,
            commit_interval_ms,
            session_timeout_ms,
            max_poll_interval_ms,
            fetch_max_bytes,
            queued_max_kbytes,
            drain_timeout_ms,
            max_attempts,
            retry_initial_ms,
            retry_max_ms,
            retry_delays_ms,
            retry_mode,
        };
        (worker, runtime)
    }

    /// Checks every key; `prefix` is where the group sits in the config (`groups.analytics`).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, problem: &str| {
            Error::Config(producers::Error::Config {
                key: format!("{prefix}.{key}"),
                problem: problem.to_owned(),
            })
        };
        for (i, t) in self.topics.iter().enumerate() {
            producers::config::check_topic_name(&format!("{prefix}.topics[{i}]"), t)?;
        }
        if !(1..=64).contains(&self.consumers) {
            return Err(bad("consumers", "must be between 1 and 64"));
        }
        if !(1..=4096).contains(&self.processors) {
            return Err(bad("processors", "must be between 1 and 4096"));
        }
        if self.max_in_flight < self.processors {
            return Err(bad("max_in_flight", "must be at least processors"));
        }
        if !(10..=3_600_000).contains(&self.commit_interval_ms) {
            return Err(bad("commit_interval_ms", "must be between 10 and 3600000"));
        }
        if !(1_000..=3_600_000).contains(&self.session_timeout_ms) {
            return Err(bad(
                "session_timeout_ms",
                "must be between 1000 and 3600000",
            ));
        }
        if self.max_poll_interval_ms < self.session_timeout_ms {
            return Err(bad(
                "max_poll_interval_ms",
                "must be at least session_timeout_ms",
            ));
        }
        if self.fetch_max_bytes < 1024 {
            return Err(bad("fetch_max_bytes", "must be at least 1024"));
        }
        if !(1_024..=2_097_151).contains(&self.queued_max_kbytes) {
            return Err(bad("queued_max_kbytes", "must be between 1024 and 2097151"));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(bad("max_attempts", "must be between 1 and 100"));
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err(bad(
                "retry_max_ms",
                "retry_initial_ms must be positive and retry_max_ms at least retry_initial_ms",
            ));
        }
        if self.retry_delays_ms.len() > 20 {
            return Err(bad("retry_delays_ms", "at most 20 rounds"));
        }
        for (i, d) in self.retry_delays_ms.iter().enumerate() {
            if !(1..=604_800_000).contains(d) {
                return Err(bad(
                    &format!("retry_delays_ms[{i}]"),
                    "must be between 1 and 604800000 (7 days)",
                ));
            }
        }
        Ok(())
    }

    /// The drain deadline as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// The group's retry topic: events come back here after their delay.
pub fn retry_topic(group: &str) -> String {
    format!("{group}.retry")
}

/// The group's dead-letter topic: events that will never succeed, with the reason.
pub fn dead_letter_topic(group: &str) -> String {
    format!("{group}.dlq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        GroupConfig::<()>::default()
            .validate("groups.g")
            .expect("valid");
        let key = |c: GroupConfig| match c.validate("groups.g") {
            Err(Error::Config(producers::Error::Config { key, .. })) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            key(GroupConfig {
                processors: 0,
                ..Default::default()
            }),
            "groups.g.processors"
        );
        assert_eq!(
            key(GroupConfig {
                max_in_flight: 2,
                processors: 8,
                ..Default::default()
            }),
            "groups.g.max_in_flight"
        );
        assert_eq!(
            key(GroupConfig {
                topics: vec!["bad topic".into()],
                ..Default::default()
            }),
            "groups.g.topics[0]"
        );
        assert_eq!(
            key(GroupConfig {
                retry_delays_ms: vec![10, 0],
                ..Default::default()
            }),
            "groups.g.retry_delays_ms[1]"
        );
        assert_eq!(dead_letter_topic("notification"), "notification.dlq");
    }
}
