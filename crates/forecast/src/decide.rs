//! The regional warning's issuing state machine as a pure function, in the warnings' shape: a
//! run makes a draft; officers may adjust the draft's levels (with a reason); a second officer,
//! one who neither ran nor adjusted it, approves, which releases it; a released warning may be
//! cancelled, or superseded by the next one released for the same day (an `Update`). Nothing
//! else moves it. The persistence ([`crate::issue`]) applies a decision in one transaction.

use serde::{Deserialize, Serialize};

geohazard_domain::closed_set!(
    /// Where a regional warning stands.
    State {
        /// Made by a run, open to review and adjustment (草稿).
        Draft => "draft",
        /// Approved and published (已发布).
        Released => "released",
        /// Replaced by a later release for the same day (已更新).
        Superseded => "superseded",
        /// Withdrawn after release (已解除).
        Cancelled => "cancelled",
        /// Dropped before release (已作废).
        Discarded => "discarded",
    }
);

/// A regional warning as far as deciding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub state: State,
    /// Officers who ran or adjusted it: none of them may approve it.
    pub prepared_by: Vec<i64>,
}

/// What an officer (or the scheduler) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Adjust {
        by: i64,
    },
    Approve {
        by: i64,
    },
    Discard {
        by: i64,
    },
    Cancel {
        by: i64,
    },
    /// A newer warning for the same day was released.
    Supersede,
}

/// Why a change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Only a draft can be adjusted, approved or discarded.
    NotDraft,
    /// The approver ran or adjusted it.
    OwnDraft,
    /// Only a released warning can be cancelled or superseded.
    NotReleased,
}

/// What to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store the new levels and the reason; the officer joins the preparers.
    Adjust,
    /// Mark approved and released, publish, notify.
    Release,
    Discard,
    /// Mark cancelled and publish a CAP `Cancel`.
    Cancel,
    Supersede,
    Refuse(Refusal),
}

/// The state machine.
pub fn decide(current: &Current, change: Change) -> Decision {
    use Decision::*;
    match (current.state, change) {
        (State::Draft, Change::Adjust { .. }) => Adjust,
        (State::Draft, Change::Approve { by }) if current.prepared_by.contains(&by) => {
            Refuse(Refusal::OwnDraft)
        }
        (State::Draft, Change::Approve { .. }) => Release,
        (State::Draft, Change::Discard { .. }) => Discard,
        (_, Change::Adjust { .. } | Change::Approve { .. } | Change::Discard { .. }) => {
            Refuse(Refusal::NotDraft)
        }
        (State::Released, Change::Cancel { .. }) => Cancel,
        (State::Released, Change::Supersede) => Supersede,
        (_, Change::Cancel { .. } | Change::Supersede) => Refuse(Refusal::NotReleased),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn the_issuing_state_machine_decides_as_the_table_says() {
        let cur = |state, prepared_by: &[i64]| Current {
            state,
            prepared_by: prepared_by.to_vec(),
        };
        #[rustfmt::skip]
        let table: Vec<(Current, Change, Decision)> = vec![
            (cur(State::Draft, &[1]), Change::Adjust { by: 2 }, Adjust),
            (cur(State::Draft, &[1]), Change::Approve { by: 1 }, Refuse(Refusal::OwnDraft)),
            (cur(State::Draft, &[1, 2]), Change::Approve { by: 2 }, Refuse(Refusal::OwnDraft)),
            (cur(State::Draft, &[1]), Change::Approve { by: 2 }, Release),
            (cur(State::Draft, &[]), Change::Approve { by: 2 }, Release),
            (cur(State::Draft, &[1]), Change::Discard { by: 1 }, Discard),
            (cur(State::Draft, &[1]), Change::Cancel { by: 2 }, Refuse(Refusal::NotReleased)),
            (cur(State::Draft, &[1]), Change::Supersede, Refuse(Refusal::NotReleased)),
            (cur(State::Released, &[1]), Change::Adjust { by: 2 }, Refuse(Refusal::NotDraft)),
            (cur(State::Released, &[1]), Change::Approve { by: 2 }, Refuse(Refusal::NotDraft)),
            (cur(State::Released, &[1]), Change::Cancel { by: 1 }, Cancel),
            (cur(State::Released, &[1]), Change::Supersede, Supersede),
            (cur(State::Cancelled, &[1]), Change::Cancel { by: 1 }, Refuse(Refusal::NotReleased)),
            (cur(State::Superseded, &[1]), Change::Approve { by: 2 }, Refuse(Refusal::NotDraft)),
            (cur(State::Discarded, &[1]), Change::Adjust { by: 2 }, Refuse(Refusal::NotDraft)),
        ];
        for (current, change, expected) in table {
            assert_eq!(
                decide(&current, change),
                expected,
                "{current:?} + {change:?}"
            );
        }
    }
}
