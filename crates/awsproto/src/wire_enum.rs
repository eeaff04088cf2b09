//! [`wire_enum!`]: the one way a service crate declares an enum of its API, spelled as
//! the API spells it. Records hold these enums (statuses, states, modes) and rule
//! tables name their values (`NetworkMode::NAMES`). The crate using it depends on
//! `serde`, as every service crate does.

/// Declares an enum of the API: each variant spelled as the API spells it (serde
/// renames), in the order messages list them. Gives `ALL` and `NAMES` (every value and
/// every spelling, in that order), `as_str`, `parse` and `Display`; the derived `Ord`
/// follows the declared order (a task's statuses rely on it).
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in order.
            // Not every enum is listed (those private to a module may never be).
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every value as the API spells it, in order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The value as the API spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value `s` spells, if it spells one.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::wire_enum! {
        /// A test enum.
        #[derive(Default)]
        pub enum Colour {
            Red = "RED",
            #[default]
            LightBlue = "light-blue",
        }
    }

    #[test]
    fn enums_spell_as_the_api_in_declared_order() {
        assert_eq!(Colour::NAMES, ["RED", "light-blue"]);
        assert_eq!(Colour::ALL, [Colour::Red, Colour::LightBlue]);
        assert_eq!(Colour::parse("light-blue"), Some(Colour::LightBlue));
        assert_eq!(Colour::parse("Red"), None);
        assert_eq!(serde_json::to_value(Colour::Red).unwrap(), "RED");
        assert_eq!(
            serde_json::from_value::<Colour>("light-blue".into()).unwrap(),
            Colour::LightBlue
        );
        assert_eq!(Colour::LightBlue.to_string(), "light-blue");
        assert_eq!(Colour::default(), Colour::LightBlue);
        assert!(Colour::Red < Colour::LightBlue);
    }
}
