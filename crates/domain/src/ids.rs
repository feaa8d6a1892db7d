//! Typed ids: one newtype per table, transparent to serde (a number on the wire) and to sqlx (the
//! column's own integer type in the store).

use std::fmt;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$inner> for $name {
            fn from(id: $inner) -> Self {
                $name(id)
            }
        }
    )*};
}

ids! {
    /// `hazard_sites.id`
    SiteId(i64);
    /// `people.id`: a person the system notifies (monitor, official, field staff).
    PersonId(i64);
    /// `gateways.id`
    GatewayId(i64);
    /// `sensors.id` (an `integer` column).
    SensorId(i32);
    /// `quarantine.id`
    QuarantineId(i64);
    /// `analyzer_rules.id`
    RuleId(i64);
    /// `warnings.id`
    WarningId(i64);
    /// `warning_events.id`
    WarningEventId(i64);
    /// `notifications.id`
    NotificationId(i64);
    /// `notification_attempts.id`
    NotificationAttemptId(i64);
    /// `officers.id`: a signed-in user of the console or the field app.
    OfficerId(i64);
    /// `audit_log.id`
    AuditEntryId(i64);
    /// `video_frames.id`
    FrameId(i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_bare_number_on_the_wire() {
        assert_eq!(serde_json::to_string(&WarningId(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<PersonId>("7").unwrap(), PersonId(7));
    }
}
