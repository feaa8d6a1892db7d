//! What the engine, the kinds and the deadlines share: a workflow as the store defines it, an
//! instance as it is shown, the effects a kind gives the engine, and a form's error.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use geohazard_domain::{DivisionLevel, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

/// One step of a workflow: who acts (roles at a division level) and how long they have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDef {
    pub level: DivisionLevel,
    pub roles: Vec<Role>,
    /// Seconds from the step's start to its deadline.
    pub due_s: i64,
    /// Seconds before the deadline when the step's people are reminded.
    pub remind_before_s: i64,
    pub name_zh: String,
    pub name_en: String,
}

/// A workflow, as data (`approval_workflows`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub proposer_level: DivisionLevel,
    pub steps: Vec<StepDef>,
    /// The effect applied on final approval (a kind's name, or `none`).
    pub effect: String,
}

#[derive(sqlx::FromRow)]
struct WorkflowRow {
    kind: String,
    name_zh: String,
    name_en: String,
    proposer_level: String,
    steps: Value,
    effect: String,
}

fn decode_err(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

impl TryFrom<WorkflowRow> for Workflow {
    type Error = sqlx::Error;
    fn try_from(r: WorkflowRow) -> sqlx::Result<Workflow> {
        Ok(Workflow {
            kind: r.kind,
            name_zh: r.name_zh,
            name_en: r.name_en,
            proposer_level: r.proposer_level.parse().map_err(decode_err)?,
            steps: serde_json::from_value(r.steps).map_err(decode_err)?,
            effect: r.effect,
        })
    }
}

/// Every workflow, by kind.
pub async fn workflows(conn: &mut PgConnection) -> sqlx::Result<Vec<Workflow>> {
    let rows: Vec<WorkflowRow> = sqlx::query_as(
        "SELECT kind, name_zh, name_en, proposer_level, steps, effect
         FROM approval_workflows ORDER BY kind",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Workflow::try_from).collect()
}

/// The workflow of `kind`, if there is one.
pub async fn workflow(conn: &mut PgConnection, kind: &str) -> sqlx::Result<Option<Workflow>> {
    let row: Option<WorkflowRow> = sqlx::query_as(
        "SELECT kind, name_zh, name_en, proposer_level, steps, effect
         FROM approval_workflows WHERE kind = $1",
    )
    .bind(kind)
    .fetch_optional(conn)
    .await?;
    row.map(Workflow::try_from).transpose()
}

/// A reference to a file or a plan kept elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    #[serde(rename = "ref")]
    pub reference: String,
}

/// A form or attachment that is not right, naming the field.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FormError {
    pub field: String,
    pub message: String,
}

impl FormError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FormError {
        FormError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a kind's form check found: the site concerned (when there is one) and the form as
/// stored (normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub site_id: Option<i64>,
    pub form: Value,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the kinds give the engine: a form check within the proposer's division, and the
/// effect of a final approval, both in the engine's transaction.
pub trait Effects: Send + Sync {
    /// Checks `form` of a request of `kind` filed in `division`; the database is read to
    /// check what it names (a site, a gateway, a sensor) is there and in that division.
    fn check<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        kind: &'a str,
        division: &'a str,
        form: &'a Value,
        attachments: &'a [Attachment],
    ) -> BoxFuture<'a, Result<Result<Checked, FormError>, sqlx::Error>>;

    /// Applies `effect` of approved instance `instance` (its form); returns what it changed.
    /// An `Err` rolls the approval back.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        effect: &'a str,
        instance: i64,
        division: &'a str,
        form: &'a Value,
    ) -> BoxFuture<'a, Result<Result<Value, FormError>, sqlx::Error>>;
}

/// An instance as it is listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct InstanceView {
    pub id: i64,
    pub kind: String,
    pub kind_zh: String,
    pub kind_en: String,
    pub division_code: String,
    pub division_name: String,
    pub site_id: Option<i64>,
    pub title: String,
    pub form: Value,
    pub attachments: Value,
    pub requested_by: i64,
    pub requested_by_name: String,
    pub state: String,
    pub step: i32,
    pub steps: i32,
    /// The current step's name (`""` once closed).
    pub step_zh: String,
    pub step_en: String,
    /// The division level acting now.
    pub step_level: String,
    pub step_since: DateTime<Utc>,
    pub step_due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub effect: Option<Value>,
}

/// One entry of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub officer_id: Option<i64>,
    pub officer_name: Option<String>,
    pub action: String,
    pub step: i32,
    pub state_after: String,
    pub comment: String,
    pub detail: Value,
}

/// The columns of [`InstanceView`], over `approval_instances i` joined with its workflow `w`,
/// division `d` and proposer `o`.
pub const VIEW_COLUMNS: &str = "i.id, i.kind, w.name_zh AS kind_zh, w.name_en AS kind_en,
    i.division_code, d.name AS division_name, i.site_id, i.title, i.form, i.attachments,
    i.requested_by, coalesce(nullif(o.display_name, ''), o.username) AS requested_by_name,
    i.state, i.step, jsonb_array_length(w.steps) AS steps,
    CASE WHEN i.state IN ('pending', 'returned') THEN coalesce(w.steps -> i.step ->> 'name_zh', '') ELSE '' END AS step_zh,
    CASE WHEN i.state IN ('pending', 'returned') THEN coalesce(w.steps -> i.step ->> 'name_en', '') ELSE '' END AS step_en,
    coalesce(w.steps -> i.step ->> 'level', '') AS step_level,
    i.step_since, i.step_due_at,
    (i.state = 'pending' AND i.step_due_at IS NOT NULL AND i.step_due_at < now()) AS overdue,
    i.created_at, i.updated_at, i.closed_at, i.effect";

pub const VIEW_FROM: &str = "approval_instances i
    JOIN approval_workflows w ON w.kind = i.kind
    JOIN divisions d ON d.code = i.division_code
    JOIN officers o ON o.id = i.requested_by";
