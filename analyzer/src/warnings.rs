//! The warning state machine in the database: one open warning per site and source; raised,
//! escalated, de-escalated, acknowledged, referred, closed; every transition stored with its
//! evidence and actor, announced with NOTIFY `warnings`, and notifications queued in the same
//! transaction.

use chrono::{DateTime, Utc};
use geohazard_protocol::warning::{
    Warning, WarningCategory, WarningLevel, WarningState, WarningTransition,
};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use crate::config::NotifierConfig;
use crate::notifier;

/// A source's new level as the engine decided it.
#[derive(Debug, Clone)]
pub struct LevelChange {
    pub site_id: i64,
    pub source: String,
    pub category: WarningCategory,
    pub sensor_id: Option<i32>,
    /// `None`: the condition is over.
    pub level: Option<WarningLevel>,
    pub summary: String,
    pub evidence: Value,
    pub reading_ts: Option<DateTime<Utc>>,
    pub failure_forecast: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    site: String,
    division: String,
    source: String,
    category: String,
    level: String,
    state: String,
    summary: String,
    evidence: Value,
    reading_ts: Option<DateTime<Utc>>,
    failure_forecast_at: Option<DateTime<Utc>>,
}

const RETURNING: &str = "w.id, h.code AS site, h.division_code AS division, w.source, w.category,
    w.level, w.state, w.summary, w.evidence, w.reading_ts, w.failure_forecast_at";

async fn load(conn: &mut PgConnection, id: i64) -> sqlx::Result<Row> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RETURNING} FROM warnings w JOIN hazard_sites h ON h.id = w.site_id WHERE w.id = $1"
    )))
    .bind(id)
    .fetch_one(conn)
    .await
}

fn to_message(r: Row, transition: WarningTransition, evidence: Option<Value>) -> Warning {
    Warning {
        id: r.id,
        site: r.site,
        division: r.division,
        source: r.source,
        category: if r.category == "device" {
            WarningCategory::Device
        } else {
            WarningCategory::Hazard
        },
        level: r.level.parse().unwrap_or(WarningLevel::Blue),
        state: r.state.parse().unwrap_or(WarningState::Open),
        transition,
        at: Utc::now().timestamp_millis(),
        reading_ts: r.reading_ts.map(|t| t.timestamp_millis()),
        failure_forecast_ts: r.failure_forecast_at.map(|t| t.timestamp_millis()),
        summary: r.summary,
        evidence: evidence.unwrap_or(r.evidence),
    }
}

async fn event(
    conn: &mut PgConnection,
    warning_id: i64,
    transition: WarningTransition,
    from: Option<&str>,
    to: Option<&str>,
    person: Option<i64>,
    evidence: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO warning_events (warning_id, transition, from_level, to_level, actor, person_id, evidence)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(warning_id)
    .bind(transition.as_str())
    .bind(from)
    .bind(to)
    .bind(if person.is_some() { "person" } else { "analyzer" })
    .bind(person)
    .bind(evidence)
    .execute(conn)
    .await?;
    Ok(())
}

