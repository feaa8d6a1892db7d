//! The domain's vocabulary, shared by every service and library crate: typed ids (so
//! `acknowledge(warning, person)` cannot be called with its arguments swapped), the closed
//! sets of the system, each with one text codec for the store and the wire, `PerLevel<T>`, and
//! who may do what (`access`).
//!
//! This crate sits at the bottom of the layer map beside `protocol` (it uses only the
//! protocol's warning level, for `PerLevel`).

mod closed_set;

pub mod access;
pub mod audit;
mod ids;
pub mod per_level;
pub mod sensor;
pub mod site;
mod stored;

pub use access::{Ownership, Permission, Role, Scope, permits};
pub use audit::AuditAction;
pub use closed_set::UnknownName;
pub use ids::{
    AuditEntryId, FrameId, GatewayId, NotificationAttemptId, NotificationId, OfficerId, PersonId,
    QuarantineId, RuleId, SensorId, SiteId, WarningEventId, WarningId,
};
pub use per_level::PerLevel;
pub use sensor::SensorKind;
pub use site::{DivisionLevel, SiteKind, SiteStatus};
pub use stored::Stored;
