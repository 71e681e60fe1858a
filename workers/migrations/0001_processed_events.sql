-- Which events each consumer has already applied: the idempotency record behind "at least once
-- in, exactly once in effect". A consumer inserts its row in the same transaction as the effect
-- of the event, so a redelivered or replayed event finds its row and changes nothing.
-- `consumer` lets several workers (analytics, notification, ...) share the table.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
