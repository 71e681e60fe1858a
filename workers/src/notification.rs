//! The `notification` worker: tells the customer by SMS and/or e-mail what happened to their
//! order. `order.created` → confirmation, `order.paid` → receipt, `order.shipped` → shipping
//! notice, `payment.failed` → action needed; other event types send nothing. The contact is the
//! event's `customer` (a phone number for SMS, an address for e-mail; a channel without one is
//! skipped), the text comes from [`templates`], the providers from `adapters` (each behind its
//! resilience wrapper).
//!
//! **At most one message per (event, channel)**, across redelivery, replay and concurrent
//! calls: [`dedup`] claims the pair in PostgreSQL before the provider is called and keeps the
//! claim once the provider took the message. PostgreSQL rather than Redis `SET NX`: the claim is
//! durable on commit (a Redis restart or failover without fsync forgets recent keys, and the next
//! redelivery would send again), needs no TTL (a replay months later still finds it, where a TTL
//! shorter than the replay horizon would resend), and sits next to `processed_events` in the
//! database the workers already use. Batched claims (group commit) keep it fast enough; see the
//! bench. The crash window and why a lost message is chosen over a duplicate: [`dedup`].
//!
//! The channels of one event are independent: each is claimed, sent and settled on its own, so
//! an SMS outage does not hold back the e-mail, and a retry of the event re-sends only what is
//! not yet delivered.
//!
//! **An open breaker loses nothing and burns nothing.** Before claiming, the worker asks the
//! channel's breaker ([`Resilience::would_allow`](adapters::resilience::Resilience::would_allow)).
//! While it would shed, the handler waits up to `breaker_wait_ms` for it to let a probe through
//! (holding the event, as a paused consumer would); if it still sheds, that channel is not claimed
//! and the event fails *retryably*. What the runtime then does (`runtime/worker.rs`): up to
//! `max_attempts` in-process attempts with exponential backoff, then the event is parked on the
//! group's retry topic (`<group>.retry`) for `retry_delays_ms[round]` with its offset committed
//! only once the parked copy is stored, so nothing is lost; in `block-key` mode later events of
//! the same order wait behind it. When the provider answers again, the breaker's probe (one call
//! per `force_pass_ms`) succeeds, the breaker closes, and parked events flow on their due time.
//! After the last round the event is dead-lettered (kept, with the reason), so a notification
//! group should have retry rounds that outlast the provider outages it must ride out (e.g.
//! `retry_delays_ms = [1000, 10000, 60000, 300000, 900000]`). Shed calls cost nothing at the
//! provider and never count as failures; other groups have their own handlers and are not slowed.
//!
//! Failures: a channel the provider refused for good (invalid number, bad credentials) and a
//! channel whose outcome is unknown make the event fail *permanently* (dead letter with the
//! reason), after every other channel was tried; contact data in reasons and logs is masked.

pub mod channels;
pub mod codes;
mod counts;
pub mod dedup;
mod recipient;
pub mod templates;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use events::Envelope;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use self::channels::Senders;
use self::channels::{Message, Sent};
use self::counts::Counts;
pub use self::dedup::{Claim, Dedup};
pub use self::templates::Templates;
use crate::error::{Error, Result};
use crate::support::postgres::is_plain_identifier;
use consumers::runtime::{Context, Failure, Handler, HandlerError};

/// A way to reach a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Text message to the customer's phone.
    Sms,
    /// E-mail to the customer's address.
    Email,
}

impl Channel {
    /// `sms` or `email`, as stored and in template file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[workers.notification]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// Channels to send on; each needs its provider (`[workers.sms]`, `[workers.email]`).
    pub channels: Vec<Channel>,
    /// Directory whose `<event_type>.<channel>.txt` files override the embedded templates.
    pub templates_dir: Option<PathBuf>,
    /// PostgreSQL schema of the dedup table (created if missing); `None`: the URL's default.
    pub schema: Option<String>,
    /// Most connections held; `flushers` of them (without `synchronous_commit`) for marks.
    pub pool_size: u32,
    /// Claim writers and mark writers (each), each on its own connection.
    pub flushers: u16,
    /// Most claims or marks in one statement.
    pub batch_size: usize,
    /// How long a writer waits for a batch to fill after its first item, in microseconds.
    pub linger_us: u64,
    /// Longest wait for a pooled connection before the event fails (retryably).
    pub acquire_timeout_ms: u64,
    /// A `claimed` row older than this is an attempt that never finished (crash), reported as
    /// outcome unknown; younger, a send in progress elsewhere. Must outlast a provider call
    /// (its resilience `deadline_ms`).
    pub claim_lease_ms: u64,
    /// How long a handler holds an event while its provider's breaker sheds, before handing it
    /// back as retryable (to the runtime's backoff and retry topic).
    pub breaker_wait_ms: u64,
    /// Apply `migrations/` when connecting.
    pub migrate: bool,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            channels: vec![Channel::Sms, Channel::Email],
            templates_dir: None,
            schema: None,
            pool_size: 12,
            flushers: 4,
            batch_size: 512,
            linger_us: 0,
            acquire_timeout_ms: 5_000,
            claim_lease_ms: 120_000,
            breaker_wait_ms: 2_000,
            migrate: true,
        }
    }
}

