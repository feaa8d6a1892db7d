//! The warning lifecycle, shared domain of the analyzer (which raises, changes and refers
//! warnings) and the command-center (where people acknowledge them); neither service depends on
//! the other, both stand on this.
//!
//! - [`Lifecycle`]: the state machine in the database (one open warning per site and source;
//!   raised, escalated, de-escalated, acknowledged, referred, closed), every transition stored
//!   with its evidence and announced with NOTIFY `warnings`, notifications queued in the same
//!   transaction, and a [`SmsQueued`] handle that wakes whoever delivers them;
//! - [`WarningPolicy`]: who is told by SMS and how long a warning may wait for an acknowledgement
//!   before it is referred up;
//! - [`Outbox`] and [`run_publisher`]: warning changes published on
//!   `gh/v1/warning/{division}/{site}`, off the caller's path;
//! - [`rules`]: the four-level rule parameters stored in `analyzer_rules` and how their scopes
//!   merge (the analyzer evaluates them, the console draws their lines).

mod lifecycle;
mod policy;
mod publish;
mod queue;
pub mod rules;
pub mod view;

pub use lifecycle::{LevelChange, Lifecycle, acknowledge, open_levels, update_forecast};
pub use policy::{AckDeadlines, WarningPolicy};
pub use publish::{Outbox, OutboxReceiver, outbox, run_publisher};
pub use queue::SmsQueued;
