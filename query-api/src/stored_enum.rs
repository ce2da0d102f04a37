//! [`stored_enum!`]: a GraphQL enum and the names its values are stored under in the read
//! models, declared once.

/// Declares a GraphQL enum (values in upper case, as API.md spells them) with `stored()` and
/// `from_stored()` for the read models' names.
macro_rules! stored_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $($(#[$vdoc:meta])* $variant:ident => $stored:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// The name the read models store.
            pub fn stored(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored,)+
                }
            }

            /// The value stored as `name`.
            pub fn from_stored(name: &str) -> Option<Self> {
                match name {
                    $($stored => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use stored_enum;
