//! Online approval (网上审批): workflows defined as data (`approval_workflows`: who proposes,
//! the steps with the role and division level acting at each and their deadlines, what
//! approval does), an engine that knows nothing of kinds ([`engine`]: a pure
//! [`decide`](decide::decide) and persistence in one transaction), the shipped kinds
//! ([`Shipped`]: their forms and their effects on the register) and the deadlines' reminders
//! ([`deadlines`]).
//!
//! Layer 6: above `warnings`, `notify`, `audit` and `store`; it depends on no service.

pub mod deadlines;
pub mod decide;
pub mod engine;
mod kinds;
pub mod model;

pub use decide::{Action, ApprovalState, Refusal};
pub use engine::{ActRequest, Boxes, EngineError, NewRequest, QueueCounts, RegisterRequest, Who};
pub use kinds::Shipped;
pub use model::{Attachment, EventView, FormError, InstanceView, Workflow};
