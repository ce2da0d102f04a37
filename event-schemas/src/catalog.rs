//! The catalogue of every published event: aggregate type, event type, version and schema.

use schemars::Schema;

/// One published version of one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKind {
    /// The aggregate type whose streams hold the event (`stock`, `order`, ...).
    pub aggregate_type: &'static str,
    /// The event's stable `event_type` string, e.g. `StockReserved`.
    pub event_type: &'static str,
    /// The semantic version of the event's payload schema.
    pub event_version: &'static str,
}

/// Declares an aggregate's event enum: one tuple variant per event struct, externally tagged
/// (the stored payload is `{"<EventType>": {...}}`), with cqrs-es's `DomainEvent`, a catalogue
/// of the published versions and their JSON Schemas.
macro_rules! events {
    (
        $(#[$doc:meta])*
        pub enum $name:ident for $aggregate:literal {
            $($variant:ident => $version:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        pub enum $name {
            $(
                #[doc = concat!("See [`", stringify!($variant), "`].")]
                $variant($variant),
            )+
        }

        impl $name {
            /// The aggregate type whose streams hold these events.
            pub const AGGREGATE_TYPE: &'static str = $aggregate;

            /// Every event type of this aggregate at its current version.
            pub const KINDS: &'static [$crate::EventKind] = &[
                $($crate::EventKind {
                    aggregate_type: $aggregate,
                    event_type: stringify!($variant),
                    event_version: $version,
                },)+
            ];

            /// The JSON Schema of every event type's payload at its current version.
            pub fn schemas() -> Vec<($crate::EventKind, schemars::Schema)> {
                vec![$(
                    (
                        $crate::EventKind {
                            aggregate_type: $aggregate,
                            event_type: stringify!($variant),
                            event_version: $version,
                        },
                        schemars::schema_for!($variant),
                    ),
                )+]
            }
        }

        impl cqrs_es::DomainEvent for $name {
            fn event_type(&self) -> String {
                match self {
                    $(Self::$variant(_) => stringify!($variant).to_owned(),)+
                }
            }

            fn event_version(&self) -> String {
                match self {
                    $(Self::$variant(_) => $version.to_owned(),)+
                }
            }
        }

        $(
            impl From<$variant> for $name {
                fn from(event: $variant) -> Self {
                    Self::$variant(event)
                }
            }
        )+
    };
}

pub(crate) use events;

/// Every published event kind of every aggregate.
pub fn all_kinds() -> Vec<EventKind> {
    [
        crate::StockEvent::KINDS,
        crate::OrderEvent::KINDS,
        crate::DeliveryEvent::KINDS,
        crate::InspectionEvent::KINDS,
        crate::PurchaseEvent::KINDS,
    ]
    .concat()
}

/// The JSON Schema of every published event kind.
pub fn all_schemas() -> Vec<(EventKind, Schema)> {
    let mut all = crate::StockEvent::schemas();
    all.extend(crate::OrderEvent::schemas());
    all.extend(crate::DeliveryEvent::schemas());
    all.extend(crate::InspectionEvent::schemas());
    all.extend(crate::PurchaseEvent::schemas());
    all
}
