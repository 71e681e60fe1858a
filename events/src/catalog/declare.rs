//! The machinery behind the event table in [`catalog`](super): `declare_events!` turns one row
//! per event type into everything that must agree for that type, so nothing is written twice.
//!
//! From the rows it generates [`EventType`](super::EventType) (variants, `ALL`, `as_str`,
//! `FromStr`, `Display`, `stream`, schema versions and file name), [`EventData`](super::EventData)
//! (one variant per payload type, `event_type`, `Validate`), for each payload type its `From`,
//! [`Payload`](super::Payload) and stream marker impls, and the typed decode of `data` by event
//! type. Every `match` it writes lists every row, so there is no catch-all for a new type to fall
//! into. Adding an event type never means editing this file.

/// Expands the event table. One row per event type:
///
/// ```text
/// Variant => "wire.name", Stream::Family, PayloadType, schema_version;
/// ```
macro_rules! declare_events {
    // The stream marker of a payload type, so a typed producer takes only its stream's payloads.
    (@marker Order $payload:ty) => {
        impl $crate::catalog::OrderPayload for $payload {}
    };
    (@marker Payment $payload:ty) => {
        impl $crate::catalog::PaymentPayload for $payload {}
    };

    ($(
        $variant:ident => $name:literal, Stream::$stream:ident, $payload:ty, $version:literal;
    )+) => {
        /// The event types, in contract order (the order of the table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )+
        }

        impl EventType {
            /// Every event type, in contract order.
            pub const ALL: [EventType; [$(stringify!($variant)),+].len()] =
                [$(EventType::$variant),+];

            /// The wire name, e.g. `order.created`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// Topic family.
            pub const fn stream(self) -> $crate::catalog::Stream {
                match self {
                    $(EventType::$variant => $crate::catalog::Stream::$stream,)+
                }
            }

            /// Schema versions this build reads. Writing always uses the last one.
            pub const fn supported_versions(self) -> &'static [u16] {
                match self {
                    $(EventType::$variant => &[$version],)+
                }
            }

            /// The version this build writes.
            pub const fn current_version(self) -> u16 {
                match self {
                    $(EventType::$variant => $version,)+
                }
            }

            /// [`current_version`](Self::current_version) as the `schema_version` header value.
            pub const fn current_version_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => stringify!($version),)+
                }
            }

            /// The file in `schemas/` holding the current version's JSON Schema, e.g.
            /// `order.created.v1.json`.
            pub const fn schema_file(self) -> &'static str {
                match self {
                    $(EventType::$variant => concat!($name, ".v", $version, ".json"),)+
                }
            }
        }

        impl ::std::fmt::Display for EventType {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for EventType {
            type Err = $crate::error::Error;
            // A `match` on the names rather than a search of `ALL`: it runs for every decoded
            // event, and a name given twice in the table is an unreachable-pattern warning.
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                match s {
                    $($name => Ok(EventType::$variant),)+
                    unknown => Err($crate::error::Error::UnknownEventType(unknown.to_owned())),
                }
            }
        }

        /// The typed `data` of an event; the variant decides `event_type`.
        #[derive(Debug, Clone, PartialEq, Eq, ::serde::Serialize)]
        #[serde(untagged)]
        pub enum EventData {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($payload),
            )+
        }

        impl EventData {
            /// The event type of this payload.
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventData::$variant(_) => EventType::$variant,)+
                }
            }

            /// Reads `data` straight into the payload type of `event_type`: the typed arm of the
            /// one-pass decode (`decode.rs` wraps `d` so structs come only from JSON objects).
            #[inline]
            pub(crate) fn deserialize_as<'de, D: ::serde::Deserializer<'de>>(
                event_type: EventType,
                d: D,
            ) -> ::std::result::Result<EventData, D::Error> {
                Ok(match event_type {
                    $(EventType::$variant => {
                        EventData::$variant(<$payload as ::serde::Deserialize>::deserialize(d)?)
                    })+
                })
            }
        }

        impl $crate::validate::Validate for EventData {
            fn validate_at(
                &self,
                at: $crate::validate::Path<'_>,
            ) -> $crate::validate::Checked {
                match self {
                    $(EventData::$variant(p) => $crate::validate::Validate::validate_at(p, at),)+
                }
            }
        }

        $(
            impl From<$payload> for EventData {
                fn from(p: $payload) -> Self {
                    EventData::$variant(p)
                }
            }

            impl $crate::catalog::Payload for $payload {
                const EVENT_TYPE: EventType = EventType::$variant;
            }

            declare_events!(@marker $stream $payload);
        )+
    };
}
