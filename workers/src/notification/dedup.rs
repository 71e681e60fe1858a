//! The dedup store: at most one message per (event, channel), ever, in PostgreSQL table
//! `notification_deliveries` (`migrations/0003_notification_deliveries.sql`).
//!
//! **Claim before send.** A row is inserted (`ON CONFLICT DO NOTHING`) before the provider is
//! called; only the caller whose insert went in may send. The primary key serialises concurrent
//! claims of one key (a second inserter waits for the first's commit, then finds the row), so
//! concurrent calls, redeliveries after a rebalance and replays cannot both win. Claims of many
//! events go in one statement through the shared [`Batcher`] (group commit); marks likewise.
//!
//! **After the send:** accepted → the row becomes `sent` (with the provider's id, for support);
//! definitely not accepted (an HTTP answer saying no, a refused connection, a call the breaker
//! shed) → the row is deleted, so a retry may claim it again; no answer in time → the row becomes
//! `unknown` and stays: the provider may have taken the message.
//!
//! **The crash window.** A process that dies between the provider accepting and the `sent`
//! update leaves a `claimed` row. Its redelivery cannot tell "sent" from "never sent", and we
//! choose never to send twice: a `claimed` row younger than the lease is someone else's send in
//! progress (retry later), an older one, like `unknown`, is reported as "outcome unknown" (the
//! event is dead-lettered with that reason for a person to check) and never re-sent. The price is
//! a possible lost message in that window, visible in the dead-letter topic; the alternative (a
//! lease after which the claim is taken over) would send twice whenever the crash came after the
//! provider accepted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::{Channel, NotificationConfig};
use crate::error::Result;
use crate::support::batch::{BatchSettings, Batcher, Flush, Outcome, fail_all};
use consumers::runtime::HandlerError;

/// What a claim came to for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours: send now, then [`Dedup::mark_sent`] or release.
    Won,
    /// Already delivered: nothing to do.
    Sent,
    /// Another call holds a fresh claim and is sending: try again later.
    InFlight,
    /// A previous attempt may or may not have delivered; never re-sent.
    Unknown(String),
}

mod sql;

use self::sql::{CLAIM, LOOK_UP, MARK_SENT};

/// One event's claim request; the flusher leaves the answer in `answer`.
pub(crate) struct ClaimJob {
    event_id: Uuid,
    channels: Vec<Channel>,
    answer: Arc<OnceLock<Vec<Claim>>>,
}

/// One delivered message to mark.
pub(crate) struct MarkJob {
    event_id: Uuid,
    channel: Channel,
    provider: &'static str,
    provider_id: String,
}

struct ClaimFlusher {
    pool: PgPool,
    lease_ms: i64,
}

type Existing = (Uuid, String, String, i64);

impl Flush for ClaimFlusher {
    type Item = ClaimJob;

    async fn flush(&mut self, items: &[ClaimJob]) -> Vec<Outcome> {
        // A key twice in one batch (concurrent calls for one event) goes to the database once;
        // of its callers only the first may win.
        let mut seen = HashSet::new();
        let (mut ids, mut channels) = (Vec::new(), Vec::new());
        for job in items {
            for &ch in &job.channels {
                if seen.insert((job.event_id, ch)) {
                    ids.push(job.event_id);
                    channels.push(ch.as_str());
                }
            }
        }
        let won = match sqlx::query_as::<_, (Uuid, String)>(CLAIM)
            .bind(&ids)
            .bind(&channels)
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return fail_all(items, &classify(&e)),
        };
        let mut found: HashMap<(Uuid, Channel), Claim> = HashMap::with_capacity(ids.len());
        for (id, ch) in won {
            if let Some(ch) = channel(&ch) {
                found.insert((id, ch), Claim::Won);
            }
        }
        if found.len() < ids.len() {
            let (lost_ids, lost_channels): (Vec<Uuid>, Vec<&str>) = ids
                .iter()
                .zip(&channels)
                .filter(|(id, ch)| channel(ch).is_none_or(|ch| !found.contains_key(&(**id, ch))))
                .map(|(id, ch)| (*id, *ch))
                .unzip();
            let existing = match sqlx::query_as::<_, Existing>(LOOK_UP)
                .bind(lost_ids)
                .bind(lost_channels)
                .persistent(false)
                .fetch_all(&self.pool)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return fail_all(items, &classify(&e)),
            };
            // A key found in neither was released after our insert met it: it is someone
            // else's attempt that just ended (`InFlight` below, tried again later).
            for (id, ch, state, age_ms) in existing {
                let Some(ch) = channel(&ch) else { continue };
                let claim = match state.as_str() {
                    "sent" => Claim::Sent,
                    "claimed" if age_ms < self.lease_ms => Claim::InFlight,
                    "claimed" => Claim::Unknown(format!(
                        "an attempt claimed it {} s ago and never recorded the outcome (crash?)",
                        age_ms / 1000
                    )),
                    _ => Claim::Unknown("the provider did not answer in time".into()),
                };
                found.insert((id, ch), claim);
            }
        }
        let mut handed = HashSet::new();
        for job in items {
            let answer = job
                .channels
                .iter()
                .map(|&ch| {
                    let claim = found
                        .get(&(job.event_id, ch))
                        .cloned()
                        .unwrap_or(Claim::InFlight);
                    match claim {
                        Claim::Won if !handed.insert((job.event_id, ch)) => Claim::InFlight,
                        other => other,
                    }
                })
                .collect();
            let _ = job.answer.set(answer);
        }
        items.iter().map(|_| Ok(())).collect()
    }
}

/// A channel as stored (the table's CHECK admits no other value).
fn channel(stored: &str) -> Option<Channel> {
    [Channel::Sms, Channel::Email]
        .into_iter()
        .find(|c| c.as_str() == stored)
}

