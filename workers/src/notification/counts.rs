//! The notification worker's metric handles ([`crate::metrics`]): messages the providers took
//! and sends the dedup claim stopped, per channel, made once when the worker starts.

use metrics::{Counter, counter};

use super::Channel;
use super::dedup::Claim;
use crate::metrics::{NOTIFICATION_DEDUP_HITS, NOTIFICATIONS_SENT, describe};

/// The `claim` label of each claim that stops a send, in the order of [`PerChannel::stopped`].
const STOPPED: [&str; 3] = ["sent", "in_flight", "unknown"];

#[derive(Debug)]
struct PerChannel {
    sent: Counter,
    stopped: [Counter; 3],
}

impl PerChannel {
    fn new(channel: Channel) -> Self {
        let c = channel.as_str();
        Self {
            sent: counter!(NOTIFICATIONS_SENT, "channel" => c),
            stopped: STOPPED
                .map(|claim| counter!(NOTIFICATION_DEDUP_HITS, "channel" => c, "claim" => claim)),
        }
    }
}

/// The handles of both channels.
#[derive(Debug)]
pub(crate) struct Counts {
    sms: PerChannel,
    email: PerChannel,
}

impl Counts {
    /// Handles in the recorder installed now.
    pub(crate) fn new() -> Self {
        describe();
        Self {
            sms: PerChannel::new(Channel::Sms),
            email: PerChannel::new(Channel::Email),
        }
    }

    fn channel(&self, channel: Channel) -> &PerChannel {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }
    }

    /// A provider took a message on `channel`.
    pub(crate) fn sent(&self, channel: Channel) {
        self.channel(channel).sent.increment(1);
    }

    /// Counts `claim` on `channel` if it stops the send (any but [`Claim::Won`]).
    pub(crate) fn claimed(&self, channel: Channel, claim: &Claim) {
        let slot = match claim {
            Claim::Won => return,
            Claim::Sent => 0,
            Claim::InFlight => 1,
            Claim::Unknown(_) => 2,
        };
        self.channel(channel).stopped[slot].increment(1);
    }
}
