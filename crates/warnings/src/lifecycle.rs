//! The warning state machine in the database: one open warning per site and source; raised,
//! escalated, de-escalated, acknowledged, referred, closed; every transition stored with its
//! evidence and actor, announced with NOTIFY `warnings`, and notifications queued in the same
//! transaction. Columns are decoded strictly: a level, state or category the code does not know
//! is an error, never a guess.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geohazard_domain::{PersonId, WarningId};
use geohazard_protocol::warning::{
    Summary, UnknownName, Warning, WarningCategory, WarningLevel, WarningSource, WarningState,
    WarningTransition,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::policy::WarningPolicy;
use crate::queue::{self, SmsQueued, Step};

/// A source's new level as the analyzer decided it.
#[derive(Debug, Clone)]
pub struct LevelChange {
    pub site_id: i64,
    pub source: WarningSource,
    pub sensor_id: Option<i32>,
    /// `None`: the condition is over.
    pub level: Option<WarningLevel>,
    pub summary: Summary,
    /// What the rule saw (the analyzer's typed evidence, serialized), stored with the warning
    /// and its transition and published with it.
    pub evidence: Value,
    pub reading_ts: Option<DateTime<Utc>>,
    pub failure_forecast: Option<DateTime<Utc>>,
}

/// The lifecycle with its policy, and the signal it gives when it queued SMS. Clones share both.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    policy: Arc<WarningPolicy>,
    sms_queued: SmsQueued,
}

/// A column value the code does not know, as sqlx reports decoding failures.
fn decode<T: FromStr<Err = UnknownName>>(s: &str) -> sqlx::Result<T> {
    s.parse()
        .map_err(|e: UnknownName| sqlx::Error::Decode(e.into()))
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
    summary_zh: String,
    evidence: Value,
    reading_ts: Option<DateTime<Utc>>,
    failure_forecast_at: Option<DateTime<Utc>>,
}

const RETURNING: &str = "w.id, h.code AS site, h.division_code AS division, w.source, w.category,
    w.level, w.state, w.summary, w.summary_zh, w.evidence, w.reading_ts, w.failure_forecast_at";

async fn load(conn: &mut PgConnection, id: i64) -> sqlx::Result<Row> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RETURNING} FROM warnings w JOIN hazard_sites h ON h.id = w.site_id WHERE w.id = $1"
    )))
    .bind(id)
    .fetch_one(conn)
    .await
}

fn to_message(
    r: Row,
    transition: WarningTransition,
    evidence: Option<Value>,
) -> sqlx::Result<Warning> {
    Ok(Warning {
        id: r.id,
        site: r.site,
        division: r.division,
        source: r.source,
        category: decode(&r.category)?,
        level: decode(&r.level)?,
        state: decode(&r.state)?,
        transition,
        at: Utc::now().timestamp_millis(),
        reading_ts: r.reading_ts.map(|t| t.timestamp_millis()),
        failure_forecast_ts: r.failure_forecast_at.map(|t| t.timestamp_millis()),
        summary: r.summary,
        summary_zh: r.summary_zh,
        evidence: evidence.unwrap_or(r.evidence),
    })
}

/// Who made a transition: the analyzer, or a person.
fn actor(person: Option<i64>) -> &'static str {
    if person.is_some() {
        "person"
    } else {
        "analyzer"
    }
}

/// One row of `warning_events`.
struct Event<'a> {
    warning_id: i64,
    transition: WarningTransition,
    from: Option<WarningLevel>,
    to: Option<WarningLevel>,
    person: Option<i64>,
    evidence: &'a Value,
}

async fn event(conn: &mut PgConnection, e: Event<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO warning_events (warning_id, transition, from_level, to_level, actor, person_id, evidence)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.warning_id)
    .bind(e.transition.as_str())
    .bind(e.from.map(WarningLevel::as_str))
    .bind(e.to.map(WarningLevel::as_str))
    .bind(actor(e.person))
    .bind(e.person)
    .bind(e.evidence)
    .execute(conn)
    .await?;
    Ok(())
}

