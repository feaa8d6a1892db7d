//! The approval state machine as a pure function: [`decide`] takes an instance's state, who is
//! acting (as the persistence step works it out: the proposer, someone entitled to act on the
//! current step, or someone else in scope) and what they do, and says what to store or why not.
//! It knows nothing of kinds, divisions or the database.

use serde::Serialize;

geohazard_domain::closed_set!(
    /// Where an instance stands.
    ApprovalState {
        /// Waiting on its current step.
        Pending => "pending",
        /// Sent back to the proposer for changes.
        Returned => "returned",
        /// Every step approved: its effect is applied.
        Approved => "approved",
        Rejected => "rejected",
        /// The proposer took it back.
        Withdrawn => "withdrawn",
    }
);

geohazard_domain::closed_set!(
    /// What a person does to an instance.
    Action {
        Approve => "approve",
        Reject => "reject",
        /// Back to the proposer for changes.
        Return => "return",
        Comment => "comment",
        /// The proposer takes it back.
        Withdraw => "withdraw",
        /// The proposer files it again after a return (with a changed form).
        Resubmit => "resubmit",
    }
);

impl ApprovalState {
    pub fn is_open(self) -> bool {
        matches!(self, ApprovalState::Pending | ApprovalState::Returned)
    }
}

/// An instance, as far as deciding needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub state: ApprovalState,
    /// The step acting now (pending) or that returned it.
    pub step: usize,
    /// How many steps the workflow has.
    pub steps: usize,
}

/// How the person acting stands to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The one who filed it.
    Proposer,
    /// Entitled to act on the current step (role and division level).
    StepActor,
    /// In scope, but neither.
    Other,
}

/// What to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// On to the next step, whose deadline runs from now.
    Advance {
        to: usize,
    },
    /// The last step approved: the effect is applied in the same transaction.
    Complete,
    Reject,
    /// Back to the proposer; when filed again it starts over at the first step.
    Return,
    /// A remark in the history; nothing else changes.
    Comment,
    Withdraw,
    /// Filed again: the first step, deadline from now.
    Resubmit,
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum Refusal {
    #[error("the request is {0}: nothing more can be done to it")]
    Closed(ApprovalState),
    #[error("nobody approves, rejects or returns their own request")]
    OwnRequest,
    #[error("you are not the one to act on this step")]
    NotYourStep,
    /// The step named is not the current one: someone acted on it first.
    #[error("this step has already been acted on (the request is now at step {now})")]
    StaleStep { now: usize },
    #[error("only the proposer may do that")]
    NotProposer,
    #[error("the request is {0}: only a returned request can be filed again")]
    NotReturned(ApprovalState),
    #[error("the request is with the proposer for changes")]
    WithProposer,
}

/// The state machine. `at_step`: the step the actor saw and acts on (approve, reject, return);
/// a different current step means someone else acted first.
pub fn decide(
    current: Current,
    action: Action,
    actor: Actor,
    at_step: Option<usize>,
) -> Result<Decision, Refusal> {
    use Action::*;
    use ApprovalState::*;
    if !current.state.is_open() {
        return Err(Refusal::Closed(current.state));
    }
    match action {
        Comment => Ok(Decision::Comment),
        Withdraw if actor == Actor::Proposer => Ok(Decision::Withdraw),
        Withdraw => Err(Refusal::NotProposer),
        Resubmit if actor != Actor::Proposer => Err(Refusal::NotProposer),
        Resubmit if current.state == Returned => Ok(Decision::Resubmit),
        Resubmit => Err(Refusal::NotReturned(current.state)),
        Approve | Reject | Return => {
            if actor == Actor::Proposer {
                return Err(Refusal::OwnRequest);
            }
            if current.state == Returned {
                return Err(Refusal::WithProposer);
            }
            if let Some(seen) = at_step
                && seen != current.step
            {
                return Err(Refusal::StaleStep { now: current.step });
            }
            if actor != Actor::StepActor {
                return Err(Refusal::NotYourStep);
            }
            Ok(match action {
                Approve if current.step + 1 < current.steps => Decision::Advance {
                    to: current.step + 1,
                },
                Approve => Decision::Complete,
                Reject => Decision::Reject,
                _ => Decision::Return,
            })
        }
    }
}

