//! One tracing span per event handled, continuing the trace of the service that published it:
//! the W3C `traceparent` header becomes the span's remote parent, so with an OpenTelemetry layer
//! installed (the binary's `[telemetry]`) a trace runs from the publisher through every group
//! that handles the event. Field names follow OpenTelemetry's messaging conventions. Without such
//! a layer the parent is ignored and the span only scopes log lines.

use events::{Envelope, TraceParent, headers};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rdkafka::message::{Headers, Message, OwnedMessage};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The name of the span every event is handled in, so a subscriber can single it out (the
/// binary keeps it out of log lines unless `log.event_spans`).
pub const EVENT_SPAN: &str = "orderbus.process";

/// The span an event is handled in, child of the publisher's span when the message says which.
pub(crate) fn event_span(group: &str, message: &OwnedMessage, event: &Envelope) -> Span {
    let span = tracing::info_span!(
        EVENT_SPAN,
        otel.name = %format_args!("{} process", message.topic()),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.consumer.group.name = %group,
        messaging.destination.name = %message.topic(),
        messaging.destination.partition.id = message.partition(),
        messaging.kafka.offset = message.offset(),
        messaging.message.id = %event.event_id,
        orderbus.event_type = event.event_type().as_str(),
        orderbus.order_id = %event.order_id,
    );
    if !span.is_disabled()
        && let Some(parent) = parent_of(message)
    {
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.span_id),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        );
        // Fails only when no OpenTelemetry layer is installed: then there is nothing to link.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    span
}

/// The message's `traceparent`, if it has a valid one (a garbled header starts a new trace
/// rather than failing the event).
fn parent_of(message: &OwnedMessage) -> Option<TraceParent> {
    let value = message
        .headers()?
        .iter()
        .find(|h| h.key == headers::TRACEPARENT)?
        .value?;
    std::str::from_utf8(value).ok()?.parse().ok()
}
