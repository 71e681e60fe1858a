//! The dedup store's statements (see the parent module for the protocol they implement).

// The statements that join the table with a batch (`LOOK_UP`, `MARK_SENT`) run unprepared
// (`persistent(false)`): PostgreSQL then plans each one for its batch and the table's size now.
// A prepared statement gets a generic plan after five runs, made while the table was still small
// (a hash join over a full scan), and keeps it as the table grows: each claim cost 0-100 ms,
// growing with the table, by 300k rows.

/// Inserts the claims; the rows that come back are the ones this call won. Conflicts are
/// detected through the primary key whatever the plan, so this one stays prepared (planning it
/// for every batch cost PostgreSQL about a tenth of its time).
pub(super) const CLAIM: &str = r#"
INSERT INTO notification_deliveries (event_id, channel, state)
SELECT event_id, channel, 'claimed'
FROM unnest($1::uuid[], $2::text[]) AS t(event_id, channel)
ORDER BY event_id, channel
ON CONFLICT DO NOTHING
RETURNING event_id, channel
"#;

/// What became of the claims this call did not win (redeliveries, replays, concurrent calls).
pub(super) const LOOK_UP: &str = r#"
SELECT d.event_id, d.channel, d.state, (extract(epoch FROM now() - d.claimed_at) * 1000)::bigint
FROM unnest($1::uuid[], $2::text[]) AS t(event_id, channel)
JOIN notification_deliveries d USING (event_id, channel)
"#;

/// Only the call that won a claim marks it (or releases it, or marks it unknown; never two of
/// them), so the rows need no `state = 'claimed'` guard. Such a guard made the planner trust the
/// column's statistics (nearly every row `sent`, the fresh claims not yet sampled) and scan the
/// whole table for the few `claimed` rows it expected: 537 full scans in one 300k-event run.
pub(super) const MARK_SENT: &str = r#"
UPDATE notification_deliveries AS d
SET state = 'sent', sent_at = now(), provider = t.provider, provider_id = t.provider_id
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
    AS t(event_id, channel, provider, provider_id)
WHERE d.event_id = t.event_id AND d.channel = t.channel
"#;

#[cfg(test)]
mod tests {
    //! The plans of the statements that join the table, on a big table whose statistics say
    //! nearly every row is sent (what months of production look like): each batch must be
    //! looked up through the primary key, never by scanning the table.
    #![allow(clippy::unwrap_used)]

    use sqlx::postgres::PgPoolOptions;
    use sqlx::{AssertSqlSafe, Executor, PgPool};
    use uuid::Uuid;

    use super::{LOOK_UP, MARK_SENT};
    use crate::support::postgres::{connect_options, drop_schema, migrate};

    async fn plan(pool: &PgPool, sql: &str, ids: &[Uuid], channels: &[&str]) -> String {
        let explain = format!("EXPLAIN {sql}");
        let query = sqlx::query_scalar::<_, String>(AssertSqlSafe(explain))
            .bind(ids)
            .bind(channels);
        let rows: Vec<String> = if sql.contains("$4") {
            let providers = vec!["log"; ids.len()];
            query
                .bind(providers.clone())
                .bind(providers)
                .persistent(false)
                .fetch_all(pool)
                .await
        } else {
            query.persistent(false).fetch_all(pool).await
        }
        .unwrap();
        rows.join("\n")
    }

    #[tokio::test]
    async fn batches_are_looked_up_by_key_on_a_big_mostly_sent_table() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".into());
        let schema = format!("t_plans_{}", Uuid::now_v7().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let options = connect_options(&url, "orderbus-test", Some(&schema))
            .await
            .unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        migrate(&pool).await.unwrap();
        pool.execute(
            "INSERT INTO notification_deliveries (event_id, channel, state) \
             SELECT gen_random_uuid(), c, 'sent' \
             FROM generate_series(1, 50000), unnest(ARRAY['sms', 'email']) AS c",
        )
        .await
        .unwrap();
        // A full batch (`batch_size` 512): big enough that a scan looks cheaper to a misled planner.
        let ids: Vec<Uuid> = (0..512).map(|_| Uuid::now_v7()).collect();
        let channels = vec!["sms"; ids.len()];
        sqlx::query(
            "INSERT INTO notification_deliveries (event_id, channel, state) \
             SELECT unnest($1::uuid[]), 'sms', 'claimed'",
        )
        .bind(&ids)
        .execute(&pool)
        .await
        .unwrap();
        pool.execute("ANALYZE notification_deliveries")
            .await
            .unwrap();

        for (name, sql) in [("mark", MARK_SENT), ("look-up", LOOK_UP)] {
            let plan = plan(&pool, sql, &ids, &channels).await;
            assert!(
                plan.contains("notification_deliveries_pkey") && !plan.contains("Seq Scan"),
                "{name} must look each key up by the primary key:\n{plan}"
            );
        }
        drop_schema(&admin, &schema).await.unwrap();
    }
}
