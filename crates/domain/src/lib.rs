//! The domain's vocabulary, shared by every service and library crate: typed ids (so
//! `acknowledge(warning, person)` cannot be called with its arguments swapped) and the closed
//! sets of the system, each with one text codec for the store and the wire.
//!
//! This crate sits at the bottom of the layer map beside `protocol`: it depends on no other
//! geohazard crate.

pub mod catalogue;
mod ids;
mod notification;
mod quarantine;

pub use catalogue::message;
pub use ids::{
    AuditEntryId, FrameId, GatewayId, NotificationAttemptId, NotificationId, OfficerId, PersonId,
    QuarantineId, RuleId, SensorId, SiteId, WarningEventId, WarningId,
};
pub use notification::{Channel, NotificationStatus, UnknownNotificationName};
pub use quarantine::{QuarantineReason, UnknownReason};