/// The `warnings` NOTIFY payload. NOTIFY payloads are limited to 8000 bytes: the console
/// fetches evidence by id.
#[derive(Serialize)]
struct Announcement<'a> {
    id: i64,
    site: &'a str,
    division: &'a str,
    source: &'a str,
    category: WarningCategory,
    level: WarningLevel,
    state: WarningState,
    transition: WarningTransition,
    summary: String,
    summary_zh: String,
    at: i64,
}

async fn notify(conn: &mut PgConnection, w: &Warning) -> sqlx::Result<()> {
    let payload = Announcement {
        id: w.id,
        site: &w.site,
        division: &w.division,
        source: &w.source,
        category: w.category,
        level: w.level,
        state: w.state,
        transition: w.transition,
        summary: w.summary.chars().take(500).collect(),
        summary_zh: w.summary_zh.chars().take(500).collect(),
        at: w.at,
    };
    sqlx::query("SELECT pg_notify('warnings', $1)")
        .bind(serde_json::to_string(&payload).expect("an announcement serializes"))
        .execute(conn)
        .await?;
    Ok(())
}

/// A person's acknowledgement note, kept in the transition's evidence.
#[derive(Serialize)]
struct Note<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// Why and where a warning was referred, the referral's evidence.
#[derive(Serialize)]
struct Referral {
    referred_to: &'static str,
    step: i32,
    reason: &'static str,
}

impl Lifecycle {
    pub fn new(policy: WarningPolicy) -> Lifecycle {
        Lifecycle {
            policy: Arc::new(policy),
            sms_queued: SmsQueued::default(),
        }
    }

    pub fn policy(&self) -> &WarningPolicy {
        &self.policy
    }

    /// The signal given after a transaction that queued SMS committed; the SMS outbox waits on
    /// it.
    pub fn sms_queued(&self) -> SmsQueued {
        self.sms_queued.clone()
    }