struct MarkFlusher {
    pool: PgPool,
}

impl Flush for MarkFlusher {
    type Item = MarkJob;

    async fn flush(&mut self, items: &[MarkJob]) -> Vec<Outcome> {
        let ids: Vec<Uuid> = items.iter().map(|m| m.event_id).collect();
        let channels: Vec<&str> = items.iter().map(|m| m.channel.as_str()).collect();
        let providers: Vec<&str> = items.iter().map(|m| m.provider).collect();
        let provider_ids: Vec<&str> = items.iter().map(|m| m.provider_id.as_str()).collect();
        match sqlx::query(MARK_SENT)
            .bind(ids)
            .bind(channels)
            .bind(providers)
            .bind(provider_ids)
            .persistent(false)
            .execute(&self.pool)
            .await
        {
            Ok(_) => items.iter().map(|_| Ok(())).collect(),
            Err(e) => fail_all(items, &classify(&e)),
        }
    }
}

/// Every database failure here may heal (the statements carry no user data that could break
/// them), so all are retryable.
fn classify(e: &sqlx::Error) -> HandlerError {
    HandlerError::retryable(format!("notification dedup store: {e}"))
        .with_code(super::codes::DEDUP_UNAVAILABLE)
}

/// The dedup store: a pool and the claim and mark writers.
#[derive(Debug)]
pub struct Dedup {
    pool: PgPool,
    claims: Batcher<ClaimJob>,
    marks: Batcher<MarkJob>,
}

impl Dedup {
    /// Connects, creates `config.schema` if set, migrates if `config.migrate`, and starts the
    /// writers on the current Tokio runtime.
    pub async fn connect(url: &str, config: &NotificationConfig) -> Result<Self> {
        let options = crate::support::postgres::connect_options(
            url,
            "orderbus-notification",
            config.schema.as_deref(),
        )
        .await?;
        let pool_options = || {
            PgPoolOptions::new()
                .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
                .test_before_acquire(false)
        };
        // Marks need no fsync before the handler goes on: a mark lost to a database crash
        // leaves the row `claimed`, read later as "outcome unknown", never as "send again". Claims
        // and releases are what keep a message from going out twice or never, and wait for it.
        let marks = pool_options()
            .max_connections(u32::from(config.flushers.max(1)))
            .connect_lazy_with(options.clone().options([("synchronous_commit", "off")]));
        let pool = pool_options()
            .max_connections(config.pool_size - u32::from(config.flushers.max(1)))
            .connect_with(options)
            .await?;
        if config.migrate {
            crate::support::postgres::migrate(&pool).await?;
        }
        Ok(Self::with_pools(pool, marks, config))
    }

    /// A store over a migrated pool, `marks` a pool of the same database (ideally with
    /// `synchronous_commit = off`) for the `sent` marks.
    pub fn with_pools(pool: PgPool, marks: PgPool, config: &NotificationConfig) -> Self {
        let settings = BatchSettings {
            max_batch: config.batch_size,
            linger: Duration::from_micros(config.linger_us),
        };
        let lease_ms = i64::try_from(config.claim_lease_ms).unwrap_or(i64::MAX);
        let claims = (0..config.flushers.max(1))
            .map(|_| ClaimFlusher {
                pool: pool.clone(),
                lease_ms,
            })
            .collect();
        let marks = (0..config.flushers.max(1))
            .map(|_| MarkFlusher {
                pool: marks.clone(),
            })
            .collect();
        Self {
            claims: Batcher::spawn("notification_claims", claims, settings),
            marks: Batcher::spawn("notification_marks", marks, settings),
            pool,
        }
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Messages the providers took, per channel (`sms`, `email`).
    pub async fn sent_per_channel(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT channel, count(*) FROM notification_deliveries \
             WHERE state = 'sent' GROUP BY channel ORDER BY channel",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims `channels` of `event_id`; one answer per channel, in order.
    pub async fn claim(
        &self,
        event_id: Uuid,
        channels: Vec<Channel>,
    ) -> Result<Vec<Claim>, HandlerError> {
        let answer = Arc::new(OnceLock::new());
        self.claims
            .submit(ClaimJob {
                event_id,
                channels,
                answer: answer.clone(),
            })
            .await?;
        // The flusher may still hold its clone of `answer` (it drops the batch after replying),
        // so read it rather than unwrap it.
        answer.get().cloned().ok_or_else(|| {
            HandlerError::retryable("dedup claim gave no answer")
                .with_code(super::codes::DEDUP_UNAVAILABLE)
        })
    }

    /// Records that the provider took the message.
    pub async fn mark_sent(
        &self,
        event_id: Uuid,
        channel: Channel,
        provider: &'static str,
        provider_id: String,
    ) -> Result<(), HandlerError> {
        self.marks
            .submit(MarkJob {
                event_id,
                channel,
                provider,
                provider_id,
            })
            .await
    }

    /// Gives a claim back: the provider did not take the message, a later attempt may send.
    pub async fn release(&self, event_id: Uuid, channel: Channel) -> Result<(), HandlerError> {
        sqlx::query(
            "DELETE FROM notification_deliveries \
             WHERE event_id = $1 AND channel = $2 AND state = 'claimed'",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| classify(&e))
    }

    /// Keeps a claim for good: the provider may have taken the message.
    pub async fn mark_unknown(&self, event_id: Uuid, channel: Channel) -> Result<(), HandlerError> {
        sqlx::query(
            "UPDATE notification_deliveries SET state = 'unknown' \
             WHERE event_id = $1 AND channel = $2 AND state = 'claimed'",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| classify(&e))
    }
}
