//! The all-in-one's parts that its tests use too.

pub mod broker;
pub mod media;
