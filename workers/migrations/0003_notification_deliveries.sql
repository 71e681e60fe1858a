-- The notification worker's dedup store (consumers/src/workers/notification/dedup.rs): one row
-- per (event, channel) it has tried to deliver. The row is claimed (INSERT ... ON CONFLICT DO
-- NOTHING) before the provider is called, so of any number of redeliveries, replays and
-- concurrent calls exactly one wins the right to send; it becomes 'sent' once the provider took
-- the message, and is deleted again when the provider definitely did not take it (a retryable or
-- permanent refusal), so a later attempt may send. A 'claimed' row older than the claim lease
-- means an attempt stopped between claiming and knowing the outcome (a crash); 'unknown' means the
-- provider did not answer in time (it may have taken the message). Neither is ever sent again (at
-- most once): the event is dead-lettered for a person to decide.
-- No expiry: a replay months later still finds the row. Prune by sent_at when retention allows.
CREATE TABLE notification_deliveries (
    event_id    uuid        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('sms', 'email')),
    state       text        NOT NULL CHECK (state IN ('claimed', 'sent', 'unknown')),
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    provider    text,
    provider_id text,
    PRIMARY KEY (event_id, channel)
);
