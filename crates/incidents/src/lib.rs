//! Emergency response: incidents opened from warnings (by a person, or automatically on red,
//! once per cluster), graded by the national geohazard emergency plan, moved open → responding
//! → stabilised → closed; their timeline; field teams, the nearest available ones, the tasks
//! dispatched to them and the positions the field app reports.
//!
//! - [`decide`]: the incident's and the task's state machines as pure functions;
//! - [`incident`]: applies an incident decision in the caller's transaction (row, timeline);
//! - [`dispatch`]: teams, nearest teams with an estimated arrival, tasks (decide + persist),
//!   positions;
//! - [`view`]: what officers and field people read, always through a `Scope`;
//! - [`assignment`]: a task's assignment told to its people through `geohazard_notify`;
//! - [`field`]: rapid hazard reports with their checked photos;
//! - [`patrol`]: patrol schedules per site, patrols done on the phone, coverage.

pub mod assignment;
pub mod decide;
pub mod dispatch;
pub mod field;
pub mod incident;
pub mod patrol;
pub mod plan;
pub mod view;

pub use decide::{
    Decision, IncidentClass, IncidentStatus, TaskChange, TaskDecision, TaskStatus, decide,
    decide_task, grade,
};
