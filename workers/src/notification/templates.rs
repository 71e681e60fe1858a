//! Message templates: one file per event type and channel, `<event_type>.<channel>.txt` (e.g.
//! `order.created.sms.txt`), read from a configured directory, falling back to the repository's
//! `templates/` embedded at compile time, so the binary works anywhere and a deployment can
//! override any one file.
//!
//! A template is text with `{placeholder}`s (`{{` and `}}` for literal braces). An e-mail file
//! starts with a `Subject: ...` line and a blank line. Every file is parsed when the worker starts
//! and every placeholder checked against what its event type provides, so a typo fails the start
//! naming the file, never a message at 3 a.m.

use std::borrow::Cow;
use std::path::Path;

use events::{EventData, EventType};

use super::Channel;
use crate::error::{Error, Result};

/// The event types that produce notifications, and what each message is.
pub const NOTIFYING: [EventType; 4] = [
    EventType::OrderCreated,  // confirmation
    EventType::OrderPaid,     // receipt
    EventType::OrderShipped,  // shipping notice
    EventType::PaymentFailed, // action needed
];

macro_rules! embedded {
    ($($event:literal),*) => {
        &[$(
            ($event, Channel::Sms, include_str!(concat!("../../templates/", $event, ".sms.txt"))),
            ($event, Channel::Email, include_str!(concat!("../../templates/", $event, ".email.txt"))),
        )*]
    };
}

const DEFAULTS: &[(&str, Channel, &str)] = embedded!(
    "order.created",
    "order.paid",
    "order.shipped",
    "payment.failed"
);

/// A value a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    OrderId,
    EventId,
    CustomerId,
    Total,
    ItemCount,
    Amount,
    PaymentId,
    Carrier,
    TrackingNumber,
    FailureCode,
    FailureMessage,
}

impl Var {
    fn parse(name: &str, event_type: EventType) -> Option<Self> {
        let common = match name {
            "order_id" => Some(Var::OrderId),
            "event_id" => Some(Var::EventId),
            "customer_id" => Some(Var::CustomerId),
            _ => None,
        };
        // No catch-all over event types: a new type must say which values it provides.
        common.or(match event_type {
            EventType::OrderCreated => match name {
                "total" => Some(Var::Total),
                "item_count" => Some(Var::ItemCount),
                _ => None,
            },
            EventType::OrderPaid => match name {
                "amount" => Some(Var::Amount),
                "payment_id" => Some(Var::PaymentId),
                _ => None,
            },
            EventType::OrderShipped => match name {
                "carrier" => Some(Var::Carrier),
                "tracking_number" => Some(Var::TrackingNumber),
                _ => None,
            },
            EventType::PaymentFailed => match name {
                "amount" => Some(Var::Amount),
                "payment_id" => Some(Var::PaymentId),
                "failure_code" => Some(Var::FailureCode),
                "failure_message" => Some(Var::FailureMessage),
                _ => None,
            },
            EventType::OrderCancelled
            | EventType::PaymentAuthorized
            | EventType::PaymentCaptured
            | EventType::PaymentRefunded => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// A parsed template text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text(Vec<Piece>);

impl Text {
    fn parse(raw: &str, event_type: EventType) -> std::result::Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("unclosed `{{{name}`"));
                    }
                    let var = Var::parse(name.trim(), event_type).ok_or_else(|| {
                        format!("unknown placeholder `{{{name}}}` for {event_type}")
                    })?;
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err("lone `}` (write `}}` for a brace)".into()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self(pieces))
    }

    fn render(&self, event: &events::Envelope) -> String {
        let mut out = String::with_capacity(160);
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(&value(*v, event)),
            }
        }
        out
    }
}

fn value(var: Var, event: &events::Envelope) -> Cow<'_, str> {
    match var {
        Var::OrderId => Cow::Borrowed(event.order_id.as_str()),
        Var::EventId => Cow::Owned(event.event_id.to_string()),
        Var::CustomerId => super::recipient::customer(&event.data)
            .map_or(Cow::Borrowed(""), |c| Cow::Borrowed(c.customer_id.as_str())),
        // Parsing ties each of these to the event types that carry it.
        Var::Total
        | Var::ItemCount
        | Var::Amount
        | Var::PaymentId
        | Var::Carrier
        | Var::TrackingNumber
        | Var::FailureCode
        | Var::FailureMessage => data_value(var, &event.data).unwrap_or(Cow::Borrowed("")),
    }
}

/// A variable read from the event's `data`; `None` where the type does not carry it.
fn data_value(var: Var, d: &EventData) -> Option<Cow<'_, str>> {
    match d {
        EventData::OrderCreated(o) => match var {
            Var::Total => Some(Cow::Owned(o.total.display_major())),
            Var::ItemCount => Some(Cow::Owned(
                o.items
                    .iter()
                    .map(|i| u64::from(i.quantity))
                    .sum::<u64>()
                    .to_string(),
            )),
            _ => None,
        },
        EventData::OrderPaid(p) => match var {
            Var::Amount => Some(Cow::Owned(p.amount.display_major())),
            Var::PaymentId => Some(Cow::Borrowed(p.payment_id.as_str())),
            _ => None,
        },
        EventData::OrderShipped(s) => match var {
            Var::Carrier => Some(Cow::Borrowed(s.carrier.as_str())),
            Var::TrackingNumber => Some(Cow::Borrowed(s.tracking_number.as_str())),
            _ => None,
        },
        EventData::PaymentFailed(p) => match var {
            Var::Amount => Some(Cow::Owned(p.amount.display_major())),
            Var::PaymentId => Some(Cow::Borrowed(p.payment_id.as_str())),
            Var::FailureCode => Some(Cow::Borrowed(p.failure_code.as_str())),
            Var::FailureMessage => Some(Cow::Borrowed(p.failure_message.as_str())),
            _ => None,
        },
        EventData::OrderCancelled(_)
        | EventData::PaymentAuthorized(_)
        | EventData::PaymentCaptured(_)
        | EventData::PaymentRefunded(_) => None,
    }
}

