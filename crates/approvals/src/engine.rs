//! The engine: files requests and applies actions, knowing nothing of kinds. Each action locks
//! the instance, works out how the person stands to it (proposer, entitled to act on the
//! current step by role and division level, or neither), asks [`decide`] and applies the
//! decision in one transaction: the instance, its history, the kind's effect on final approval,
//! and the audit entry. Everything is read within the person's scope: an instance outside it is
//! answered exactly like one that does not exist.

use geohazard_audit::Entry;
use geohazard_domain::{AuditAction, DivisionLevel, OfficerId, Role, Scope};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use crate::decide::{
    Action, Actor, ApprovalState, Current, Decision, Refusal, decide, state_after,
};
use crate::model::{
    Attachment, Effects, EventView, FormError, InstanceView, VIEW_COLUMNS, VIEW_FROM, Workflow,
    workflow,
};

/// The person acting: a signed-in officer with their scope.
#[derive(Debug, Clone)]
pub struct Who {
    pub officer_id: i64,
    pub role: Role,
    pub division_code: String,
    pub scope: Scope,
    pub remote_addr: Option<String>,
}

/// Why the engine did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Absent, or outside the person's scope.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The state machine refused it.
    #[error("{0}")]
    Refused(Refusal),
    #[error("{0}")]
    Form(FormError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// Most attachments on one request.
pub const MAX_ATTACHMENTS: usize = 20;

/// A new request.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub kind: &'a str,
    pub title: &'a str,
    pub form: &'a Value,
    pub attachments: &'a [Attachment],
}

/// An action on a request.
#[derive(Debug, Clone)]
pub struct ActRequest<'a> {
    pub action: Action,
    /// The step the person saw and acts on (approve, reject, return).
    pub step: Option<usize>,
    pub comment: &'a str,
    /// A resubmission's changed form and attachments (else the old ones stay).
    pub form: Option<&'a Value>,
    pub attachments: Option<&'a [Attachment]>,
}

async fn level_of(conn: &mut PgConnection, division: &str) -> sqlx::Result<DivisionLevel> {
    let level: String = sqlx::query_scalar("SELECT level FROM divisions WHERE code = $1")
        .bind(division)
        .fetch_one(conn)
        .await?;
    level
        .parse()
        .map_err(|e: geohazard_domain::UnknownName| sqlx::Error::Decode(e.into()))
}