    /// When the acknowledgement of a new level is due; device faults are never referred.
    fn due(&self, level: WarningLevel, category: WarningCategory) -> Option<DateTime<Utc>> {
        if category == WarningCategory::Device {
            return None;
        }
        self.policy
            .ack_deadlines
            .get(level)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d)
    }

    /// Applies a level change. Returns the message to publish, if the change is a transition
    /// (a repeated crossing at the same level only refreshes the evidence).
    pub async fn apply(
        &self,
        pool: &PgPool,
        change: &LevelChange,
    ) -> sqlx::Result<Option<Warning>> {
        let category = change.source.category();
        let source = change.source.to_string();
        let mut tx = pool.begin().await?;
        let open: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT id, level, state FROM warnings WHERE site_id = $1 AND source = $2 AND state <> 'closed'
             FOR UPDATE",
        )
        .bind(change.site_id)
        .bind(&source)
        .fetch_optional(&mut *tx)
        .await?;
        let open = match open {
            Some((id, level, state)) => Some((
                id,
                decode::<WarningLevel>(&level)?,
                decode::<WarningState>(&state)?,
            )),
            None => None,
        };
        let (id, transition) = match (open, change.level) {
            (None, None) => return Ok(None),
            (None, Some(level)) => {
                // ON CONFLICT: another analyzer of a shared group may have raised it a moment ago.
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO warnings (site_id, source, category, sensor_id, level, peak_level, state,
                         summary, evidence, reading_ts, failure_forecast_at, escalation_due_at, summary_zh)
                     VALUES ($1, $2, $3, $4, $5, $5, 'open', $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (site_id, source) WHERE state <> 'closed' DO NOTHING
                     RETURNING id",
                )
                .bind(change.site_id)
                .bind(&source)
                .bind(category.as_str())
                .bind(change.sensor_id)
                .bind(level.as_str())
                .bind(&change.summary.en)
                .bind(&change.evidence)
                .bind(change.reading_ts)
                .bind(change.failure_forecast)
                .bind(self.due(level, category))
                .bind(&change.summary.zh)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(id) = id else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                event(
                    &mut tx,
                    Event {
                        warning_id: id,
                        transition: WarningTransition::Raised,
                        from: None,
                        to: Some(level),
                        person: None,
                        evidence: &change.evidence,
                    },
                )
                .await?;
                (id, WarningTransition::Raised)
            }
            (Some((id, _, _)), None) => {
                sqlx::query(
                    "UPDATE warnings SET state = 'closed', closed_at = now(), updated_at = now(),
                         escalation_due_at = NULL, summary = $2, evidence = $3, reading_ts = $4,
                         summary_zh = $5
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&change.summary.en)
                .bind(&change.evidence)
                .bind(change.reading_ts)
                .bind(&change.summary.zh)
                .execute(&mut *tx)
                .await?;
                event(
                    &mut tx,
                    Event {
                        warning_id: id,
                        transition: WarningTransition::Closed,
                        from: None,
                        to: None,
                        person: None,
                        evidence: &change.evidence,
                    },
                )
                .await?;
                (id, WarningTransition::Closed)
            }
            (Some((id, old_level, state)), Some(level)) => {
                if level == old_level {
                    sqlx::query(
                        "UPDATE warnings SET crossings = crossings + 1, updated_at = now(), summary = $2,
                             evidence = $3, reading_ts = $4,
                             failure_forecast_at = COALESCE($5, failure_forecast_at), summary_zh = $6
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&change.summary.en)
                    .bind(&change.evidence)
                    .bind(change.reading_ts)
                    .bind(change.failure_forecast)
                    .bind(&change.summary.zh)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                let up = level > old_level;
                // A higher level needs a new acknowledgement; its deadline runs from now.
                let (new_state, new_due) = if up {
                    (WarningState::Open, self.due(level, category))
                } else if state == WarningState::Acknowledged {
                    (WarningState::Acknowledged, None)
                } else {
                    (WarningState::Open, None)
                };
                let new_peak = level > peak_level(&mut tx, id).await?;
                sqlx::query(
                    "UPDATE warnings SET level = $2,
                         peak_level = CASE WHEN $10 THEN $2 ELSE peak_level END,
                         state = $3, updated_at = now(), summary = $4, evidence = $5, reading_ts = $6,
                         failure_forecast_at = COALESCE($8, failure_forecast_at), crossings = crossings + 1,
                         escalation_due_at = CASE WHEN $7 THEN $9 ELSE escalation_due_at END,
                         acknowledged_at = CASE WHEN $7 THEN NULL ELSE acknowledged_at END,
                         summary_zh = $11
                     WHERE id = $1",
                )
                .bind(id)
                .bind(level.as_str())
                .bind(new_state.as_str())
                .bind(&change.summary.en)
                .bind(&change.evidence)
                .bind(change.reading_ts)
                .bind(up)
                .bind(change.failure_forecast)
                .bind(new_due)
                .bind(new_peak)
                .bind(&change.summary.zh)
                .execute(&mut *tx)
                .await?;
                let t = if up {
                    WarningTransition::Escalated
                } else {
                    WarningTransition::DeEscalated
                };
                event(
                    &mut tx,
                    Event {
                        warning_id: id,
                        transition: t,
                        from: Some(old_level),
                        to: Some(level),
                        person: None,
                        evidence: &change.evidence,
                    },
                )
                .await?;
                (id, t)
            }
        };
        let msg = to_message(load(&mut tx, id).await?, transition, None)?;
        notify(&mut tx, &msg).await?;
        let queued = match transition {
            WarningTransition::Raised | WarningTransition::Escalated => {
                queue::enqueue_for_level(&mut tx, &self.policy, &msg).await?
            }
            _ => false,
        };
        tx.commit().await?;
        if queued {
            self.sms_queued.signal();
        }
        Ok(Some(msg))
    }

    /// Refers every open warning whose acknowledgement deadline has passed to the next level's
    /// duty roster (county → city → province). Returns the messages to publish.
    pub async fn refer_overdue(&self, pool: &PgPool) -> sqlx::Result<Vec<Warning>> {
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
            let level: WarningLevel = decode(&level)?;
            // A warning already at the province is told there again, and nothing is due after.
            let to = Step::from_column(step)?.next().unwrap_or(Step::Province);
            let next_due = match to.next() {
                Some(_) => self.due(level, WarningCategory::Hazard),
                None => None,
            };
            sqlx::query(
                "UPDATE warnings SET escalation_step = $2, escalation_due_at = $3, updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(to.column())
            .bind(next_due)
            .execute(&mut *tx)
            .await?;
            let ev = serde_json::to_value(Referral {
                referred_to: to.division_level(),
                step: to.column(),
                reason: "not acknowledged in time",
            })
            .expect("a referral serializes");
            event(
                &mut tx,
                Event {
                    warning_id: id,
                    transition: WarningTransition::Referred,
                    from: Some(level),
                    to: Some(level),
                    person: None,
                    evidence: &ev,
                },
            )
            .await?;
            let msg = to_message(
                load(&mut tx, id).await?,
                WarningTransition::Referred,
                Some(ev),
            )?;
            notify(&mut tx, &msg).await?;
            let queued = queue::enqueue_for_step(&mut tx, &self.policy, &msg, to).await?;
            tx.commit().await?;
            if queued {
                self.sms_queued.signal();
            }
            out.push(msg);
        }
        Ok(out)
    }
}

