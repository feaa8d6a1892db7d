//! Who may do what: the roles of the people who sign in, the permissions actions need, and the
//! one table deciding between them (`permits`). Division is decided apart from role: a
//! `Scope` (an officer's division and every division below it) filters what an officer can
//! see at all; an object outside it is answered exactly like one that does not exist.

crate::closed_set!(
    /// What a signed-in user is. Not ordered: what each may do is `permits`'s table.
    Role {
        /// Reads what is in scope (值班查看).
        Viewer => "viewer",
        /// Acts on warnings, runs incidents and dispatches field teams (值班员).
        DutyOfficer => "duty_officer",
        /// Oversees: approves requests, reads the audit log (督导).
        Supervisor => "supervisor",
        /// Everything in scope, officers included (管理员).
        Admin => "admin",
        /// Field team member on the phone app: their own tasks and reports (外业人员).
        FieldStaff => "field_staff",
        /// Village monitor of the mass-monitoring network (群测群防监测员).
        VillageMonitor => "village_monitor",
    }
);

crate::closed_set!(
    /// What an action needs. One per action, checked by `permits`.
    Permission {
        /// Hazard sites, their people, sensors and divisions.
        ReadSites => "sites.read",
        /// A sensor's readings and threshold lines.
        ReadReadings => "readings.read",
        ReadWarnings => "warnings.read",
        AcknowledgeWarning => "warnings.acknowledge",
        /// Gateways, device health and quarantine.
        ReadDevices => "devices.read",
        ViewVideo => "video.view",
        ReadAudit => "audit.read",
        ManageOfficers => "officers.manage",
        /// Confirms an alert sent to oneself (SMS or app) was received.
        AcknowledgeAlert => "alerts.acknowledge",
        /// Files a patrol or rapid hazard report.
        ReportHazard => "reports.create",
        ReadIncidents => "incidents.read",
        ManageIncidents => "incidents.manage",
        /// Sends a field team a task.
        DispatchTask => "tasks.dispatch",
        ReadTask => "tasks.read",
        /// Moves a task on (accepted, on site, done).
        UpdateTask => "tasks.update",
        RequestApproval => "approvals.request",
        Approve => "approvals.decide",
        /// Changes the register: hazard sites (create, edit, retire, import).
        ManageRegister => "register.manage",
        /// Supervision figures and the periodic and exception reports (综合监管).
        ReadSupervision => "supervision.read",
    }
);

/// How the object of an action stands to the person acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// The object belongs to no one in particular (a site, a warning, a list).
    Unowned,
    /// Theirs: a task assigned to them, a request or report they filed, an alert sent to them.
    Own,
    /// Someone else's.
    Others,
}

impl Ownership {
    /// `Own` when `owner` is `me`.
    pub fn of<T: PartialEq>(owner: T, me: T) -> Ownership {
        if owner == me {
            Ownership::Own
        } else {
            Ownership::Others
        }
    }
}

/// Whether `role` may do what `permission` guards to an object that stands to them as
/// `ownership`. Within the scope of their division; the scope is checked apart.
pub fn permits(role: Role, permission: Permission, ownership: Ownership) -> bool {
    use Ownership::*;
    use Permission::*;
    use Role::*;
    let own_only = ownership != Others;
    match permission {
        ReadSites | ReadWarnings => true,
        ReadReadings | ReadIncidents => !matches!(role, VillageMonitor),
        ReadDevices | ViewVideo => matches!(role, Viewer | DutyOfficer | Supervisor | Admin),
        AcknowledgeWarning | ManageIncidents | DispatchTask | RequestApproval => {
            matches!(role, DutyOfficer | Admin)
        }
        ReadAudit => matches!(role, Supervisor | Admin),
        ManageOfficers => role == Admin,
        AcknowledgeAlert => own_only,
        ReportHazard => matches!(role, DutyOfficer | Admin | FieldStaff | VillageMonitor),
        // Field people see and move on only the tasks given to them.
        ReadTask => match role {
            FieldStaff | VillageMonitor => own_only,
            _ => true,
        },
        UpdateTask => match role {
            FieldStaff | VillageMonitor => own_only,
            DutyOfficer | Admin => true,
            Viewer | Supervisor => false,
        },
        // Nobody approves their own request.
        Approve => matches!(role, Supervisor | Admin) && ownership != Own,
        ManageRegister => role == Admin,
        ReadSupervision => matches!(role, Viewer | DutyOfficer | Supervisor | Admin),
    }
}

/// The divisions an officer may see: their own and every one below it, computed once per
/// request from the divisions tree. Queries bind `divisions()` as a `text[]` and filter with
/// `division_code = ANY($n)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    root: String,
    divisions: Vec<String>,
    top_level: bool,
}

impl Scope {
    /// `divisions` must hold `root`; `top_level`: `root` has no parent.
    pub fn new(root: String, mut divisions: Vec<String>, top_level: bool) -> Scope {
        if !divisions.contains(&root) {
            divisions.push(root.clone());
        }
        divisions.sort();
        Scope {
            root,
            divisions,
            top_level,
        }
    }

    /// The officer's own division.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Every division in scope, sorted: bind it as `$n` with `division_code = ANY($n)`.
    pub fn divisions(&self) -> &[String] {
        &self.divisions
    }

