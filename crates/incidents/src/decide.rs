//! The incident's and the task's state machines as pure functions, and the grading of an
//! incident by the national geohazard emergency plan (国家突发地质灾害应急预案). No database
//! here: [`crate::incident`] and [`crate::dispatch`] apply a decision in one transaction.

geohazard_domain::closed_set!(
    /// Where an incident stands.
    IncidentStatus {
        /// Opened; nobody is on the way yet.
        Open => "open",
        /// Teams are dispatched and working.
        Responding => "responding",
        /// The danger is contained; monitoring goes on.
        Stabilised => "stabilised",
        Closed => "closed",
    }
);

geohazard_domain::closed_set!(
    /// The plan's four grades (小型, 中型, 大型, 特大型).
    IncidentClass {
        Small => "small",
        Medium => "medium",
        Large => "large",
        Huge => "huge",
    }
);

geohazard_domain::closed_set!(
    /// Where a dispatch task stands.
    TaskStatus {
        Assigned => "assigned",
        Accepted => "accepted",
        Declined => "declined",
        EnRoute => "en_route",
        OnSite => "on_site",
        Done => "done",
    }
);

/// The grade of an incident by the plan: the highest any of casualties (deaths), people
/// threatened and direct losses (10,000 CNY) reaches. 特大型: 30 dead, 1000 threatened or
/// 10 million CNY; 大型: 10, 500, 5 million; 中型: 3, 100, 1 million; else 小型.
pub fn grade(casualties: u32, threatened_people: u32, losses_10k_cny: f64) -> IncidentClass {
    let by = |dead: u32, people: u32, loss: f64| {
        casualties >= dead || threatened_people >= people || losses_10k_cny >= loss
    };
    if by(30, 1000, 1000.0) {
        IncidentClass::Huge
    } else if by(10, 500, 500.0) {
        IncidentClass::Large
    } else if by(3, 100, 100.0) {
        IncidentClass::Medium
    } else {
        IncidentClass::Small
    }
}

/// What an incident's status change asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store the move and its timeline entry.
    Move {
        from: IncidentStatus,
        to: IncidentStatus,
    },
    /// Already there: nothing to store (a retried request).
    Same,
    /// Not a move the plan allows; the reason names both ends.
    Refuse {
        from: IncidentStatus,
        to: IncidentStatus,
    },
}

/// The incident state machine: forward open → responding → stabilised → closed (an open
/// incident may be closed at once, a false alarm); a stabilised one may flare up again
/// (back to responding); a closed one stays closed.
pub fn decide(current: IncidentStatus, to: IncidentStatus) -> Decision {
    use IncidentStatus::*;
    if current == to {
        return Decision::Same;
    }
    let allowed = matches!(
        (current, to),
        (Open, Responding)
            | (Open, Closed)
            | (Responding, Stabilised)
            | (Stabilised, Responding)
            | (Stabilised, Closed)
    );
    if allowed {
        Decision::Move { from: current, to }
    } else {
        Decision::Refuse { from: current, to }
    }
}

/// What happened to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskChange {
    Accept,
    /// Declined, with the reason (required, non-empty).
    Decline(String),
    EnRoute,
    OnSite,
    Done,
}

impl TaskChange {
    /// The status the change leads to.
    pub fn target(&self) -> TaskStatus {
        match self {
            TaskChange::Accept => TaskStatus::Accepted,
            TaskChange::Decline(_) => TaskStatus::Declined,
            TaskChange::EnRoute => TaskStatus::EnRoute,
            TaskChange::OnSite => TaskStatus::OnSite,
            TaskChange::Done => TaskStatus::Done,
        }
    }
}

/// What a task change asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDecision {
    Move {
        from: TaskStatus,
        to: TaskStatus,
        /// The decline's reason.
        reason: Option<String>,
    },
    /// Already there (a phone retrying): nothing to store.
    Same,
    Refuse {
        from: TaskStatus,
        to: TaskStatus,
    },
}