/// The state an instance is in after a decision.
pub fn state_after(before: ApprovalState, d: Decision) -> ApprovalState {
    match d {
        Decision::Advance { .. } | Decision::Resubmit => ApprovalState::Pending,
        Decision::Complete => ApprovalState::Approved,
        Decision::Reject => ApprovalState::Rejected,
        Decision::Return => ApprovalState::Returned,
        Decision::Withdraw => ApprovalState::Withdrawn,
        Decision::Comment => before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use ApprovalState::*;

    fn at(state: ApprovalState, step: usize) -> Current {
        Current {
            state,
            step,
            steps: 2,
        }
    }

    #[test]
    fn the_approval_state_machine_decides_as_the_table_says() {
        use Actor::{Other, Proposer, StepActor};
        #[rustfmt::skip]
        type Row = (Current, Action, Actor, Option<usize>, Result<Decision, Refusal>);
        let table: &[Row] = &[
            (
                at(Pending, 0),
                Approve,
                StepActor,
                Some(0),
                Ok(Decision::Advance { to: 1 }),
            ),
            (
                at(Pending, 1),
                Approve,
                StepActor,
                Some(1),
                Ok(Decision::Complete),
            ),
            (
                at(Pending, 1),
                Approve,
                StepActor,
                None,
                Ok(Decision::Complete),
            ),
            (
                at(Pending, 0),
                Reject,
                StepActor,
                Some(0),
                Ok(Decision::Reject),
            ),
            (
                at(Pending, 1),
                Return,
                StepActor,
                Some(1),
                Ok(Decision::Return),
            ),
            // Two approvers on one step: the second names a step that is no longer current.
            (
                at(Pending, 1),
                Approve,
                StepActor,
                Some(0),
                Err(Refusal::StaleStep { now: 1 }),
            ),
            (
                at(Pending, 1),
                Approve,
                Other,
                Some(0),
                Err(Refusal::StaleStep { now: 1 }),
            ),
            (
                at(Pending, 0),
                Approve,
                Proposer,
                Some(0),
                Err(Refusal::OwnRequest),
            ),
            (
                at(Pending, 0),
                Approve,
                Other,
                Some(0),
                Err(Refusal::NotYourStep),
            ),
            (at(Pending, 0), Comment, Other, None, Ok(Decision::Comment)),
            (
                at(Pending, 0),
                Withdraw,
                Proposer,
                None,
                Ok(Decision::Withdraw),
            ),
            (
                at(Pending, 0),
                Withdraw,
                StepActor,
                None,
                Err(Refusal::NotProposer),
            ),
            (
                at(Returned, 1),
                Resubmit,
                Proposer,
                None,
                Ok(Decision::Resubmit),
            ),
            (
                at(Returned, 1),
                Approve,
                StepActor,
                Some(1),
                Err(Refusal::WithProposer),
            ),
            (
                at(Pending, 0),
                Resubmit,
                Proposer,
                None,
                Err(Refusal::NotReturned(Pending)),
            ),
            (
                at(Returned, 0),
                Resubmit,
                StepActor,
                None,
                Err(Refusal::NotProposer),
            ),
            (
                at(Approved, 1),
                Comment,
                Proposer,
                None,
                Err(Refusal::Closed(Approved)),
            ),
            (
                at(Rejected, 0),
                Approve,
                StepActor,
                Some(0),
                Err(Refusal::Closed(Rejected)),
            ),
            (
                at(Withdrawn, 0),
                Resubmit,
                Proposer,
                None,
                Err(Refusal::Closed(Withdrawn)),
            ),
        ];
        for (current, action, actor, step, expected) in table {
            assert_eq!(
                decide(*current, *action, *actor, *step),
                *expected,
                "{current:?} {action:?} by {actor:?} at {step:?}"
            );
        }
    }

    #[test]
    fn states_and_actions_round_trip_and_the_state_follows_the_decision() {
        for s in ApprovalState::ALL {
            assert_eq!(s.as_str().parse::<ApprovalState>().unwrap(), *s);
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), *a);
        }
        assert_eq!(state_after(Pending, Decision::Complete), Approved);
        assert_eq!(state_after(Returned, Decision::Comment), Returned);
        assert_eq!(state_after(Returned, Decision::Resubmit), Pending);
    }
}
