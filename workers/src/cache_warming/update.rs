//! What one event writes into its order's cache entry, and the compare-and-set script that
//! writes it. Pure apart from the script text, so versions and field groups are tested without
//! Redis.
//!
//! **Version**: `occurred_at` in microseconds since the Unix epoch, shifted by 2^63 so it is
//! never negative, as 20 zero-padded digits, followed by the event id as 32 lowercase hex
//! digits (52 characters). Fixed width and only `0-9a-f`, so comparing two versions as strings
//! orders them by time, then by id; UUIDv7 ids sort by creation, so two events of the same
//! microsecond still order the way they were made. The Kafka offset is not used: the two
//! topics' offsets do not compare, and a replay gives new offsets to old events.
//!
//! **Field groups**: an event writes only the fields it carries, each group guarded by its own
//! version field (`status_version`, ...): a group changes only when the event is newer than
//! the last one that wrote that group. So the entry ends as, field by field, what the newest
//! event carrying that field said, whatever order events arrive in (`amount_minor` from
//! `order.created` survives an earlier-applied `order.shipped`). `version`, `updated_at`,
//! `event_id` and `event_type` describe the newest event applied to the entry at all.

use events::{Envelope, EventData};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use consumers::runtime::HandlerError;

/// The compare-and-set, in Lua; its header states the arguments ([`Update::push_args`] writes
/// them).
pub(crate) const SCRIPT: &str = include_str!("script.lua");

/// One guarded group of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    /// The hash field holding the version of the event that last wrote this group.
    pub(crate) version_field: &'static str,
    pub(crate) fields: Vec<(&'static str, String)>,
}

/// One event's write, ready to become script arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    pub(crate) key: String,
    pub(crate) version: String,
    pub(crate) updated_at: String,
    pub(crate) event_id: String,
    pub(crate) event_type: &'static str,
    pub(crate) groups: Vec<Group>,
}

impl Update {
    /// The write `event` makes under `key_prefix`; an event that can never be written is
    /// refused permanently.
    pub(crate) fn of(event: &Envelope, key_prefix: &str) -> Result<Self, HandlerError> {
        if event.order_id.is_empty() {
            return Err(HandlerError::permanent("order_id is empty"));
        }
        let updated_at = event
            .occurred_at
            .format(&Rfc3339)
            .map_err(|e| HandlerError::permanent(format!("occurred_at: {e}")))?;
        let status = |s: &str| Group {
            version_field: "status_version",
            fields: vec![("status", s.to_owned())],
        };
        let amount = |m: &events::Money| Group {
            version_field: "amount_version",
            fields: vec![
                ("amount_minor", m.amount_minor.to_string()),
                ("currency", m.currency.code().to_owned()),
            ],
        };
        let payment = |s: &str, id: &str, provider: &str| Group {
            version_field: "payment_version",
            fields: vec![
                ("payment_status", s.to_owned()),
                ("payment_id", id.to_owned()),
                ("provider", provider.to_owned()),
            ],
        };
        let groups = match &event.data {
            EventData::OrderCreated(o) => vec![status("created"), amount(&o.total)],
            EventData::OrderPaid(o) => vec![status("paid"), amount(&o.amount)],
            EventData::OrderShipped(o) => vec![
                status("shipped"),
                Group {
                    version_field: "shipping_version",
                    fields: vec![
                        ("carrier", o.carrier.clone()),
                        ("tracking_number", o.tracking_number.clone()),
                    ],
                },
            ],
            EventData::OrderCancelled(_) => vec![status("cancelled")],
            EventData::PaymentAuthorized(p) => {
                vec![payment("authorized", &p.payment_id, &p.provider)]
            }
            EventData::PaymentCaptured(p) => {
                vec![payment("captured", &p.payment_id, &p.provider)]
            }
            EventData::PaymentFailed(p) => vec![payment("failed", &p.payment_id, &p.provider)],
            EventData::PaymentRefunded(p) => {
                vec![payment("refunded", &p.payment_id, &p.provider)]
            }
        };
        Ok(Self {
            key: format!("{key_prefix}{}", event.order_id),
            version: version(event.occurred_at, event.event_id)?,
            updated_at,
            event_id: event.event_id.to_string(),
            event_type: event.event_type().as_str(),
            groups,
        })
    }

    /// Appends the script's arguments (after the key) to `cmd`.
    pub(crate) fn push_args(&self, cmd: &mut redis::Cmd, ttl_secs: u64) {
        cmd.arg(&self.version)
            .arg(ttl_secs)
            .arg(&self.updated_at)
            .arg(&self.event_id)
            .arg(self.event_type);
        for g in &self.groups {
            cmd.arg(g.version_field).arg(g.fields.len());
            for (field, value) in &g.fields {
                cmd.arg(*field).arg(value);
            }
        }
    }
}

/// The version string of an event (see the module docs).
pub(crate) fn version(
    occurred_at: time::OffsetDateTime,
    event_id: Uuid,
) -> Result<String, HandlerError> {
    let micros = occurred_at.unix_timestamp_nanos().div_euclid(1_000);
    let shifted = u64::try_from(micros + (1i128 << 63))
        .map_err(|_| HandlerError::permanent("occurred_at is out of range"))?;
    Ok(format!("{shifted:020}{}", event_id.simple()))
}

#[cfg(test)]
mod tests {
    use events::EventType;
    use events::samples::Generator;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn versions_order_by_time_then_id_as_strings() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let cases = [
            (datetime!(1969-12-31 23:59:59.999999 UTC), b),
            (datetime!(1970-01-01 00:00:00 UTC), a),
            (datetime!(2026-01-02 03:04:05.000001 UTC), a),
            (datetime!(2026-01-02 03:04:05.000001 UTC), b),
            (datetime!(2026-01-02 03:04:05.000002 UTC), a),
            (datetime!(9999-12-31 23:59:59.999999 UTC), a),
        ];
        let versions: Vec<String> = cases
            .iter()
            .map(|(t, id)| version(*t, *id).expect("in range"))
            .collect();
        for pair in versions.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
        assert!(versions.iter().all(|v| v.len() == 52));
    }

    #[test]
    fn events_write_their_own_groups_only() {
        let mut g = Generator::new(5, "test");
        let mut groups = |t: EventType| {
            let u = Update::of(&g.one(t, 3), "p:").expect("update");
            assert_eq!(u.key, "p:ord_00000003");
            assert_eq!(u.event_type, t.as_str());
            u.groups
                .iter()
                .map(|grp| grp.version_field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            groups(EventType::OrderCreated),
            ["status_version", "amount_version"]
        );
        assert_eq!(
            groups(EventType::OrderShipped),
            ["status_version", "shipping_version"]
        );
        assert_eq!(groups(EventType::OrderCancelled), ["status_version"]);
        assert_eq!(groups(EventType::PaymentRefunded), ["payment_version"]);
    }
}
