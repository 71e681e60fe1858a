//! Who an event is about: the customer named by the event types that carry one. Both the
//! channel choice and the template variables ask it.

use events::{Customer, EventData};

/// The customer an event names, for the event types that carry one.
pub(crate) fn customer(data: &EventData) -> Option<&Customer> {
    match data {
        EventData::OrderCreated(d) => Some(&d.customer),
        EventData::OrderPaid(d) => Some(&d.customer),
        EventData::OrderShipped(d) => Some(&d.customer),
        EventData::OrderCancelled(d) => Some(&d.customer),
        EventData::PaymentFailed(d) => Some(&d.customer),
        EventData::PaymentAuthorized(_)
        | EventData::PaymentCaptured(_)
        | EventData::PaymentRefunded(_) => None,
    }
}