    pub fn contains(&self, division: &str) -> bool {
        self.divisions
            .binary_search_by(|d| d.as_str().cmp(division))
            .is_ok()
    }

    /// A top-level officer also sees what belongs to no division (a gateway nobody
    /// registered, a sign-in with an unknown user name).
    pub fn sees_unassigned(&self) -> bool {
        self.top_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permission table as a reader checks it: per permission, for each role in the order
    /// viewer, duty_officer, supervisor, admin, field_staff, village_monitor, what it may do to
    /// an object that is unowned / its own / someone else's (`y` yes, `.` no).
    const TABLE: &[(Permission, [&str; 6])] = &[
        (
            Permission::ReadSites,
            ["yyy", "yyy", "yyy", "yyy", "yyy", "yyy"],
        ),
        (
            Permission::ReadReadings,
            ["yyy", "yyy", "yyy", "yyy", "yyy", "..."],
        ),
        (
            Permission::ReadWarnings,
            ["yyy", "yyy", "yyy", "yyy", "yyy", "yyy"],
        ),
        (
            Permission::AcknowledgeWarning,
            ["...", "yyy", "...", "yyy", "...", "..."],
        ),
        (
            Permission::ReadDevices,
            ["yyy", "yyy", "yyy", "yyy", "...", "..."],
        ),
        (
            Permission::ViewVideo,
            ["yyy", "yyy", "yyy", "yyy", "...", "..."],
        ),
        (
            Permission::ReadAudit,
            ["...", "...", "yyy", "yyy", "...", "..."],
        ),
        (
            Permission::ManageOfficers,
            ["...", "...", "...", "yyy", "...", "..."],
        ),
        (
            Permission::AcknowledgeAlert,
            ["yy.", "yy.", "yy.", "yy.", "yy.", "yy."],
        ),
        (
            Permission::ReportHazard,
            ["...", "yyy", "...", "yyy", "yyy", "yyy"],
        ),
        (
            Permission::ReadIncidents,
            ["yyy", "yyy", "yyy", "yyy", "yyy", "..."],
        ),
        (
            Permission::ManageIncidents,
            ["...", "yyy", "...", "yyy", "...", "..."],
        ),
        (
            Permission::DispatchTask,
            ["...", "yyy", "...", "yyy", "...", "..."],
        ),
        (
            Permission::ReadTask,
            ["yyy", "yyy", "yyy", "yyy", "yy.", "yy."],
        ),
        (
            Permission::UpdateTask,
            ["...", "yyy", "...", "yyy", "yy.", "yy."],
        ),
        (
            Permission::RequestApproval,
            ["...", "yyy", "...", "yyy", "...", "..."],
        ),
        (
            Permission::Approve,
            ["...", "...", "y.y", "y.y", "...", "..."],
        ),
        (
            Permission::ManageRegister,
            ["...", "...", "...", "yyy", "...", "..."],
        ),
        (
            Permission::ReadSupervision,
            ["yyy", "yyy", "yyy", "yyy", "...", "..."],
        ),
    ];

    const ROLES: [Role; 6] = [
        Role::Viewer,
        Role::DutyOfficer,
        Role::Supervisor,
        Role::Admin,
        Role::FieldStaff,
        Role::VillageMonitor,
    ];
    const OWNERSHIPS: [Ownership; 3] = [Ownership::Unowned, Ownership::Own, Ownership::Others];

    #[test]
    fn permits_is_exactly_the_table_for_every_role_permission_and_ownership() {
        assert_eq!(ROLES, Role::ALL, "the table's columns are every role");
        let listed: Vec<Permission> = TABLE.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            listed,
            Permission::ALL,
            "the table has a row per permission"
        );
        let mut wrong = vec![];
        for (permission, row) in TABLE {
            for (role, cells) in ROLES.iter().zip(row) {
                for (ownership, cell) in OWNERSHIPS.iter().zip(cells.chars()) {
                    let expected = cell == 'y';
                    if permits(*role, *permission, *ownership) != expected {
                        wrong.push(format!(
                            "{role} {permission} {ownership:?}: want {expected}"
                        ));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn an_approver_may_not_approve_their_own_request_and_field_staff_see_only_their_tasks() {
        let me = 7;
        assert!(!permits(
            Role::Admin,
            Permission::Approve,
            Ownership::of(7, me)
        ));
        assert!(permits(
            Role::Admin,
            Permission::Approve,
            Ownership::of(8, me)
        ));
        assert!(!permits(
            Role::FieldStaff,
            Permission::ReadTask,
            Ownership::of(8, me)
        ));
        assert!(permits(
            Role::FieldStaff,
            Permission::ReadTask,
            Ownership::of(7, me)
        ));
    }

    #[test]
    fn roles_and_permissions_round_trip_and_unknown_names_are_refused() {
        crate::closed_set::assert_codec(Role::ALL);
        crate::closed_set::assert_codec(Permission::ALL);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_scope_holds_its_root_and_says_which_divisions_are_in_it() {
        let s = Scope::new(
            "510500".into(),
            vec!["510502".into(), "510501".into()],
            false,
        );
        assert_eq!(s.divisions(), ["510500", "510501", "510502"]);
        assert!(s.contains("510501") && !s.contains("510600"));
        assert!(!s.sees_unassigned());
    }
}
