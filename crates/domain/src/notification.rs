//! A notification's channel and status: closed sets with one text codec (`as_str`/`FromStr`)
//! used by the store (sqlx, a `text` column), the wire (serde) and logs alike.

use std::fmt;
use std::str::FromStr;

use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};

/// A text that is not one of a closed set's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNotificationName {
    /// `channel` or `status`.
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownNotificationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown notification {} `{}`", self.what, self.value)
    }
}

impl std::error::Error for UnknownNotificationName {}

macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownNotificationName;
            fn from_str(s: &str) -> Result<$name, UnknownNotificationName> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(UnknownNotificationName {
                        what: $what,
                        value: other.chars().take(100).collect(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <str as sqlx::Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<$name, BoxDynError> {
                Ok(<&str as sqlx::Decode<Postgres>>::decode(value)?.parse()?)
            }
        }
    };
}

closed_set! {
    /// How a notification reaches a person.
    Channel, "channel" {
        /// A text message through an SMS provider.
        Sms = "sms",
        /// The person's signed-in clients (the console, the field app) over their WebSocket.
        App = "app",
    }
}

closed_set! {
    /// Where a notification is on its way to a person.
    NotificationStatus, "status" {
        /// Queued: an SMS waiting for its (next) attempt; an app notification no client of the
        /// person has confirmed receiving yet.
        Pending = "pending",
        /// An SMS claimed by a delivery worker, being handed to the provider.
        Sending = "sending",
        /// The provider accepted the SMS; no receipt yet.
        Sent = "sent",
        /// The provider's receipt, or the person's client, says it arrived.
        Delivered = "delivered",
        /// Given up, or the provider's receipt says it did not arrive.
        Failed = "failed",
        /// Held back: the person had as many SMS as the rate limit allows.
        RateLimited = "rate_limited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself_on_the_wire_and_as_text() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Channel>(&json).unwrap(), *c);
        }
        for s in NotificationStatus::ALL {
            assert_eq!(s.as_str().parse::<NotificationStatus>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(
                serde_json::from_str::<NotificationStatus>(&json).unwrap(),
                *s
            );
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_that_says_what_it_was() {
        let e = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(e.to_string(), "unknown notification channel `fax`");
        assert!("read".parse::<NotificationStatus>().is_err());
        assert!(serde_json::from_str::<NotificationStatus>("\"read\"").is_err());
    }
}