async fn notify(conn: &mut PgConnection, w: &Warning) -> sqlx::Result<()> {
    // NOTIFY payloads are limited to 8000 bytes: the console fetches evidence by id.
    let payload = json!({"id": w.id, "site": w.site, "division": w.division, "source": w.source,
        "category": w.category, "level": w.level, "state": w.state, "transition": w.transition,
        "summary": w.summary.chars().take(500).collect::<String>(), "at": w.at});
    sqlx::query("SELECT pg_notify('warnings', $1)")
        .bind(payload.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn due(
    cfg: &NotifierConfig,
    level: WarningLevel,
    category: WarningCategory,
) -> Option<DateTime<Utc>> {
    if category == WarningCategory::Device {
        return None;
    }
    cfg.ack_deadlines
        .get(level)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d)
}

/// Applies a level change. Returns the message to publish, if the change is a transition
/// (a repeated crossing at the same level only refreshes the evidence).
pub async fn apply(
    pool: &PgPool,
    cfg: &NotifierConfig,
    change: &LevelChange,
) -> anyhow::Result<Option<Warning>> {
    let mut tx = pool.begin().await?;
    let open: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, level, state FROM warnings WHERE site_id = $1 AND source = $2 AND state <> 'closed'
         FOR UPDATE",
    )
    .bind(change.site_id)
    .bind(&change.source)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, transition) = match (open, change.level) {
        (None, None) => return Ok(None),
        (None, Some(level)) => {
            // ON CONFLICT: another analyzer of a shared group may have raised it a moment ago.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO warnings (site_id, source, category, sensor_id, level, peak_level, state,
                     summary, evidence, reading_ts, failure_forecast_at, escalation_due_at)
                 VALUES ($1, $2, $3, $4, $5, $5, 'open', $6, $7, $8, $9, $10)
                 ON CONFLICT (site_id, source) WHERE state <> 'closed' DO NOTHING
                 RETURNING id",
            )
            .bind(change.site_id)
            .bind(&change.source)
            .bind(change.category.as_str())
            .bind(change.sensor_id)
            .bind(level.as_str())
            .bind(&change.summary)
            .bind(&change.evidence)
            .bind(change.reading_ts)
            .bind(change.failure_forecast)
            .bind(due(cfg, level, change.category))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                tx.rollback().await?;
                return Ok(None);
            };
            event(
                &mut tx,
                id,
                WarningTransition::Raised,
                None,
                Some(level.as_str()),
                None,
                &change.evidence,
            )
            .await?;
            (id, WarningTransition::Raised)
        }
        (Some((id, _, _)), None) => {
            sqlx::query(
                "UPDATE warnings SET state = 'closed', closed_at = now(), updated_at = now(),
                     escalation_due_at = NULL, summary = $2, evidence = $3, reading_ts = $4
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&change.summary)
            .bind(&change.evidence)
            .bind(change.reading_ts)
            .execute(&mut *tx)
            .await?;
            event(
                &mut tx,
                id,
                WarningTransition::Closed,
                None,
                None,
                None,
                &change.evidence,
            )
            .await?;
            (id, WarningTransition::Closed)
        }
        (Some((id, old, state)), Some(level)) => {
            let old_level: WarningLevel = old.parse().unwrap_or(WarningLevel::Blue);
            if level == old_level {
                sqlx::query(
                    "UPDATE warnings SET crossings = crossings + 1, updated_at = now(), summary = $2,
                         evidence = $3, reading_ts = $4,
                         failure_forecast_at = COALESCE($5, failure_forecast_at)
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&change.summary)
                .bind(&change.evidence)
                .bind(change.reading_ts)
                .bind(change.failure_forecast)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(None);
            }
            let up = level > old_level;
            // A higher level needs a new acknowledgement; its deadline runs from now.
            let (new_state, new_due) = if up {
                ("open", due(cfg, level, change.category))
            } else if state == "acknowledged" {
                ("acknowledged", None)
            } else {
                ("open", None)
            };
            sqlx::query(
                "UPDATE warnings SET level = $2,
                     peak_level = CASE WHEN $10 THEN $2 ELSE peak_level END,
                     state = $3, updated_at = now(), summary = $4, evidence = $5, reading_ts = $6,
                     failure_forecast_at = COALESCE($8, failure_forecast_at), crossings = crossings + 1,
                     escalation_due_at = CASE WHEN $7 THEN $9 ELSE escalation_due_at END,
                     acknowledged_at = CASE WHEN $7 THEN NULL ELSE acknowledged_at END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(level.as_str())
            .bind(new_state)
            .bind(&change.summary)
            .bind(&change.evidence)
            .bind(change.reading_ts)
            .bind(up)
            .bind(change.failure_forecast)
            .bind(new_due)
            .bind(level.rank() > peak_rank(&mut tx, id).await?)
            .execute(&mut *tx)
            .await?;
            let t = if up {
                WarningTransition::Escalated
            } else {
                WarningTransition::DeEscalated
            };
            event(
                &mut tx,
                id,
                t,
                Some(&old),
                Some(level.as_str()),
                None,
                &change.evidence,
            )
            .await?;
            (id, t)
        }
    };
    let row = load(&mut tx, id).await?;
    let msg = to_message(row, transition, None);
    notify(&mut tx, &msg).await?;
    if matches!(
        transition,
        WarningTransition::Raised | WarningTransition::Escalated
    ) {
        notifier::enqueue_for_level(&mut tx, cfg, &msg).await?;
    }
    tx.commit().await?;
    Ok(Some(msg))
}

