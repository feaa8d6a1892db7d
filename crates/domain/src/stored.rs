//! Text columns the store writes from a closed set defined outside this crate (the protocol's
//! warning level, state, transition), decoded into their types as the row is read. One that does not parse is a broken store: the
//! query fails (a 500 for a handler), nothing is guessed.

use std::fmt::Display;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Postgres;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};

/// A `T` read from its text form; serialized as the `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Stored<T>(pub T);

impl<T> sqlx::Type<Postgres> for Stored<T> {
    fn type_info() -> PgTypeInfo {
        <str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r, T: FromStr> sqlx::Decode<'r, Postgres> for Stored<T>
where
    T::Err: Display,
{
    fn decode(value: PgValueRef<'r>) -> Result<Stored<T>, BoxDynError> {
        let text = <&str as sqlx::Decode<Postgres>>::decode(value)?;
        text.parse()
            .map(Stored)
            .map_err(|e| format!("stored `{text}`: {e}").into())
    }
}