/// The level holds and its failure forecast moved: the open warning of (site, source) takes the
/// new forecast, summary and evidence, with a `forecast_updated` event, announced like any
/// transition (no notification: the level did not change). `None` when no warning is open.
pub async fn update_forecast(pool: &PgPool, change: &LevelChange) -> sqlx::Result<Option<Warning>> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE warnings SET failure_forecast_at = $3, summary = $4, evidence = $5, reading_ts = $6,
             summary_zh = $7, updated_at = now()
         WHERE site_id = $1 AND source = $2 AND state <> 'closed' RETURNING id",
    )
    .bind(change.site_id)
    .bind(change.source.to_string())
    .bind(change.failure_forecast)
    .bind(&change.summary.en)
    .bind(&change.evidence)
    .bind(change.reading_ts)
    .bind(&change.summary.zh)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(None);
    };
    event(
        &mut tx,
        Event {
            warning_id: id,
            transition: WarningTransition::ForecastUpdated,
            from: change.level,
            to: change.level,
            person: None,
            evidence: &change.evidence,
        },
    )
    .await?;
    let msg = to_message(
        load(&mut tx, id).await?,
        WarningTransition::ForecastUpdated,
        None,
    )?;
    notify(&mut tx, &msg).await?;
    tx.commit().await?;
    Ok(Some(msg))
}

async fn peak_level(conn: &mut PgConnection, id: i64) -> sqlx::Result<WarningLevel> {
    let peak: String = sqlx::query_scalar("SELECT peak_level FROM warnings WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    decode(&peak)
}

/// A person acknowledges a warning: no more referrals until its level rises again. The note, if
/// any, is kept in the transition's evidence. Runs in the caller's transaction, so whatever the
/// caller records beside it (the command-center's audit entry) commits or fails with it.
pub async fn acknowledge(
    conn: &mut PgConnection,
    warning: WarningId,
    person: PersonId,
    note: Option<&str>,
) -> sqlx::Result<Option<Warning>> {
    let (warning_id, person_id) = (warning.0, person.0);
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
    let level: WarningLevel = decode(&level)?;
    let evidence = serde_json::to_value(Note {
        note: note.filter(|n| !n.is_empty()),
    })
    .expect("a note serializes");
    event(
        conn,
        Event {
            warning_id,
            transition: WarningTransition::Acknowledged,
            from: Some(level),
            to: Some(level),
            person: Some(person_id),
            evidence: &evidence,
        },
    )
    .await?;
    let msg = to_message(
        load(conn, warning_id).await?,
        WarningTransition::Acknowledged,
        None,
    )?;
    notify(conn, &msg).await?;
    Ok(Some(msg))
}

/// The open warnings' levels by (site, source), so a restarted analyzer continues them instead
/// of raising them again.
pub async fn open_levels(pool: &PgPool) -> sqlx::Result<Vec<(i64, WarningSource, WarningLevel)>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT site_id, source, level FROM warnings WHERE state <> 'closed'")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(site, source, level)| Ok((site, decode(&source)?, decode(&level)?)))
        .collect()
}