/// The level holds and its failure forecast moved: the open warning of (site, source) takes the
/// new forecast, summary and evidence, with a `forecast_updated` event, announced like any
/// transition (no notification: the level did not change). `None` when no warning is open.
pub async fn update_forecast(
    pool: &PgPool,
    change: &LevelChange,
) -> anyhow::Result<Option<Warning>> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE warnings SET failure_forecast_at = $3, summary = $4, evidence = $5, reading_ts = $6,
             updated_at = now()
         WHERE site_id = $1 AND source = $2 AND state <> 'closed' RETURNING id",
    )
    .bind(change.site_id)
    .bind(&change.source)
    .bind(change.failure_forecast)
    .bind(&change.summary)
    .bind(&change.evidence)
    .bind(change.reading_ts)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(None);
    };
    let level = change.level.map(|l| l.as_str());
    event(
        &mut tx,
        id,
        WarningTransition::ForecastUpdated,
        level,
        level,
        None,
        &change.evidence,
    )
    .await?;
    let row = load(&mut tx, id).await?;
    let msg = to_message(row, WarningTransition::ForecastUpdated, None);
    notify(&mut tx, &msg).await?;
    tx.commit().await?;
    Ok(Some(msg))
}

async fn peak_rank(conn: &mut PgConnection, id: i64) -> sqlx::Result<usize> {
    let peak: String = sqlx::query_scalar("SELECT peak_level FROM warnings WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(peak.parse::<WarningLevel>().map(|l| l.rank()).unwrap_or(0))
}

/// A person acknowledges a warning: no more referrals until its level rises again. The note, if
/// any, is kept in the transition's evidence. Runs in the caller's transaction, so whatever the
/// caller records beside it (the command-center's audit entry) commits or fails with it.
pub async fn acknowledge(
    conn: &mut PgConnection,
    warning_id: i64,
    person_id: i64,
    note: Option<&str>,
) -> anyhow::Result<Option<Warning>> {
    let level: Option<String> = sqlx::query_scalar(
        "UPDATE warnings SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2,
             escalation_due_at = NULL, updated_at = now()
         WHERE id = $1 AND state = 'open'
         RETURNING level",
    )
    .bind(warning_id)
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(level) = level else {
        return Ok(None);
    };
    let evidence = match note {
        Some(note) if !note.is_empty() => json!({ "note": note }),
        _ => json!({}),
    };
    event(
        conn,
        warning_id,
        WarningTransition::Acknowledged,
        Some(&level),
        Some(&level),
        Some(person_id),
        &evidence,
    )
    .await?;
    let msg = to_message(
        load(conn, warning_id).await?,
        WarningTransition::Acknowledged,
        None,
    );
    notify(conn, &msg).await?;
    Ok(Some(msg))
}

/// Refers every open warning whose acknowledgement deadline has passed to the next level's duty
/// roster (county → city → province). Returns the messages to publish.
pub async fn refer_overdue(pool: &PgPool, cfg: &NotifierConfig) -> anyhow::Result<Vec<Warning>> {
    let mut out = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        let next: Option<(i64, i32, String)> = sqlx::query_as(
            "SELECT id, escalation_step, level FROM warnings
             WHERE state = 'open' AND escalation_due_at <= now()
             ORDER BY escalation_due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, step, level)) = next else { break };
        let step = step + 1;
        let lvl: WarningLevel = level.parse().unwrap_or(WarningLevel::Red);
        let next_due = if step < 2 {
            due(cfg, lvl, WarningCategory::Hazard)
        } else {
            None
        };
        sqlx::query(
            "UPDATE warnings SET escalation_step = $2, escalation_due_at = $3, updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(step.min(2))
        .bind(next_due)
        .execute(&mut *tx)
        .await?;
        let to = match step {
            1 => "city",
            _ => "province",
        };
        let ev = json!({"referred_to": to, "step": step, "reason": "not acknowledged in time"});
        event(
            &mut tx,
            id,
            WarningTransition::Referred,
            Some(&level),
            Some(&level),
            None,
            &ev,
        )
        .await?;
        let msg = to_message(
            load(&mut tx, id).await?,
            WarningTransition::Referred,
            Some(ev),
        );
        notify(&mut tx, &msg).await?;
        notifier::enqueue_for_step(&mut tx, cfg, &msg, step.min(2) as u8).await?;
        tx.commit().await?;
        out.push(msg);
    }
    Ok(out)
}

/// The open warnings' levels by (site, source), so a restarted analyzer continues them instead
/// of raising them again.
pub async fn open_levels(pool: &PgPool) -> sqlx::Result<Vec<(i64, String, WarningLevel)>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT site_id, source, level FROM warnings WHERE state <> 'closed'")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, src, l)| l.parse().ok().map(|l| (s, src, l)))
        .collect())
}