/// The task state machine: assigned → accepted (or declined with a reason) → en route → on
/// site → done; on site may be reached from accepted directly (a team already there).
/// Declined and done are final.
pub fn decide_task(current: TaskStatus, change: TaskChange) -> TaskDecision {
    use TaskStatus::*;
    let to = change.target();
    if current == to {
        return TaskDecision::Same;
    }
    let allowed = matches!(
        (current, to),
        (Assigned, Accepted)
            | (Assigned, Declined)
            | (Accepted, EnRoute)
            | (Accepted, OnSite)
            | (EnRoute, OnSite)
            | (OnSite, Done)
    );
    match change {
        _ if !allowed => TaskDecision::Refuse { from: current, to },
        TaskChange::Decline(reason) => TaskDecision::Move {
            from: current,
            to,
            reason: Some(reason),
        },
        _ => TaskDecision::Move {
            from: current,
            to,
            reason: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn the_incident_state_machine_decides_as_the_table_says() {
        #[rustfmt::skip]
        let table: &[(IncidentStatus, IncidentStatus, Decision)] = &[
            (Open, Responding, Decision::Move { from: Open, to: Responding }),
            (Open, Closed, Decision::Move { from: Open, to: Closed }),
            (Open, Stabilised, Decision::Refuse { from: Open, to: Stabilised }),
            (Open, Open, Decision::Same),
            (Responding, Stabilised, Decision::Move { from: Responding, to: Stabilised }),
            (Responding, Closed, Decision::Refuse { from: Responding, to: Closed }),
            (Responding, Open, Decision::Refuse { from: Responding, to: Open }),
            (Stabilised, Responding, Decision::Move { from: Stabilised, to: Responding }),
            (Stabilised, Closed, Decision::Move { from: Stabilised, to: Closed }),
            (Closed, Responding, Decision::Refuse { from: Closed, to: Responding }),
            (Closed, Open, Decision::Refuse { from: Closed, to: Open }),
            (Closed, Closed, Decision::Same),
        ];
        for (current, to, expected) in table {
            assert_eq!(decide(*current, *to), *expected, "{current} → {to}");
        }
    }

    #[test]
    fn the_task_state_machine_decides_as_the_table_says() {
        use TaskStatus::*;
        let mv = |from, to| TaskDecision::Move {
            from,
            to,
            reason: None,
        };
        #[rustfmt::skip]
        let table: Vec<(TaskStatus, TaskChange, TaskDecision)> = vec![
            (Assigned, TaskChange::Accept, mv(Assigned, Accepted)),
            (Assigned, TaskChange::Decline("路断".into()),
                TaskDecision::Move { from: Assigned, to: Declined, reason: Some("路断".into()) }),
            (Assigned, TaskChange::OnSite, TaskDecision::Refuse { from: Assigned, to: OnSite }),
            (Accepted, TaskChange::EnRoute, mv(Accepted, EnRoute)),
            (Accepted, TaskChange::OnSite, mv(Accepted, OnSite)),
            (Accepted, TaskChange::Accept, TaskDecision::Same),
            (Accepted, TaskChange::Decline("x".into()), TaskDecision::Refuse { from: Accepted, to: Declined }),
            (EnRoute, TaskChange::OnSite, mv(EnRoute, OnSite)),
            (EnRoute, TaskChange::Done, TaskDecision::Refuse { from: EnRoute, to: Done }),
            (OnSite, TaskChange::Done, mv(OnSite, Done)),
            (Done, TaskChange::Accept, TaskDecision::Refuse { from: Done, to: Accepted }),
            (Declined, TaskChange::Accept, TaskDecision::Refuse { from: Declined, to: Accepted }),
        ];
        for (current, change, expected) in table {
            let shown = format!("{current} + {change:?}");
            assert_eq!(decide_task(current, change), expected, "{shown}");
        }
    }

    #[test]
    fn an_incident_is_graded_by_its_worst_measure_as_the_national_plan_does() {
        assert_eq!(grade(0, 0, 0.0), IncidentClass::Small);
        assert_eq!(grade(2, 99, 99.9), IncidentClass::Small);
        assert_eq!(grade(3, 0, 0.0), IncidentClass::Medium);
        assert_eq!(grade(0, 100, 0.0), IncidentClass::Medium);
        assert_eq!(grade(0, 0, 100.0), IncidentClass::Medium);
        assert_eq!(grade(0, 500, 0.0), IncidentClass::Large);
        assert_eq!(grade(10, 0, 0.0), IncidentClass::Large);
        assert_eq!(grade(0, 0, 999.0), IncidentClass::Large);
        assert_eq!(grade(30, 0, 0.0), IncidentClass::Huge);
        assert_eq!(grade(0, 1000, 0.0), IncidentClass::Huge);
        assert_eq!(grade(1, 20, 1000.0), IncidentClass::Huge);
    }
}
