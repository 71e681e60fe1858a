//! Reading the analytics tables back as typed rows, for the demo, dashboards and tests. Sharded
//! counters are summed here, so callers never see shards.

use sqlx::{FromRow, PgPool};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::Result;

/// How many orders currently have one status.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StatusCount {
    /// `created`, `paid`, `shipped` or `cancelled`.
    pub status: String,
    /// Orders whose newest order event set this status.
    pub orders: i64,
}

/// One order's current status and the version of the event that set it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OrderStatus {
    /// The order.
    pub order_id: String,
    /// Its status.
    pub status: String,
    /// `occurred_at` of the event that set it (microseconds).
    pub occurred_at: OffsetDateTime,
    /// That event's id (the tiebreak when two events share a time).
    pub event_id: Uuid,
}

/// Revenue of one UTC day in one currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DailyRevenue {
    /// UTC day of the events' `occurred_at`.
    pub day: Date,
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of `payment.captured` amounts.
    pub captured_minor: i64,
    /// Sum of `payment.refunded` amounts.
    pub refunded_minor: i64,
    /// `captured_minor - refunded_minor`.
    pub net_minor: i64,
    /// Number of captures.
    pub captures: i64,
    /// Number of refunds.
    pub refunds: i64,
}

/// Payment outcomes of one provider.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ProviderOutcomes {
    /// Gateway name (`stripe`, ...).
    pub provider: String,
    /// `payment.authorized` events.
    pub authorized: i64,
    /// `payment.failed` events.
    pub failed: i64,
}

impl ProviderOutcomes {
    /// `authorized / (authorized + failed)`; `None` before any outcome.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.authorized + self.failed;
        // Counts stay far below 2^53, so the conversion is exact.
        (total > 0).then(|| self.authorized as f64 / total as f64)
    }
}

/// Orders per current status, by status name.
pub async fn orders_per_status(pool: &PgPool) -> Result<Vec<StatusCount>> {
    Ok(sqlx::query_as(
        "SELECT status, count(*) AS orders FROM analytics_order_status \
         GROUP BY status ORDER BY status",
    )
    .fetch_all(pool)
    .await?)
}

/// One order's status, if any order event of it was handled.
pub async fn order_status(pool: &PgPool, order_id: &str) -> Result<Option<OrderStatus>> {
    Ok(sqlx::query_as(
        "SELECT order_id, status, occurred_at, event_id FROM analytics_order_status \
         WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?)
}

/// Revenue per day and currency, by day then currency.
pub async fn revenue_per_day(pool: &PgPool) -> Result<Vec<DailyRevenue>> {
    Ok(sqlx::query_as(
        "SELECT day, currency, \
                sum(captured_minor)::bigint AS captured_minor, \
                sum(refunded_minor)::bigint AS refunded_minor, \
                (sum(captured_minor) - sum(refunded_minor))::bigint AS net_minor, \
                sum(captures)::bigint AS captures, \
                sum(refunds)::bigint AS refunds \
         FROM analytics_revenue_daily GROUP BY day, currency ORDER BY day, currency",
    )
    .fetch_all(pool)
    .await?)
}

/// Authorized and failed payments per provider, by provider.
pub async fn payment_success_rate(pool: &PgPool) -> Result<Vec<ProviderOutcomes>> {
    Ok(sqlx::query_as(
        "SELECT provider, sum(authorized)::bigint AS authorized, sum(failed)::bigint AS failed \
         FROM analytics_payment_provider GROUP BY provider ORDER BY provider",
    )
    .fetch_all(pool)
    .await?)
}
