//! Kafka message header names: the ones every event carries, and the ones the runtime adds to
//! retried and dead-lettered events. Kept here so producers, consumers and tools agree.

/// Event type, e.g. `order.created`.
pub const EVENT_TYPE: &str = "event_type";
/// Schema version as a decimal string.
pub const SCHEMA_VERSION: &str = "schema_version";
/// Payload media type.
pub const CONTENT_TYPE: &str = "content-type";
/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The value of [`CONTENT_TYPE`] for every event.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Dead-letter header: the stable reason code (`not_json`, `missing_field`, `handler_permanent`).
pub const DLQ_REASON: &str = "orderbus.dlq.reason";
/// Dead-letter header: the error text, for people.
pub const DLQ_ERROR: &str = "orderbus.dlq.error";
/// Dead-letter and retry header: the topic the event was first read from.
pub const SOURCE_TOPIC: &str = "orderbus.source.topic";
/// Dead-letter and retry header: its partition there.
pub const SOURCE_PARTITION: &str = "orderbus.source.partition";
/// Dead-letter and retry header: its offset there.
pub const SOURCE_OFFSET: &str = "orderbus.source.offset";
/// Dead-letter and retry header: handling attempts made so far.
pub const ATTEMPTS: &str = "orderbus.attempts";
/// Dead-letter header: when it was dead-lettered (RFC 3339).
pub const DLQ_AT: &str = "orderbus.dlq.at";
/// Dead-letter header on a dead letter stored with part of its value or none, because the whole
/// one was larger than the broker takes: the original value's size in bytes.
pub const DLQ_TRUNCATED: &str = "orderbus.dlq.truncated";
/// Retry header: do not handle before this time (milliseconds since the Unix epoch, decimal).
pub const NOT_BEFORE: &str = "orderbus.retry.not-before";
/// Retry header: how many times the event has been parked on the retry topic (1 = first).
pub const RETRY_ROUND: &str = "orderbus.retry.round";
/// Retry header: a sequence number, increasing across processes, that orders parkings of one
/// key (so a later event of a blocked key is never let past an earlier one re-parked after it).
pub const RETRY_SEQ: &str = "orderbus.retry.seq";
/// Retry header: the last failure, for people.
pub const RETRY_ERROR: &str = "orderbus.retry.error";
/// Retry header: `failed` for an event parked because it failed, `follower` for one parked
/// only to stay behind an earlier event of its key (`block-key`).
pub const RETRY_KIND: &str = "orderbus.retry.kind";
/// Redrive header: when it was redriven from the dead-letter topic (RFC 3339).
pub const REDRIVEN_AT: &str = "orderbus.redriven.at";
/// Redrive header: the dead-letter topic, partition and offset it was redriven from
/// (`topic/partition/offset`), so the same dead letter is never redriven twice.
pub const REDRIVEN_FROM: &str = "orderbus.redriven.from";
/// Replay header on events copied by `orderbus replay --to-topic`: the source `topic/partition/offset`.
pub const REPLAYED_FROM: &str = "orderbus.replayed.from";
