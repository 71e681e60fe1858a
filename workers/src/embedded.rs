//! In-memory stand-ins for the workers' stores, for `orderbus demo` on a machine with no
//! PostgreSQL or Redis: [`MemoryAnalytics`], [`MemoryCache`] and [`MemoryNotification`] are
//! handlers with the same semantics as
//! [`AnalyticsWorker`](super::analytics::AnalyticsWorker),
//! [`CacheWarmingWorker`](super::cache_warming::CacheWarmingWorker) and
//! [`NotificationWorker`](super::notification::NotificationWorker) (idempotent by `event_id`;
//! newest status wins; per field group compare-and-set by version; at most one message per event
//! and channel), built on the same code (`Fact::of`, `Update::of`, the notification plan and
//! send), so only the storage differs. Nothing is durable: they exist so the demo always runs,
//! and say so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use events::Envelope;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::analytics::facts::{Fact, PaymentFact};
use crate::analytics::{DailyRevenue, ProviderOutcomes, StatusCount};
use crate::cache_warming::CachedOrder;
use crate::cache_warming::update::Update;
use crate::notification::channels::Sent;
use crate::notification::codes;
use crate::notification::{Channel, Senders, Templates};
use consumers::runtime::{Context, Handler, HandlerError};

#[derive(Debug, Default)]
struct Tables {
    processed: HashSet<Uuid>,
    /// Order → (status, version of the event that set it).
    status: HashMap<String, (&'static str, (OffsetDateTime, Uuid))>,
    /// (day, currency) → [captured, refunded, captures, refunds].
    revenue: BTreeMap<(Date, &'static str), [i64; 4]>,
    /// Provider → [authorized, failed].
    providers: BTreeMap<String, [i64; 2]>,
}

/// The analytics read models in memory.
#[derive(Debug, Default)]
pub struct MemoryAnalytics {
    tables: Mutex<Tables>,
}

impl MemoryAnalytics {
    fn with<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        f(&mut self.tables.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Orders per current status.
    pub fn orders_per_status(&self) -> Vec<StatusCount> {
        self.with(|t| {
            let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
            for (status, _) in t.status.values() {
                *counts.entry(status).or_default() += 1;
            }
            counts
                .into_iter()
                .map(|(status, orders)| StatusCount {
                    status: status.to_owned(),
                    orders,
                })
                .collect()
        })
    }

    /// Revenue per UTC day and currency.
    pub fn revenue_per_day(&self) -> Vec<DailyRevenue> {
        self.with(|t| {
            t.revenue
                .iter()
                .map(|((day, currency), [c, r, nc, nr])| DailyRevenue {
                    day: *day,
                    currency: (*currency).to_owned(),
                    captured_minor: *c,
                    refunded_minor: *r,
                    net_minor: c - r,
                    captures: *nc,
                    refunds: *nr,
                })
                .collect()
        })
    }

    /// Payment outcomes per provider.
    pub fn payment_success_rate(&self) -> Vec<ProviderOutcomes> {
        self.with(|t| {
            t.providers
                .iter()
                .map(|(provider, [authorized, failed])| ProviderOutcomes {
                    provider: provider.clone(),
                    authorized: *authorized,
                    failed: *failed,
                })
                .collect()
        })
    }
}

impl Handler for MemoryAnalytics {
    fn name(&self) -> &str {
        "analytics"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        let fact = Fact::of(event)?;
        self.with(|t| {
            if !t.processed.insert(fact.event_id) {
                return;
            }
            let version = (fact.occurred_at, fact.event_id);
            if let Some(status) = fact.status {
                let slot = t
                    .status
                    .entry(fact.order_id.clone())
                    .or_insert((status, version));
                if version > slot.1 {
                    *slot = (status, version);
                }
            }
            let (Some(kind), Some(currency), Some(amount), Some(provider)) = (
                fact.payment,
                fact.currency,
                fact.amount_minor,
                &fact.provider,
            ) else {
                return;
            };
            let day = fact.occurred_at.to_offset(time::UtcOffset::UTC).date();
            match kind {
                PaymentFact::Authorized => t.providers.entry(provider.clone()).or_default()[0] += 1,
                PaymentFact::Failed => t.providers.entry(provider.clone()).or_default()[1] += 1,
                PaymentFact::Captured => {
                    let r = t.revenue.entry((day, currency)).or_default();
                    r[0] += amount;
                    r[2] += 1;
                }
                PaymentFact::Refunded => {
                    let r = t.revenue.entry((day, currency)).or_default();
                    r[1] += amount;
                    r[3] += 1;
                }
            }
        });
        Ok(())
    }
}

/// Order cache entries in memory (no TTL: the demo ends first).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl MemoryCache {
    /// The entry of `order_id`.
    pub fn entry(&self, order_id: &str) -> Option<CachedOrder> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(order_id).map(|fields| CachedOrder {
            fields: fields.clone(),
            ttl_secs: None,
        })
    }

    /// How many orders have an entry.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }

    /// Whether no order has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Handler for MemoryCache {
    fn name(&self) -> &str {
        "cache-warming"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        let update = Update::of(event, "")?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.entry(update.key.clone()).or_default();
        // The same compare-and-set as script.lua: a group changes only for a newer version.
        let mut changed = false;
        for group in &update.groups {
            let newer = entry
                .get(group.version_field)
                .is_none_or(|stored| *stored < update.version);
            if newer {
                changed = true;
                entry.insert(group.version_field.to_owned(), update.version.clone());
                for (field, value) in &group.fields {
                    entry.insert((*field).to_owned(), value.clone());
                }
            }
        }
        if changed
            && entry
                .get("version")
                .is_none_or(|stored| *stored < update.version)
        {
            entry.insert("version".into(), update.version.clone());
            entry.insert("updated_at".into(), update.updated_at.clone());
            entry.insert("event_id".into(), update.event_id.clone());
            entry.insert("event_type".into(), update.event_type.to_owned());
        }
        Ok(())
    }
}

/// Notifications with an in-memory dedup set in place of PostgreSQL.
#[derive(Debug)]
pub struct MemoryNotification {
    templates: Templates,
    senders: Senders,
    /// (event, channel) pairs the provider took.
    sent: Mutex<HashSet<(Uuid, Channel)>>,
}

impl MemoryNotification {
    /// The built-in templates and `senders`.
    pub fn new(senders: Senders) -> crate::error::Result<Self> {
        Ok(Self {
            templates: Templates::load(None, "workers.notification.templates_dir")?,
            senders,
            sent: Mutex::default(),
        })
    }

    /// Messages the providers took, per channel.
    pub fn sent_per_channel(&self) -> Vec<(String, i64)> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for (_, channel) in sent.iter() {
            *counts.entry(channel.to_string()).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    fn claimed(&self, id: Uuid, channel: Channel) -> bool {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.contains(&(id, channel))
    }
}

impl Handler for MemoryNotification {
    fn name(&self) -> &str {
        "notification"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        // One event is handled by one processor at a time (its order's lane), so checking and
        // recording around the send cannot race with another delivery of the same event here.
        for (channel, message) in self.senders.plan(event, &self.templates) {
            if self.claimed(event.event_id, channel) {
                continue;
            }
            match self.senders.send(&message).await {
                Sent::Delivered { .. } => {
                    let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                    sent.insert((event.event_id, channel));
                }
                Sent::Refused {
                    retry,
                    code,
                    reason,
                } => return Err(codes::failure(channel, retry, code, reason)),
                Sent::Unknown { reason } => {
                    let code = codes::OUTCOME_UNKNOWN;
                    return Err(codes::failure(channel, false, code, reason));
                }
            }
        }
        Ok(())
    }
}