impl NotificationConfig {
    /// Checks every key; `prefix` is where the settings sit (`workers.notification`).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, problem: &str| {
            Err(Error::Config(producers::Error::Config {
                key: format!("{prefix}.{key}"),
                problem: problem.to_owned(),
            }))
        };
        if let Some(schema) = &self.schema
            && !is_plain_identifier(schema)
        {
            return bad(
                "schema",
                "must be 1 to 63 of a-z, 0-9 and _, not starting with a digit",
            );
        }
        if !(2..=1_000).contains(&self.pool_size) {
            return bad("pool_size", "must be between 2 and 1000");
        }
        if self.flushers == 0 || 2 * u32::from(self.flushers) > self.pool_size {
            return bad("flushers", "must be at least 1 and at most pool_size / 2");
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return bad("batch_size", "must be between 1 and 10000");
        }
        if self.linger_us > 1_000_000 {
            return bad("linger_us", "must be at most 1000000 (1 s)");
        }
        if !(1..=600_000).contains(&self.acquire_timeout_ms) {
            return bad("acquire_timeout_ms", "must be between 1 and 600000");
        }
        if !(1_000..=86_400_000).contains(&self.claim_lease_ms) {
            return bad(
                "claim_lease_ms",
                "must be between 1000 and 86400000 (1 day)",
            );
        }
        if self.breaker_wait_ms > 600_000 {
            return bad("breaker_wait_ms", "must be at most 600000");
        }
        Ok(())
    }
}

/// Sends notifications, at most once per event and channel. See the module docs.
#[derive(Debug)]
pub struct NotificationWorker {
    templates: Templates,
    senders: Senders,
    dedup: Dedup,
    breaker_wait: Duration,
    counts: Counts,
}

impl NotificationWorker {
    /// Loads the templates, connects the dedup store to `url` and takes the providers. A
    /// channel in `config.channels` without its provider is a config error; a provider whose
    /// channel is not listed is left unused.
    pub async fn connect(url: &str, config: NotificationConfig, senders: Senders) -> Result<Self> {
        let prefix = "workers.notification";
        config.validate(prefix)?;
        let templates = Templates::load(
            config.templates_dir.as_deref(),
            &format!("{prefix}.templates_dir"),
        )?;
        let senders = Self::pick(&config, senders)?;
        let dedup = Dedup::connect(url, &config).await?;
        Ok(Self {
            templates,
            senders,
            dedup,
            breaker_wait: Duration::from_millis(config.breaker_wait_ms),
            counts: Counts::new(),
        })
    }

    fn pick(config: &NotificationConfig, senders: Senders) -> Result<Senders> {
        let missing = |channel: Channel| {
            Error::Config(producers::Error::Config {
                key: format!("workers.{channel}"),
                problem: format!(
                    "the notification worker sends {channel} (workers.notification.channels) \
                     and needs a provider (provider = \"log\" only logs)"
                ),
            })
        };
        let on = |c| config.channels.contains(&c);
        Ok(Senders {
            sms: match senders.sms {
                Some(s) if on(Channel::Sms) => Some(s),
                None if on(Channel::Sms) => return Err(missing(Channel::Sms)),
                _ => None,
            },
            email: match senders.email {
                Some(s) if on(Channel::Email) => Some(s),
                None if on(Channel::Email) => return Err(missing(Channel::Email)),
                _ => None,
            },
        })
    }

    /// The dedup store (its pool answers "what was sent").
    pub fn dedup(&self) -> &Dedup {
        &self.dedup
    }

    /// The providers.
    pub fn senders(&self) -> &Senders {
        &self.senders
    }

