//! Writing a batch of facts to PostgreSQL: one statement per batch, so one round trip and one
//! implicit transaction in which the dedup rows and every aggregate change commit together or
//! not at all.
//!
//! The statement inserts the batch's event ids into `processed_events` (`ON CONFLICT DO
//! NOTHING ... RETURNING`); only the ids that came back (new to this consumer) feed the
//! aggregate upserts, so a redelivered or replayed event changes nothing. Statuses are reduced
//! to the newest per order within the batch and applied only when newer than the stored
//! version; revenue and provider counts are summed per key within the batch and added to the
//! flusher's own shard row. Rows are touched in key order so that concurrent batches lock them
//! in the same order.

use std::sync::Arc;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::facts::Fact;
use crate::support::batch::{Flush, Outcome, fail_all};
use consumers::runtime::HandlerError;

const APPLY: &str = r#"
WITH input AS (
    SELECT DISTINCT ON (event_id) *
    FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                $8::bigint[], $9::text[])
        AS t(event_id, order_id, occurred_at, status, fact, currency, amount_minor, provider)
),
fresh AS (
    INSERT INTO processed_events (consumer, event_id)
    SELECT $1, event_id FROM input ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
),
applied AS (
    SELECT input.* FROM input JOIN fresh USING (event_id)
),
statuses AS (
    INSERT INTO analytics_order_status AS s (order_id, status, occurred_at, event_id)
    SELECT DISTINCT ON (order_id) order_id, status, occurred_at, event_id
    FROM applied
    WHERE status IS NOT NULL
    ORDER BY order_id, occurred_at DESC, event_id DESC
    ON CONFLICT (order_id) DO UPDATE
    SET status = excluded.status, occurred_at = excluded.occurred_at, event_id = excluded.event_id
    WHERE (excluded.occurred_at, excluded.event_id) > (s.occurred_at, s.event_id)
),
revenue AS (
    INSERT INTO analytics_revenue_daily AS r
        (day, currency, shard, captured_minor, refunded_minor, captures, refunds)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date, currency, $10,
           coalesce(sum(amount_minor) FILTER (WHERE fact = 'captured'), 0),
           coalesce(sum(amount_minor) FILTER (WHERE fact = 'refunded'), 0),
           count(*) FILTER (WHERE fact = 'captured'),
           count(*) FILTER (WHERE fact = 'refunded')
    FROM applied
    WHERE fact IN ('captured', 'refunded')
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (day, currency, shard) DO UPDATE
    SET captured_minor = r.captured_minor + excluded.captured_minor,
        refunded_minor = r.refunded_minor + excluded.refunded_minor,
        captures = r.captures + excluded.captures,
        refunds = r.refunds + excluded.refunds
),
providers AS (
    INSERT INTO analytics_payment_provider AS p (provider, shard, authorized, failed)
    SELECT provider, $10,
           count(*) FILTER (WHERE fact = 'authorized'),
           count(*) FILTER (WHERE fact = 'failed')
    FROM applied
    WHERE fact IN ('authorized', 'failed')
    GROUP BY provider
    ORDER BY provider
    ON CONFLICT (provider, shard) DO UPDATE
    SET authorized = p.authorized + excluded.authorized,
        failed = p.failed + excluded.failed
)
SELECT count(*) FROM fresh
"#;

/// One flush task's writer: the pool, the consumer name its dedup rows carry, and its shard.
#[derive(Debug)]
pub(crate) struct PgFlusher {
    pub(crate) pool: PgPool,
    pub(crate) consumer: Arc<str>,
    pub(crate) shard: i16,
}

impl Flush for PgFlusher {
    type Item = Fact;

    async fn flush(&mut self, items: &[Fact]) -> Vec<Outcome> {
        match apply(&self.pool, &self.consumer, self.shard, items).await {
            Ok(_) => items.iter().map(|_| Ok(())).collect(),
            // Something in the data (an overflowing sum, a value the schema refuses) failed the
            // whole statement: write the facts one by one so only the culprit fails.
            Err(e) if items.len() > 1 && is_data_error(&e) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let one = apply(
                        &self.pool,
                        &self.consumer,
                        self.shard,
                        std::slice::from_ref(item),
                    );
                    out.push(one.await.map(|_| ()).map_err(classify));
                }
                out
            }
            Err(e) => fail_all(items, &classify(e)),
        }
    }
}

/// Writes `facts` in one statement; returns how many were new to `consumer`.
pub(crate) async fn apply(
    pool: &PgPool,
    consumer: &str,
    shard: i16,
    facts: &[Fact],
) -> Result<i64, sqlx::Error> {
    let n = facts.len();
    let mut event_ids: Vec<Uuid> = Vec::with_capacity(n);
    let mut order_ids: Vec<&str> = Vec::with_capacity(n);
    let mut occurred: Vec<OffsetDateTime> = Vec::with_capacity(n);
    let mut statuses: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut kinds: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut currencies: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut amounts: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut providers: Vec<Option<&str>> = Vec::with_capacity(n);
    for f in facts {
        event_ids.push(f.event_id);
        order_ids.push(&f.order_id);
        occurred.push(f.occurred_at);
        statuses.push(f.status);
        kinds.push(f.payment.map(|p| p.as_str()));
        currencies.push(f.currency);
        amounts.push(f.amount_minor);
        providers.push(f.provider.as_deref());
    }
    sqlx::query_scalar::<_, i64>(APPLY)
        .bind(consumer)
        .bind(event_ids)
        .bind(order_ids)
        .bind(occurred)
        .bind(statuses)
        .bind(kinds)
        .bind(currencies)
        .bind(amounts)
        .bind(providers)
        .bind(shard)
        .fetch_one(pool)
        .await
}

/// SQLSTATE classes 22 (data exception) and 23 (integrity violation): the data, not the
/// database, is at fault, and trying the same data again will fail again.
fn is_data_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// Data errors are permanent; everything else (connection, pool timeout, deadlock,
/// serialization failure, shutdown, ...) may heal and is retryable.
pub(crate) fn classify(e: sqlx::Error) -> HandlerError {
    if is_data_error(&e) {
        HandlerError::permanent(format!("analytics: {e}"))
    } else {
        HandlerError::retryable(format!("analytics: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_retryable() {
        assert!(matches!(
            classify(sqlx::Error::PoolTimedOut),
            HandlerError::Retryable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(matches!(
            classify(sqlx::Error::Io(io)),
            HandlerError::Retryable(_)
        ));
    }
}
