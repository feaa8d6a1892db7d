//! The domain's vocabulary, shared by every service and library crate: typed ids (so
//! `acknowledge(warning, person)` cannot be called with its arguments swapped) and the closed
//! sets of the system, each with one text codec for the store and the wire.
//!
//! This crate sits at the bottom of the layer map beside `protocol`: it depends on no other
//! geohazard crate.

mod ids;
mod notification;

pub use ids::{
    AuditEntryId, FrameId, GatewayId, NotificationAttemptId, NotificationId, OfficerId, PersonId,
    QuarantineId, RuleId, SensorId, SiteId, WarningEventId, WarningId,
};
pub use notification::{Channel, NotificationStatus, UnknownNotificationName};