    /// Whether `channel`'s breaker lets work through, waiting up to `breaker_wait` for it.
    async fn breaker_allows(&self, channel: Channel, ctx: &Context) -> bool {
        let Some(policy) = self.senders.resilience(channel) else {
            return true;
        };
        if policy.would_allow() {
            return true;
        }
        let until = Instant::now() + self.breaker_wait;
        while Instant::now() < until {
            tokio::select! {
                // `would_allow` turns true by itself once a probe is due; nothing to wake on.
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = ctx.cancel.cancelled() => return false,
            }
            if policy.would_allow() {
                return true;
            }
        }
        false
    }

    /// Settles one claimed channel: sends when the claim is ours, records the outcome.
    async fn deliver(
        &self,
        event: &Envelope,
        channel: Channel,
        message: &Message,
        claim: Claim,
    ) -> Result<(), HandlerError> {
        let id = event.event_id;
        self.counts.claimed(channel, &claim);
        match claim {
            Claim::Sent => Ok(()),
            Claim::InFlight => Err(codes::failure(
                channel,
                true,
                codes::SEND_IN_PROGRESS,
                "another delivery of this event is sending it",
            )),
            Claim::Unknown(why) => Err(codes::failure(
                channel,
                false,
                codes::OUTCOME_UNKNOWN,
                format_args!("outcome of an earlier attempt unknown ({why}); not re-sent"),
            )),
            Claim::Won => match self.senders.send(message).await {
                Sent::Delivered { provider, id: pid } => {
                    self.counts.sent(channel);
                    if let Err(e) = self.dedup.mark_sent(id, channel, provider, pid).await {
                        // Sent is sent: the claim stays, so it is never sent again; a later
                        // redelivery reports the outcome as unknown (a false alarm, not a loss).
                        tracing::warn!(event_id = %id, %channel, error = %e, "could not mark sent");
                    }
                    Ok(())
                }
                Sent::Refused {
                    retry,
                    code,
                    reason,
                } => {
                    if let Err(e) = self.dedup.release(id, channel).await {
                        tracing::warn!(event_id = %id, %channel, error = %e, "could not release claim");
                    }
                    Err(codes::failure(channel, retry, code, reason))
                }
                Sent::Unknown { reason } => {
                    if let Err(e) = self.dedup.mark_unknown(id, channel).await {
                        tracing::warn!(event_id = %id, %channel, error = %e, "could not mark unknown");
                    }
                    Err(codes::failure(
                        channel,
                        false,
                        codes::OUTCOME_UNKNOWN,
                        format_args!(
                            "{reason}; the provider may have taken it, so it is not re-sent"
                        ),
                    ))
                }
            },
        }
    }
}

impl Handler for NotificationWorker {
    fn name(&self) -> &str {
        "notification"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let planned = self.senders.plan(event, &self.templates);
        if planned.is_empty() {
            return Ok(());
        }
        let (mut retry, mut fail): (Vec<Failure>, Vec<Failure>) = (Vec::new(), Vec::new());
        let mut ready = Vec::with_capacity(planned.len());
        for (channel, message) in planned {
            if self.breaker_allows(channel, ctx).await {
                ready.push((channel, message));
            } else {
                let shed = codes::failure(
                    channel,
                    true,
                    codes::BREAKER_OPEN,
                    "provider's circuit breaker is open",
                );
                retry.push(shed.failure().clone());
            }
        }
        if !ready.is_empty() {
            let channels = ready.iter().map(|(c, _)| *c).collect();
            let claims = self.dedup.claim(event.event_id, channels).await?;
            let sends = ready
                .iter()
                .zip(claims)
                .map(|((channel, message), claim)| self.deliver(event, *channel, message, claim));
            for outcome in futures::future::join_all(sends).await {
                match outcome {
                    Ok(()) => {}
                    Err(HandlerError::Retryable(r)) => retry.push(r),
                    Err(HandlerError::Permanent(r)) => fail.push(r),
                }
            }
        }
        if let Some(failure) = combine(&retry) {
            return Err(HandlerError::Retryable(failure));
        }
        if let Some(failure) = combine(&fail) {
            tracing::warn!(event_id = %event.event_id, code = %failure.code, reasons = %failure.reason, "notification failed");
            return Err(HandlerError::Permanent(failure));
        }
        Ok(())
    }
}

/// The failures of an event's channels as one: every reason, and the first channel's code
/// (the one a person acts on first).
fn combine(failures: &[Failure]) -> Option<Failure> {
    let first = failures.first()?;
    let reasons: Vec<&str> = failures.iter().map(|f| f.reason.as_str()).collect();
    Some(Failure {
        code: first.code.clone(),
        reason: reasons.join("; "),
    })
}
