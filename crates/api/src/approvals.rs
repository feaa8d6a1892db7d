//! Online approval over HTTP: what a client sends to file a request or act on one, and the
//! answers (the approvals crate's views).

use geohazard_approvals::{Action, Attachment};
pub use geohazard_approvals::{
    EventView, InstanceView, QueueCounts, RegisterRequest, Workflow, model::StepDef,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/v1/approvals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApproval {
    pub kind: String,
    pub title: String,
    pub form: Value,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `POST /api/v1/approvals/{id}/actions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAction {
    pub action: Action,
    /// The step acted on, as the caller saw it (approve, reject, return).
    pub step: Option<usize>,
    #[serde(default)]
    pub comment: String,
    /// A resubmission's changed form.
    pub form: Option<Value>,
    pub attachments: Option<Vec<Attachment>>,
}

/// `GET /api/v1/approvals` query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    /// `to_act` (default), `mine` or `all`.
    #[serde(rename = "box")]
    pub r#box: Option<String>,
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// A person's queue: counts and the requests in the box asked for.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalQueue {
    pub counts: QueueCounts,
    pub items: Vec<InstanceView>,
}

/// One request with its workflow's steps and its history.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalDetail {
    pub instance: InstanceView,
    pub steps: Vec<StepDef>,
    pub history: Vec<EventView>,
}
