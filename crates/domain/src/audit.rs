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
        /// A consultation room opened, closed, or a decision taken in it.
        ConsultOpen => "consult.open",
        ConsultClose => "consult.close",
        ConsultDecide => "consult.decide",
        /// An incident opened from a warning.
        IncidentOpen => "incident.open",
        IncidentStatus => "incident.status",
        /// An incident's figures assessed (and its class regraded).
        IncidentAssess => "incident.assess",
        TeamCreate => "team.create",
        /// A task given to a team or one of its members.
        TaskDispatch => "task.dispatch",
        /// A task moved on (accepted, declined, en route, on site, done).
        TaskStatus => "task.status",
        /// A site's emergency plan written.
        PlanUpdate => "plan.update",
        /// A hazard site added to the register (by hand or by an import).
        SiteCreate => "site.create",
        /// A site of the register changed.
        SiteUpdate => "site.update",
        /// A site taken off the official register (its status closed).
        SiteRetire => "site.retire",
        /// A register file imported whole (its sites have their own entries).
        SiteImport => "site.import",
        /// A file of people, gateways or sensors imported whole (each entry has its own).
        RegisterImport => "register.import",
        /// An approval request filed (or filed again after a return).
        ApprovalSubmit => "approval.submit",
        /// An approval step acted on: approve, reject, return, comment, withdraw.
        ApprovalAct => "approval.act",
        /// A report generated again or downloaded.
        ReportDownload => "report.download",
        /// An input grid of the regional warning imported (susceptibility, rain).
        ForecastImport => "forecast.import",
        /// A regional warning drafted on demand.
        ForecastRun => "forecast.run",
        /// A draft's levels changed, with a reason.
        ForecastAdjust => "forecast.adjust",
        /// A draft submitted for approval by a second officer.
        ForecastSubmit => "forecast.submit",
        /// A draft approved and released.
        ForecastApprove => "forecast.approve",
        ForecastDiscard => "forecast.discard",
        /// A release withdrawn.
        ForecastCancel => "forecast.cancel",
        /// A site warning published to the public feed and page by an officer.
        ForecastSitePublish => "forecast.site_publish",
        /// A published site warning withdrawn from the public by an officer.
        ForecastSiteWithdraw => "forecast.site_withdraw",
        /// A gateway added to the register (or its name and site changed).
        GatewayRegister => "gateway.register",
        /// A gateway given its first key, or a new key after a revocation.
        GatewayKeyIssue => "gateway.key_issue",
        /// A gateway's key replaced by a new one (the old refused at once).
        GatewayKeyRotate => "gateway.key_rotate",
        /// A gateway's key withdrawn: it is disconnected and refused.
        GatewayKeyRevoke => "gateway.key_revoke",
        /// A person (monitor, official, engineer) added to the register.
        PersonCreate => "person.create",
        PersonUpdate => "person.update",
        /// The people answering for a site and their roles set.
        SitePeople => "site.people",
        /// A duty roster entry added or removed.
        RosterAdd => "roster.add",
        RosterRemove => "roster.remove",
        /// An officer account created.
        OfficerCreate => "officer.create",
        /// An officer's name, role, division or state changed (disabled, enabled).
        OfficerUpdate => "officer.update",
        /// An officer given a new password (shown once).
        OfficerPassword => "officer.password",
        /// A rapid hazard report filed from the field.
        FieldReport => "field.report",
        /// A patrol's checklist completed on a site.
        PatrolReport => "patrol.report",
        /// A site's patrol schedule written.
        PatrolSchedule => "patrol.schedule",
        /// Divisions (issue 24): one added to the register, its name or boundary changed, a
        /// GeoJSON file of them imported whole (each division has its own entry).
        DivisionCreate => "division.create",
        DivisionUpdate => "division.update",
        DivisionImport => "division.import",
        /// A photo or document attached to a site, or removed from it.
        SiteAttach => "site.attach",
        SiteDetach => "site.detach",
        /// A sensor added to the register or its fields changed.
        SensorRegister => "sensor.register",
        /// A rule row of a sensor kind, site or sensor set (the rule before and after).
        RuleUpdate => "rule.update",
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
