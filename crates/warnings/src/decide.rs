//! The warning state machine as a pure function: [`decide`] takes what is known of a source's
//! open warning and what happened, and says what to store. No database here; the lifecycle
//! applies a decision (row, transition, event, notifications) in one transaction.

use geohazard_notify::Step;
use geohazard_protocol::warning::{WarningLevel, WarningState};

/// A source's open warning, as far as deciding needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub level: WarningLevel,
    /// The highest level it reached.
    pub peak: WarningLevel,
    /// `Open` or `Acknowledged` (a closed warning is not current).
    pub state: WarningState,
    /// How far up it has been referred.
    pub step: Step,
}

/// What happened to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The analyzer's level for the source now; `None`: the condition is over.
    Level(Option<WarningLevel>),
    /// A person acknowledges the warning.
    Acknowledge,
    /// Its acknowledgement deadline has passed.
    Overdue,
}

/// What to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Ignore,
    /// No warning is open: raise one; the site's people and the county are told.
    Raise { level: WarningLevel },
    /// The same level crossed again: a crossing with fresh evidence, not a transition (no alarm
    /// storm).
    Refresh,
    /// A higher level: it needs a new acknowledgement, its deadline runs from now, and
    /// everyone reached so far is told.
    Escalate {
        from: WarningLevel,
        to: WarningLevel,
        new_peak: bool,
    },
    /// A lower level: an acknowledgement given holds, and so does any deadline.
    DeEscalate {
        from: WarningLevel,
        to: WarningLevel,
        state: WarningState,
    },
    /// The condition is over.
    Close,
    /// A person acknowledged it: no referral until its level rises again.
    Acknowledge { level: WarningLevel },
    /// Nobody acknowledged in time: the next step's people are told; `next_due` when there is
    /// a step above that (past the province nothing is due).
    Refer {
        level: WarningLevel,
        to: Step,
        next_due: bool,
    },
}

/// The state machine.
pub fn decide(current: Option<Current>, change: Change) -> Decision {
    match (current, change) {
        (None, Change::Level(None)) => Decision::Ignore,
        (None, Change::Level(Some(level))) => Decision::Raise { level },
        (None, Change::Acknowledge | Change::Overdue) => Decision::Ignore,
        (Some(_), Change::Level(None)) => Decision::Close,
        (Some(c), Change::Level(Some(level))) if level == c.level => Decision::Refresh,
        (Some(c), Change::Level(Some(level))) if level > c.level => Decision::Escalate {
            from: c.level,
            to: level,
            new_peak: level > c.peak,
        },
        (Some(c), Change::Level(Some(level))) => Decision::DeEscalate {
            from: c.level,
            to: level,
            state: if c.state == WarningState::Acknowledged {
                WarningState::Acknowledged
            } else {
                WarningState::Open
            },
        },
        (Some(c), Change::Acknowledge) if c.state == WarningState::Open => {
            Decision::Acknowledge { level: c.level }
        }
        (Some(c), Change::Overdue) if c.state == WarningState::Open => {
            // A warning already at the province is told there again, and nothing is due after.
            let to = c.step.next().unwrap_or(Step::Province);
            Decision::Refer {
                level: c.level,
                to,
                next_due: to.next().is_some(),
            }
        }
        (Some(_), Change::Acknowledge | Change::Overdue) => Decision::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use WarningLevel::{Blue, Orange, Red, Yellow};
    use WarningState::{Acknowledged, Open};

    fn at(
        level: WarningLevel,
        peak: WarningLevel,
        state: WarningState,
        step: Step,
    ) -> Option<Current> {
        Some(Current {
            level,
            peak,
            state,
            step,
        })
    }

    #[test]
    fn the_warning_state_machine_decides_as_the_table_says() {
        let county = Step::County;
        #[rustfmt::skip]
        let table: &[(Option<Current>, Change, Decision)] = &[
            // Nothing open.
            (None, Change::Level(None), Ignore),
            (None, Change::Level(Some(Yellow)), Raise { level: Yellow }),
            (None, Change::Acknowledge, Ignore),
            (None, Change::Overdue, Ignore),
            // Open.
            (at(Yellow, Yellow, Open, county), Change::Level(Some(Yellow)), Refresh),
            (at(Yellow, Yellow, Open, county), Change::Level(Some(Red)), Escalate { from: Yellow, to: Red, new_peak: true }),
            (at(Yellow, Orange, Open, county), Change::Level(Some(Orange)), Escalate { from: Yellow, to: Orange, new_peak: false }),
            (at(Orange, Orange, Open, county), Change::Level(Some(Blue)), DeEscalate { from: Orange, to: Blue, state: Open }),
            (at(Orange, Orange, Open, county), Change::Level(None), Close),
            (at(Orange, Orange, Open, county), Change::Acknowledge, Acknowledge { level: Orange }),
            (at(Red, Red, Open, county), Change::Overdue, Refer { level: Red, to: Step::City, next_due: true }),
            (at(Red, Red, Open, Step::City), Change::Overdue, Refer { level: Red, to: Step::Province, next_due: false }),
            (at(Red, Red, Open, Step::Province), Change::Overdue, Refer { level: Red, to: Step::Province, next_due: false }),
            // Acknowledged: a lower level keeps the acknowledgement, a higher one needs another.
            (at(Orange, Orange, Acknowledged, county), Change::Level(Some(Yellow)), DeEscalate { from: Orange, to: Yellow, state: Acknowledged }),
            (at(Orange, Orange, Acknowledged, county), Change::Level(Some(Red)), Escalate { from: Orange, to: Red, new_peak: true }),
            (at(Orange, Orange, Acknowledged, county), Change::Level(Some(Orange)), Refresh),
            (at(Orange, Orange, Acknowledged, county), Change::Acknowledge, Ignore),
            (at(Orange, Orange, Acknowledged, county), Change::Overdue, Ignore),
            (at(Orange, Orange, Acknowledged, county), Change::Level(None), Close),
        ];
        for (current, change, expected) in table {
            assert_eq!(
                decide(*current, *change),
                *expected,
                "{current:?} + {change:?}"
            );
        }
    }
}
