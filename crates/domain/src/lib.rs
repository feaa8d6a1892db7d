//! The domain's vocabulary, shared by every service and library crate: typed ids (so
//! `acknowledge(warning, person)` cannot be called with its arguments swapped), the closed
//! sets of the system, each with one text codec for the store and the wire, `PerLevel<T>`, and
//! who may do what (`access`).
//!
//! This crate sits at the bottom of the layer map: it depends on no other geohazard crate (the
//! wire protocol uses its levels and quarantine reasons).

mod closed_set;

pub mod access;
pub mod audit;
pub mod catalogue;
mod ids;
mod level;
pub mod media;
mod notification;
pub mod per_level;
mod quarantine;
pub mod sensor;
pub mod site;
mod stored;

pub use access::{Ownership, Permission, Role, Scope, permits};
pub use audit::AuditAction;
pub use catalogue::message;
pub use closed_set::UnknownName;
pub use ids::{
    AuditEntryId, FrameId, GatewayId, NotificationAttemptId, NotificationId, OfficerId, PersonId,
    QuarantineId, RuleId, SensorId, SiteId, WarningEventId, WarningId,
};
pub use level::WarningLevel;
pub use notification::{Channel, NotificationStatus, UnknownNotificationName};
pub use per_level::PerLevel;
pub use quarantine::{QuarantineReason, UnknownReason};
pub use sensor::SensorKind;
pub use site::{DivisionLevel, SiteKind, SiteRole, SiteStatus};
pub use stored::Stored;
