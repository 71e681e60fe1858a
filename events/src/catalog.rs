//! The event catalog: the one table that declares every event type, and the names it yields.
//!
//! Each row of the table gives an event type's variant name, wire name (`event_type`), stream
//! (topic family), payload type (in [`payload`](crate::payload)) and schema version (the file
//! `schemas/<wire name>.v<version>.json`). `declare.rs` expands the rows into [`EventType`],
//! [`EventData`], their names and lookups, the [`Payload`] impls and the typed decode of `data`.
//! Outside this table the crate names types one by one only for their sample data
//! (`samples.rs`) and in tests. How to add one: the crate docs (`lib.rs`).

#[macro_use]
mod declare;

use crate::payload::{
    OrderCancelled, OrderCreated, OrderPaid, OrderShipped, PaymentAuthorized, PaymentCaptured,
    PaymentFailed, PaymentRefunded,
};
use crate::validate::Validate;

declare_events! {
    // variant          wire name               stream            payload type         version
    OrderCreated      => "order.created",      Stream::Order,    OrderCreated,        1;
    OrderPaid         => "order.paid",         Stream::Order,    OrderPaid,           1;
    OrderShipped      => "order.shipped",      Stream::Order,    OrderShipped,        1;
    OrderCancelled    => "order.cancelled",    Stream::Order,    OrderCancelled,      1;
    PaymentAuthorized => "payment.authorized", Stream::Payment,  PaymentAuthorized,   1;
    PaymentCaptured   => "payment.captured",   Stream::Payment,  PaymentCaptured,     1;
    PaymentFailed     => "payment.failed",     Stream::Payment,  PaymentFailed,       1;
    PaymentRefunded   => "payment.refunded",   Stream::Payment,  PaymentRefunded,     1;
}

/// Which topic family an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `order.*` events, topic `order-events` by default.
    Order,
    /// `payment.*` events, topic `payment-events` by default.
    Payment,
}

/// A payload type with a fixed event type; lets producers take typed events.
pub trait Payload: Into<EventData> + Validate {
    /// The event type this payload is sent as.
    const EVENT_TYPE: EventType;
}

/// Marker for payloads of the order stream (`OrderProducer` takes only these).
pub trait OrderPayload: Payload {}

/// Marker for payloads of the payment stream (`PaymentProducer` takes only these).
pub trait PaymentPayload: Payload {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract (ARCHITECTURE.md): each type's wire name and stream, written out by hand
    /// rather than read from the table, so the test checks the table instead of repeating it.
    /// The `match` has no catch-all: a new type does not compile here until it is written down.
    fn contract(t: EventType) -> (&'static str, Stream) {
        match t {
            EventType::OrderCreated => ("order.created", Stream::Order),
            EventType::OrderPaid => ("order.paid", Stream::Order),
            EventType::OrderShipped => ("order.shipped", Stream::Order),
            EventType::OrderCancelled => ("order.cancelled", Stream::Order),
            EventType::PaymentAuthorized => ("payment.authorized", Stream::Payment),
            EventType::PaymentCaptured => ("payment.captured", Stream::Payment),
            EventType::PaymentFailed => ("payment.failed", Stream::Payment),
            EventType::PaymentRefunded => ("payment.refunded", Stream::Payment),
        }
    }

    #[test]
    fn all_holds_every_declared_type_once_in_order_with_its_name_and_stream() {
        for (i, t) in EventType::ALL.into_iter().enumerate() {
            // Discriminants run 0, 1, 2, ... in declaration order, so ALL[i] being variant i
            // means ALL is in contract order, lists no type twice and skips none before its end.
            assert_eq!(t as usize, i, "{t:?} sits at {i} in ALL");
            let (name, stream) = contract(t);
            assert_eq!(t.as_str(), name, "{t:?}");
            assert_eq!(t.stream(), stream, "{t:?}");
            // The stream is the name's prefix: an `order.*` type never goes to payment-events.
            let prefix = match stream {
                Stream::Order => "order.",
                Stream::Payment => "payment.",
            };
            assert!(name.starts_with(prefix), "{name} is on {stream:?}");
        }
        // ALL and the enum come from the same rows of the table, so the last variant cannot be
        // missing either; `contract` above makes sure each of them is checked.
    }

    #[test]
    fn every_type_round_trips_through_its_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
            assert_eq!(t.to_string().parse::<EventType>(), Ok(t));
        }
        for unknown in [
            "",
            "order",
            "order.exploded",
            "ORDER.CREATED",
            " order.created",
            "order.created ",
            "OrderCreated",
        ] {
            assert_eq!(
                unknown.parse::<EventType>(),
                Err(crate::Error::UnknownEventType(unknown.to_owned())),
            );
        }
    }

    #[test]
    fn versions_header_values_and_schema_files_agree() {
        for t in EventType::ALL {
            let v = t.current_version();
            assert_eq!(t.supported_versions().last(), Some(&v), "{t}");
            assert_eq!(t.current_version_str(), v.to_string(), "{t}");
            assert_eq!(t.schema_file(), format!("{t}.v{v}.json"));
        }
    }
}
