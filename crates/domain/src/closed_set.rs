//! `closed_set!`: an enum whose values are a fixed list of names, with one text codec for the
//! store (a `text` column through sqlx) and the wire (a JSON string through serde), `as_str`,
//! `FromStr`, `ALL` and an OpenAPI schema. Decoding is strict: a name outside the list is an
//! error, never a fallback, so a broken row or request is refused instead of guessed. What people
//! write (forms, registers' files) is read by `by_name`: the name, the other spellings a value
//! declares (`Variant => "name" | "其他写法"`) and, for a set declared
//! `Set labelled "<catalogue prefix>" { ... }`, the values' labels in the message catalogue.

/// A name that is not one of a closed set's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    /// The set's name, e.g. `SiteKind`.
    pub kind: &'static str,
    /// What was given (at most 200 characters of it).
    pub name: String,
}

impl UnknownName {
    pub fn new(kind: &'static str, name: &str) -> UnknownName {
        UnknownName {
            kind,
            name: name.chars().take(200).collect(),
        }
    }
}

#[macro_export]
#[doc(hidden)]
macro_rules! closed_set {
    (@labels) => { None };
    (@labels $labels:literal) => { Some($labels) };
    ($(#[$meta:meta])* $name:ident $(labelled $labels:literal)? {
        $($(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)*),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The name the store and the wire use.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The prefix of the values' labels in the message catalogue
            /// (`<prefix>.<name>`), for a set declared `labelled "<prefix>"`.
            pub const LABELS: Option<&str> = $crate::closed_set!(@labels $($labels)?);

            /// The value `text` names, as people write it (in a form, a register's file):
            /// spaces around it aside, its name, one of the other spellings the set declares
            /// (`Variant => "name" | "spelling"`), or, for a labelled set, its label in any
            /// language of the catalogue, ASCII case aside. `None` for anything else. The store
            /// and the wire use the strict `FromStr`.
            pub fn by_name(text: &str) -> Option<$name> {
                let text = text.trim();
                match text {
                    $($text $(| $alias)* => return Some($name::$variant),)+
                    _ => {}
                }
                let prefix = $name::LABELS?;
                $name::ALL.iter().copied().find(|value| {
                    let key = format!("{prefix}.{}", value.as_str());
                    $crate::catalogue::LANGUAGES.iter().any(|lang| {
                        $crate::catalogue::message(&key, lang)
                            .is_some_and(|label| label.eq_ignore_ascii_case(text))
                    })
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::UnknownName::new(stringify!($name), other)),
                }
            }
        }

        // By hand: the derive does not see a `serde(rename)` written by a macro.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

/// Proves a closed set's codec both ways for every value: `as_str` and `FromStr`, serde, and
/// that an unknown name is refused. For the sets' own tests.
#[cfg(test)]
pub(crate) fn assert_codec<T>(all: &[T])
where
    T: Copy
        + PartialEq
        + std::fmt::Debug
        + std::fmt::Display
        + std::str::FromStr<Err = UnknownName>
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let mut names = std::collections::BTreeSet::new();
    for &value in all {
        let text = value.to_string();
        assert!(names.insert(text.clone()), "`{text}` is used twice");
        assert_eq!(text.parse::<T>(), Ok(value));
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
        assert!(text.to_uppercase().parse::<T>().is_err() || text.to_uppercase() == text);
    }
    assert!("no-such-name".parse::<T>().is_err());
    assert!(serde_json::from_str::<T>("\"no-such-name\"").is_err());
}