fn check_title(title: &str) -> Result<String, FormError> {
    let t = title.trim();
    let n = t.chars().count();
    if n == 0 || n > 200 {
        return Err(FormError::new("title", "must be 1 to 200 characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(FormError::new("title", "must not hold control characters"));
    }
    Ok(t.to_owned())
}

fn check_attachments(list: &[Attachment]) -> Result<(), FormError> {
    if list.len() > MAX_ATTACHMENTS {
        return Err(FormError::new(
            "attachments",
            format!("at most {MAX_ATTACHMENTS}"),
        ));
    }
    for (i, a) in list.iter().enumerate() {
        let name = a.name.trim().chars().count();
        if name == 0 || name > 200 || a.name.chars().any(char::is_control) {
            return Err(FormError::new(
                format!("attachments[{i}].name"),
                "must be 1 to 200 characters",
            ));
        }
        let r = a.reference.trim().chars().count();
        if r == 0 || r > 500 || a.reference.chars().any(char::is_control) {
            return Err(FormError::new(
                format!("attachments[{i}].ref"),
                "must be 1 to 500 characters",
            ));
        }
    }
    Ok(())
}

fn check_comment(comment: &str) -> Result<(), FormError> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(FormError::new(
            "comment",
            format!("is too long: at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn event(
    conn: &mut PgConnection,
    instance: i64,
    officer: Option<i64>,
    action: &str,
    step: usize,
    state_after: ApprovalState,
    comment: &str,
    detail: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO approval_events (instance_id, officer_id, action, step, state_after, comment, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(instance)
    .bind(officer)
    .bind(action)
    .bind(step as i32)
    .bind(state_after.as_str())
    .bind(comment)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts step `step` of `instance`: its deadline runs from now.
async fn start_step(
    conn: &mut PgConnection,
    instance: i64,
    wf: &Workflow,
    step: usize,
) -> sqlx::Result<()> {
    let due_s = wf.steps.get(step).map(|s| s.due_s).unwrap_or(0);
    sqlx::query(
        "UPDATE approval_instances SET state = 'pending', step = $2, step_since = now(),
             step_due_at = now() + make_interval(secs => $3), reminded_at = NULL,
             overdue_at = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(instance)
    .bind(step as i32)
    .bind(due_s as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// The instance `id` as shown, within `scope`.
pub async fn get(
    conn: &mut PgConnection,
    scope: &Scope,
    id: i64,
) -> sqlx::Result<Option<InstanceView>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} WHERE i.id = $1 AND i.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(scope.divisions())
    .fetch_optional(conn)
    .await
}

/// The instance's history, oldest first (the instance must be in scope: check with [`get`]).
pub async fn history(conn: &mut PgConnection, id: i64) -> sqlx::Result<Vec<EventView>> {
    sqlx::query_as(
        "SELECT e.id, e.at, e.officer_id,
                coalesce(nullif(o.display_name, ''), o.username) AS officer_name,
                e.action, e.step, e.state_after, e.comment, e.detail
         FROM approval_events e LEFT JOIN officers o ON o.id = e.officer_id
         WHERE e.instance_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Files a request in `tx` (the caller commits it, with what else belongs to the request: the
/// command-center's idempotency key): the proposer's division must be at the workflow's
/// proposer level, and the kind's form must check.
pub async fn submit(
    tx: &mut PgConnection,
    effects: &dyn Effects,
    who: &Who,
    req: &NewRequest<'_>,
) -> Result<InstanceView, EngineError> {
    let title = check_title(req.title).map_err(EngineError::Form)?;
    check_attachments(req.attachments).map_err(EngineError::Form)?;
    let wf = workflow(&mut *tx, req.kind)
        .await?
        .ok_or_else(|| EngineError::Form(FormError::new("kind", "no such kind of request")))?;
    if level_of(&mut *tx, &who.division_code).await? != wf.proposer_level {
        return Err(EngineError::Forbidden(
            "requests of this kind are filed by an officer of another division level",
        ));
    }
    let checked = effects
        .check(
            &mut *tx,
            &wf.kind,
            &who.division_code,
            req.form,
            req.attachments,
        )
        .await?
        .map_err(EngineError::Form)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO approval_instances (kind, division_code, site_id, title, form, attachments,
             requested_by, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING id",
    )
    .bind(&wf.kind)
    .bind(&who.division_code)
    .bind(checked.site_id)
    .bind(&title)
    .bind(&checked.form)
    .bind(json!(req.attachments))
    .bind(who.officer_id)
    .fetch_one(&mut *tx)
    .await?;
    start_step(&mut *tx, id, &wf, 0).await?;
    event(
        &mut *tx,
        id,
        Some(who.officer_id),
        "submit",
        0,
        ApprovalState::Pending,
        "",
        json!({"form": checked.form}),
    )
    .await?;
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(OfficerId(who.officer_id)),
            action: AuditAction::ApprovalSubmit,
            target: Some(format!("approval:{id}")),
            division_code: Some(who.division_code.clone()),
            detail: json!({"kind": wf.kind, "title": title, "before": null,
                           "after": {"state": "pending", "step": 0, "form": checked.form}}),
            remote_addr: who.remote_addr.clone(),
        },
    )
    .await?;
    let view = get(&mut *tx, &who.scope, id)
        .await?
        .ok_or(EngineError::NotFound)?;
    Ok(view)
}

#[derive(sqlx::FromRow)]
struct Locked {
    kind: String,
    division_code: String,
    requested_by: i64,
    state: String,
    step: i32,
    form: Value,
}

/// Applies an action by `who` to instance `id`.
pub async fn act(
    pool: &PgPool,
    effects: &dyn Effects,
    who: &Who,
    id: i64,
    req: &ActRequest<'_>,
) -> Result<InstanceView, EngineError> {
    check_comment(req.comment).map_err(EngineError::Form)?;
    if matches!(req.action, Action::Reject | Action::Return) && req.comment.trim().is_empty() {
        return Err(EngineError::Form(FormError::new(
            "comment",
            "say why: a rejection or a return needs a comment",
        )));
    }
    if req.action == Action::Comment && req.comment.trim().is_empty() {
        return Err(EngineError::Form(FormError::new("comment", "is empty")));
    }
    if let Some(list) = req.attachments {
        check_attachments(list).map_err(EngineError::Form)?;
    }
    let mut tx = pool.begin().await?;
    let locked: Locked = sqlx::query_as(
        "SELECT kind, division_code, requested_by, state, step, form FROM approval_instances
         WHERE id = $1 AND division_code = ANY($2) FOR UPDATE",
    )
    .bind(id)
    .bind(who.scope.divisions())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(EngineError::NotFound)?;
    let wf = workflow(&mut tx, &locked.kind)
        .await?
        .ok_or(EngineError::NotFound)?;
    let state: ApprovalState = locked
        .state
        .parse()
        .map_err(|e: geohazard_domain::UnknownName| sqlx::Error::Decode(e.into()))?;
    let step = locked.step as usize;
    let my_level = level_of(&mut tx, &who.division_code).await?;
    let actor = if locked.requested_by == who.officer_id {
        Actor::Proposer
    } else if wf
        .steps
        .get(step)
        .is_some_and(|s| s.level == my_level && s.roles.contains(&who.role))
    {
        Actor::StepActor
    } else {
        Actor::Other
    };
    let current = Current {
        state,
        step,
        steps: wf.steps.len(),
    };
    let decision = decide(current, req.action, actor, req.step).map_err(EngineError::Refused)?;
    let after = state_after(state, decision);
    let mut detail = json!({});
    match decision {
        Decision::Advance { to } => start_step(&mut tx, id, &wf, to).await?,
        Decision::Resubmit => {
            let form = req.form.unwrap_or(&locked.form);
            let attachments: Vec<Attachment> = match req.attachments {
                Some(a) => a.to_vec(),
                None => {
                    let v: Value = sqlx::query_scalar(
                        "SELECT attachments FROM approval_instances WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    serde_json::from_value(v).unwrap_or_default()
                }
            };
            // Checked again as if new: the request it is now must stand on its own (its own
            // earlier filing does not count as a competing request).
            sqlx::query("UPDATE approval_instances SET state = 'withdrawn' WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let checked = effects
                .check(&mut tx, &wf.kind, &locked.division_code, form, &attachments)
                .await?
                .map_err(EngineError::Form)?;
            sqlx::query(
                "UPDATE approval_instances SET form = $2, attachments = $3, site_id = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(&checked.form)
            .bind(json!(attachments))
            .bind(checked.site_id)
            .execute(&mut *tx)
            .await?;
            start_step(&mut tx, id, &wf, 0).await?;
            detail = json!({"form": checked.form});
        }
        Decision::Complete => {
            let effect = effects
                .apply(&mut tx, &wf.effect, id, &locked.division_code, &locked.form)
                .await?
                .map_err(EngineError::Form)?;
            sqlx::query(
                "UPDATE approval_instances SET state = 'approved', closed_at = now(), updated_at = now(),
                     effect = $2, step_due_at = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(&effect)
            .execute(&mut *tx)
            .await?;
            detail = json!({"effect": effect});
        }
        Decision::Reject | Decision::Withdraw => {
            sqlx::query(
                "UPDATE approval_instances SET state = $2, closed_at = now(), updated_at = now(),
                     step_due_at = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(after.as_str())
            .execute(&mut *tx)
            .await?;
        }
        Decision::Return => {
            sqlx::query(
                "UPDATE approval_instances SET state = 'returned', updated_at = now(),
                     step_due_at = NULL WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Decision::Comment => {}
    }
    event(
        &mut tx,
        id,
        Some(who.officer_id),
        req.action.as_str(),
        step,
        after,
        req.comment.trim(),
        detail.clone(),
    )
    .await?;
    geohazard_audit::record(
        &mut *tx,
        &Entry {
            officer_id: Some(OfficerId(who.officer_id)),
            action: AuditAction::ApprovalAct,
            target: Some(format!("approval:{id}")),
            division_code: Some(locked.division_code.clone()),
            detail: json!({"action": req.action.as_str(), "comment": req.comment.trim(),
                           "before": {"state": state.as_str(), "step": step},
                           "after": {"state": after.as_str(), "detail": detail}}),
            remote_addr: who.remote_addr.clone(),
        },
    )
    .await?;
    let view = get(&mut tx, &who.scope, id)
        .await?
        .ok_or(EngineError::NotFound)?;
    tx.commit().await?;
    Ok(view)
}

/// Which requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boxes {
    /// Waiting on the person: the current step is theirs to act on.
    ToAct,
    /// Filed by the person and still open (pending or returned to them).
    Mine,
    /// Everything in scope.
    All,
}

/// Counts of a person's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct QueueCounts {
    /// Waiting on them.
    pub to_act: i64,
    /// Of those, past their deadline.
    pub overdue: i64,
    /// Their own requests returned to them for changes.
    pub returned: i64,
    /// Their own requests pending with someone else.
    pub mine_pending: i64,
}

/// The condition: the current step is `who`'s to act on (`$3` level, `$4` role, `$5` officer).
const TO_ACT: &str = "i.state = 'pending' AND w.steps -> i.step ->> 'level' = $3
    AND (w.steps -> i.step -> 'roles') ? $4 AND i.requested_by <> $5";

/// Requests in `who`'s scope, newest change first.
pub async fn list(
    pool: &PgPool,
    who: &Who,
    boxes: Boxes,
    state: Option<ApprovalState>,
    limit: i64,
) -> sqlx::Result<Vec<InstanceView>> {
    let mut conn = pool.acquire().await?;
    let level = level_of(&mut conn, &who.division_code).await?;
    let filter = match boxes {
        Boxes::ToAct => TO_ACT.to_owned(),
        Boxes::Mine => "i.requested_by = $5 AND i.state IN ('pending', 'returned')".to_owned(),
        Boxes::All => "($3 IS NOT NULL AND $4 IS NOT NULL AND $5 IS NOT NULL)".to_owned(),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM}
         WHERE i.division_code = ANY($1) AND ($2::text IS NULL OR i.state = $2) AND {filter}
         ORDER BY i.updated_at DESC, i.id DESC LIMIT $6"
    )))
    .bind(who.scope.divisions())
    .bind(state.map(ApprovalState::as_str))
    .bind(level.as_str())
    .bind(who.role.as_str())
    .bind(who.officer_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The counts of `who`'s queue.
pub async fn counts(pool: &PgPool, who: &Who) -> sqlx::Result<QueueCounts> {
    let mut conn = pool.acquire().await?;
    let level = level_of(&mut conn, &who.division_code).await?;
    let (to_act, overdue, returned, mine_pending): (i64, i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FILTER (WHERE {TO_ACT}),
                    count(*) FILTER (WHERE {TO_ACT} AND i.step_due_at < now()),
                    count(*) FILTER (WHERE i.requested_by = $5 AND i.state = 'returned'),
                    count(*) FILTER (WHERE i.requested_by = $5 AND i.state = 'pending')
             FROM approval_instances i JOIN approval_workflows w ON w.kind = i.kind
             WHERE i.division_code = ANY($1) AND $2::int IS NULL"
        )))
        .bind(who.scope.divisions())
        .bind(None::<i32>)
        .bind(level.as_str())
        .bind(who.role.as_str())
        .bind(who.officer_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(QueueCounts {
        to_act,
        overdue,
        returned,
        mine_pending,
    })
}

/// A request that will change the register once approved, as the register shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RegisterRequest {
    pub approval_id: i64,
    pub kind: String,
    pub state: String,
    pub division_code: String,
    pub site_code: Option<String>,
    pub site_name: Option<String>,
    pub site_id: Option<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Open requests to register or retire sites in `scope`: the register shows them as pending.
pub async fn register_requests(pool: &PgPool, scope: &Scope) -> sqlx::Result<Vec<RegisterRequest>> {
    sqlx::query_as(
        "SELECT approval_id, kind, state, division_code, site_code, site_name, site_id, created_at
         FROM hazard_site_requests WHERE division_code = ANY($1) ORDER BY approval_id",
    )
    .bind(scope.divisions())
    .fetch_all(pool)
    .await
}
