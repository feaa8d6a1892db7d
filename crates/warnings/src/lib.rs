//! The warning lifecycle, shared domain of the analyzer (which raises, changes and refers
//! warnings) and the command-center (where people acknowledge them); neither service depends on
//! the other, both stand on this.
//!
//! - [`decide`]: the state machine as a pure function of the open warning and what happened;
//! - [`Lifecycle`]: applies a decision in the database in one transaction (one open warning per
//!   site and source; the row, the transition's event with its evidence, the notifications it
//!   queues through `geohazard_notify`), and wakes the delivery worker when SMS were queued;
//! - [`WarningPolicy`] (from `geohazard_notify`): who is told by SMS and how long a warning may
//!   wait for an acknowledgement before it is referred up;
//! - [`Outbox`] and [`run_publisher`]: warning changes published on
//!   `gh/v1/warning/{division}/{site}`, off the caller's path: the one announcement of a change;
//! - [`rules`]: the four-level rule parameters stored in `analyzer_rules` and how their scopes
//!   merge (the analyzer evaluates them, the console draws their lines).

mod decide;
pub mod evidence;
mod lifecycle;
mod publish;
mod resend;
pub mod rules;
pub mod view;

pub use decide::{Change, Current, Decision, decide};
pub use evidence::Evidence;
pub use geohazard_notify::{Queued, WarningPolicy};
pub use lifecycle::{LevelChange, Lifecycle, acknowledge, as_stored, open_levels, update_forecast};
pub use publish::{Outbox, OutboxReceiver, outbox, run_publisher};
pub use resend::ForecastResend;
