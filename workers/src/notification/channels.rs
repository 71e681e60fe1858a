//! From an event to messages and back: who to contact (the event's customer), which channels
//! apply (a contact for it, a template for the event type, a provider configured), the rendered
//! text, the provider call through its resilience wrapper, and what the provider's answer means
//! for the dedup claim. Contact data is personal: it only leaves this module masked.

use std::sync::Arc;

use adapters::email::{Email, EmailSender, ResilientEmail};
use adapters::resilience::Resilience;
use adapters::sms::{ResilientSms, Sms, SmsSender};
use adapters::{Error as AdapterError, FailureKind};
use events::Envelope;

use super::Channel;
use super::codes;
use super::recipient::customer;
use super::templates::Templates;

/// One message ready to go.
#[derive(Debug, Clone)]
pub(crate) enum Message {
    Sms(Sms),
    Email(Email),
}

/// The providers, each with resilience around it; `None` when the channel is off.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    /// Text messages.
    pub sms: Option<ResilientSms>,
    /// E-mail.
    pub email: Option<ResilientEmail>,
}

/// How a send ended, as far as the dedup claim is concerned.
#[derive(Debug)]
pub(crate) enum Sent {
    /// The provider took it.
    Delivered { provider: &'static str, id: String },
    /// The provider did not take it; `retry` when a later attempt may succeed; `code` says why
    /// ([`codes`]).
    Refused {
        retry: bool,
        code: &'static str,
        reason: String,
    },
    /// No answer in time: it may or may not have been taken.
    Unknown { reason: String },
}

impl Senders {
    /// The resilience policy of a channel's provider (breaker state, metrics).
    pub fn resilience(&self, channel: Channel) -> Option<&Arc<Resilience>> {
        match channel {
            Channel::Sms => self.sms.as_ref().map(ResilientSms::resilience),
            Channel::Email => self.email.as_ref().map(ResilientEmail::resilience),
        }
    }

    /// The messages `event` asks for: per configured channel with a contact and a template.
    pub(crate) fn plan(&self, event: &Envelope, templates: &Templates) -> Vec<(Channel, Message)> {
        let Some(customer) = customer(&event.data) else {
            return Vec::new();
        };
        let event_type = event.event_type();
        let reference = event.event_id.to_string();
        let mut out = Vec::with_capacity(2);
        if self.sms.is_some()
            && let Some(to) = &customer.phone
            && let Some(t) = templates.get(event_type, Channel::Sms)
        {
            out.push((
                Channel::Sms,
                Message::Sms(Sms {
                    to: to.clone(),
                    body: t.render(event).body,
                    template: None,
                    reference: reference.clone(),
                }),
            ));
        }
        if self.email.is_some()
            && let Some(to) = &customer.email
            && let Some(t) = templates.get(event_type, Channel::Email)
        {
            let rendered = t.render(event);
            out.push((
                Channel::Email,
                Message::Email(Email {
                    to: to.clone(),
                    to_name: None,
                    subject: rendered.subject.unwrap_or_default(),
                    text: rendered.body,
                    reference,
                }),
            ));
        }
        out
    }

    /// Sends one message through its provider's wrapper and classifies the outcome.
    pub(crate) async fn send(&self, message: &Message) -> Sent {
        let (outcome, contact, channel) = match (message, &self.sms, &self.email) {
            (Message::Sms(sms), Some(sender), _) => (
                sender.send(sms).await.map(|r| (r.provider, r.id)),
                sms.to.as_str(),
                Channel::Sms,
            ),
            (Message::Email(email), _, Some(sender)) => (
                sender.send(email).await.map(|r| (r.provider, r.id)),
                email.to.as_str(),
                Channel::Email,
            ),
            // `plan` only makes messages for configured channels.
            _ => {
                return Sent::Refused {
                    retry: false,
                    code: codes::NO_CHANNEL,
                    reason: "channel not configured".into(),
                };
            }
        };
        match outcome {
            Ok((provider, id)) => Sent::Delivered { provider, id },
            Err(e) => classify(&e, contact, channel),
        }
    }
}

/// What an adapter error means for the claim. A timeout is the one answer that does not say
/// whether the provider took the message. Everything else (an HTTP status, a refused
/// connection, a shed call, an exhausted budget whose last attempt was answered) says it did not.
fn classify(e: &AdapterError, contact: &str, channel: Channel) -> Sent {
    let reason = redact(&e.to_string(), contact);
    let timed_out = e.failure().is_some_and(|f| f.kind == FailureKind::Timeout);
    if timed_out {
        Sent::Unknown { reason }
    } else {
        Sent::Refused {
            retry: e.is_retryable(),
            code: codes::of(channel, e),
            reason,
        }
    }
}

/// Masks a phone number or e-mail address for logs and dead-letter reasons: `***0100`,
/// `c***@example.com`.
pub(crate) fn mask(contact: &str) -> String {
    if let Some((user, domain)) = contact.split_once('@') {
        let first: String = user.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = contact.chars().collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***{tail}")
}

/// Provider messages may quote the recipient ("The 'To' number +1415... is not valid").
fn redact(text: &str, contact: &str) -> String {
    if contact.is_empty() {
        return text.to_owned();
    }
    text.replace(contact, &mask(contact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_masked_and_redacted() {
        assert_eq!(mask("+14155550100"), "***0100");
        assert_eq!(mask("customer7@example.com"), "c***@example.com");
        assert_eq!(mask("12"), "***12");
        assert_eq!(
            redact("The 'To' number +14155550100 is not valid", "+14155550100"),
            "The 'To' number ***0100 is not valid"
        );
    }

    #[test]
    fn only_timeouts_leave_the_outcome_unknown() {
        let f = |kind| adapters::Failure::new(kind, "x");
        let classify = |e: &AdapterError| classify(e, "", Channel::Sms);
        let timeout = AdapterError::retryable("twilio", f(FailureKind::Timeout));
        assert!(matches!(classify(&timeout), Sent::Unknown { .. }));
        let deadline = AdapterError::DeadlineExceeded {
            provider: "twilio",
            attempts: 2,
            last: Some(Box::new(timeout)),
        };
        assert!(matches!(classify(&deadline), Sent::Unknown { .. }));
        let server = AdapterError::retryable("twilio", f(FailureKind::Server));
        assert!(matches!(
            classify(&server),
            Sent::Refused {
                retry: true,
                code: codes::PROVIDER_UNAVAILABLE,
                ..
            }
        ));
        let shed = AdapterError::BreakerOpen { provider: "twilio" };
        assert!(matches!(
            classify(&shed),
            Sent::Refused {
                retry: true,
                code: codes::BREAKER_OPEN,
                ..
            }
        ));
        let bad = AdapterError::permanent("twilio", f(FailureKind::InvalidRecipient));
        assert!(matches!(
            classify(&bad),
            Sent::Refused {
                retry: false,
                code: codes::INVALID_PHONE,
                ..
            }
        ));
    }
}