/// One event type's template for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    subject: Option<Text>,
    body: Text,
}

/// A rendered message: the subject (e-mail) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// E-mail subject; `None` for SMS.
    pub subject: Option<String>,
    /// Message text.
    pub body: String,
}

impl Template {
    fn parse(
        raw: &str,
        event_type: EventType,
        channel: Channel,
    ) -> std::result::Result<Self, String> {
        let raw = raw.replace("\r\n", "\n");
        let (subject, body) = match channel {
            Channel::Sms => (None, raw.trim()),
            Channel::Email => {
                let (first, rest) = raw.split_once('\n').unwrap_or((raw.as_str(), ""));
                let subject = first
                    .strip_prefix("Subject:")
                    .ok_or("an e-mail template starts with a `Subject: ...` line")?;
                (Some(Text::parse(subject.trim(), event_type)?), rest.trim())
            }
        };
        if body.is_empty() {
            return Err("the message text is empty".into());
        }
        Ok(Self {
            subject,
            body: Text::parse(body, event_type)?,
        })
    }

    /// Fills in the placeholders from `event`.
    pub fn render(&self, event: &events::Envelope) -> Rendered {
        Rendered {
            subject: self.subject.as_ref().map(|s| s.render(event)),
            body: self.body.render(event),
        }
    }
}

/// Every template, by event type and channel.
#[derive(Debug, Clone)]
pub struct Templates {
    entries: Vec<(EventType, Channel, Template)>,
}

impl Templates {
    /// The embedded templates, overridden by any `<event_type>.<channel>.txt` in `dir`.
    /// Errors name `key` (the config key of the directory) and the file.
    pub fn load(dir: Option<&Path>, key: &str) -> Result<Self> {
        let bad = |file: &str, problem: String| {
            Error::Config(producers::Error::Config {
                key: key.to_owned(),
                problem: format!("template {file}: {problem}"),
            })
        };
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(bad(&dir.display().to_string(), "is not a directory".into()));
        }
        let mut entries = Vec::with_capacity(DEFAULTS.len());
        for &(name, channel, embedded) in DEFAULTS {
            let event_type: EventType = name
                .parse()
                .map_err(|e: events::Error| bad(name, e.to_string()))?;
            let file = format!("{name}.{}.txt", channel.as_str());
            let raw = match dir.map(|d| d.join(&file)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| bad(&path.display().to_string(), e.to_string()))?,
                None => embedded.to_owned(),
            };
            let template = Template::parse(&raw, event_type, channel)
                .map_err(|problem| bad(&file, problem))?;
            entries.push((event_type, channel, template));
        }
        Ok(Self { entries })
    }

    /// The template for `event_type` on `channel`, if that event type notifies.
    pub fn get(&self, event_type: EventType, channel: Channel) -> Option<&Template> {
        self.entries
            .iter()
            .find(|(t, c, _)| *t == event_type && *c == channel)
            .map(|(_, _, template)| template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::samples::Generator;

    #[test]
    fn embedded_templates_parse_and_render_every_placeholder() {
        let templates = Templates::load(None, "k").expect("embedded templates are valid");
        let mut g = Generator::new(3, "test");
        for event_type in NOTIFYING {
            let event = g.one(event_type, 7);
            for channel in [Channel::Sms, Channel::Email] {
                let out = templates
                    .get(event_type, channel)
                    .expect("present")
                    .render(&event);
                assert!(
                    out.body.contains(&event.order_id),
                    "{event_type} {channel:?}: {out:?}"
                );
                assert!(!out.body.contains('{'), "{out:?}");
                assert_eq!(out.subject.is_some(), channel == Channel::Email);
            }
        }
        assert!(
            templates
                .get(EventType::OrderCancelled, Channel::Sms)
                .is_none()
        );
    }

    #[test]
    fn bad_templates_name_the_file_and_the_problem() {
        let dir = std::env::temp_dir().join(format!("orderbus-tpl-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("order.paid.sms.txt"),
            "Paid {amount} for {tracking_number}",
        )
        .expect("write");
        let err = Templates::load(Some(&dir), "workers.notification.templates_dir")
            .expect_err("tracking_number is not an order.paid field");
        let text = err.to_string();
        assert!(
            text.contains("workers.notification.templates_dir"),
            "{text}"
        );
        assert!(
            text.contains("order.paid.sms.txt") && text.contains("tracking_number"),
            "{text}"
        );
        std::fs::write(dir.join("order.paid.sms.txt"), "{{literal}} {order_id}").expect("write");
        std::fs::write(dir.join("order.paid.email.txt"), "no subject line").expect("write");
        let err = Templates::load(Some(&dir), "k").expect_err("missing subject");
        assert!(err.to_string().contains("Subject"), "{err}");
        std::fs::remove_file(dir.join("order.paid.email.txt")).expect("rm");
        let t = Templates::load(Some(&dir), "k").expect("override is valid");
        let event = Generator::new(1, "t").one(EventType::OrderPaid, 1);
        let out = t
            .get(EventType::OrderPaid, Channel::Sms)
            .expect("sms")
            .render(&event);
        assert_eq!(out.body, format!("{{literal}} {}", event.order_id));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
