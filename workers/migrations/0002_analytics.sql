-- Read models of the analytics worker (consumers/src/workers/analytics.rs).

-- The current status of each order, from order.* events. (occurred_at, event_id) is the version
-- of the event that set it: an older event arriving late never overwrites a newer status.
-- Counts per status are derived from this table (GROUP BY status).
CREATE TABLE analytics_order_status (
    order_id    text        PRIMARY KEY,
    status      text        NOT NULL
        CHECK (status IN ('created', 'paid', 'shipped', 'cancelled')),
    occurred_at timestamptz NOT NULL,
    event_id    uuid        NOT NULL
);

-- Money taken (payment.captured) and given back (payment.refunded) per UTC day of the event and
-- currency, in minor units; net revenue = captured - refunded. `shard` is the writer slot that
-- added the row: concurrent batches add to different rows instead of queueing on one hot row,
-- and readers sum over shards.
CREATE TABLE analytics_revenue_daily (
    day            date     NOT NULL,
    currency       text     NOT NULL,
    shard          smallint NOT NULL,
    captured_minor bigint   NOT NULL DEFAULT 0,
    refunded_minor bigint   NOT NULL DEFAULT 0,
    captures       bigint   NOT NULL DEFAULT 0,
    refunds        bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency, shard)
);

-- Payment outcomes per provider: payment.authorized vs payment.failed events (sharded as above).
CREATE TABLE analytics_payment_provider (
    provider   text     NOT NULL,
    shard      smallint NOT NULL,
    authorized bigint   NOT NULL DEFAULT 0,
    failed     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, shard)
);
