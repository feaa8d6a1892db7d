//! Text columns decoded strictly into their closed sets: the domain's `Stored<T>`.

pub use geohazard_domain::Stored;
