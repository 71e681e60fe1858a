//! Every reason code the notification worker gives, in one list: what `orderbus dlq list` counts
//! and `orderbus dlq redrive --reason` picks. An event's channels fail on their own; the event
//! carries the first failed channel's code (SMS before e-mail) and every channel's reason.
//!
//! Permanent (the event is dead-lettered with the code as `orderbus.dlq.reason`):
//! - [`INVALID_PHONE`], [`INVALID_EMAIL`]: the provider refused the recipient;
//! - [`PROVIDER_AUTH`]: the provider refused our credentials;
//! - [`PROVIDER_REJECTED`]: the provider refused the request for another lasting reason;
//! - [`OUTCOME_UNKNOWN`]: no answer in time, now or in an earlier attempt: the provider may have
//!   taken the message, so it is never sent again by itself (check before redriving);
//! - [`NO_CHANNEL`]: a message for a channel without a provider (the plan makes none; a guard).
//!
//! Retryable (retried, then parked; after the last round dead-lettered as `retries_exhausted`
//! with the code in its error):
//! - [`BREAKER_OPEN`]: the channel's breaker sheds calls;
//! - [`PROVIDER_UNAVAILABLE`]: 5xx, 429, refused connection, retry budget spent;
//! - [`SEND_IN_PROGRESS`]: another delivery of the event holds the channel's claim;
//! - [`DEDUP_UNAVAILABLE`]: the dedup store (PostgreSQL) failed.

use std::fmt;

use adapters::{Error as AdapterError, FailureKind};
use consumers::runtime::HandlerError;

use super::Channel;
use crate::support::reasons;

pub use crate::support::reasons::{
    BREAKER_OPEN, OUTCOME_UNKNOWN, PROVIDER_AUTH, PROVIDER_REJECTED, PROVIDER_UNAVAILABLE,
};

/// The SMS provider refused the phone number (Twilio 21211 and kin, Aliyun
/// `isv.MOBILE_NUMBER_ILLEGAL`).
pub const INVALID_PHONE: &str = "invalid_phone";
/// The e-mail provider refused the address (SendGrid's `to` field, an SMTP address code such as
/// 550 or 553, an address SMTP cannot parse).
pub const INVALID_EMAIL: &str = "invalid_email";
/// A message for a channel that has no provider.
pub const NO_CHANNEL: &str = "no_channel";
/// Another delivery of the event is sending on the channel.
pub const SEND_IN_PROGRESS: &str = "send_in_progress";
/// The dedup store failed (connection, statement).
pub const DEDUP_UNAVAILABLE: &str = "dedup_unavailable";

/// The code of a failed send on `channel`.
pub(crate) fn of(channel: Channel, error: &AdapterError) -> &'static str {
    let refused_recipient = !error.is_retryable()
        && error
            .failure()
            .is_some_and(|f| f.kind == FailureKind::InvalidRecipient);
    if !refused_recipient {
        return reasons::of(error);
    }
    match channel {
        Channel::Sms => INVALID_PHONE,
        Channel::Email => INVALID_EMAIL,
    }
}

/// A channel's failure: `<channel>: <reason>` with its code.
pub(crate) fn failure(
    channel: Channel,
    retry: bool,
    code: &'static str,
    reason: impl fmt::Display,
) -> HandlerError {
    let reason = format!("{channel}: {reason}");
    let error = if retry {
        HandlerError::retryable(reason)
    } else {
        HandlerError::permanent(reason)
    };
    error.with_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::Failure;

    #[test]
    fn a_refused_recipient_is_named_by_its_channel() {
        let invalid = AdapterError::permanent(
            "twilio",
            Failure::new(FailureKind::InvalidRecipient, "21211"),
        );
        assert_eq!(of(Channel::Sms, &invalid), INVALID_PHONE);
        assert_eq!(of(Channel::Email, &invalid), INVALID_EMAIL);
        let auth = AdapterError::permanent("twilio", Failure::new(FailureKind::Unauthorized, "x"));
        assert_eq!(of(Channel::Sms, &auth), PROVIDER_AUTH);
        let err = failure(Channel::Email, false, INVALID_EMAIL, "bad address");
        assert!(matches!(&err, HandlerError::Permanent(_)));
        assert_eq!(err.failure().code, INVALID_EMAIL);
        assert_eq!(err.failure().reason, "email: bad address");
    }
}
