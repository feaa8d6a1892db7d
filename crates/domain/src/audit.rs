//! What the audit log records.

crate::closed_set!(
    /// An action written to the audit log. The store's column is free text; reading a row
    /// whose action is not one of these fails instead of showing a guess.
    AuditAction {
        /// A successful sign-in.
        Login => "login",
        /// A refused sign-in (unknown user, wrong password, disabled); also the reserved row
        /// of an attempt whose password is being checked.
        LoginFailed => "login_failed",
        /// Refused before the password was checked: too many recent failures.
        LoginThrottled => "login_throttled",
        /// Refused before the password was checked: too many checks at once.
        LoginBusy => "login_busy",
        Logout => "logout",
        WarningAcknowledge => "warning.acknowledge",
        VideoLiveView => "video.live_view",
        /// An input grid of the regional warning imported (susceptibility, rain).
        ForecastImport => "forecast.import",
        /// A regional warning drafted on demand.
        ForecastRun => "forecast.run",
        /// A draft's levels changed, with a reason.
        ForecastAdjust => "forecast.adjust",
        /// A draft approved and released.
        ForecastApprove => "forecast.approve",
        ForecastDiscard => "forecast.discard",
        /// A release withdrawn.
        ForecastCancel => "forecast.cancel",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_audit_action_round_trips_and_unknown_names_are_refused() {
        crate::closed_set::assert_codec(AuditAction::ALL);
        assert_eq!(
            AuditAction::WarningAcknowledge.as_str(),
            "warning.acknowledge"
        );
    }
}
