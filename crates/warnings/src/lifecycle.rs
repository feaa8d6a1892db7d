//! The warning state machine in the database: one open warning per site and source; raised,
//! escalated, de-escalated, acknowledged, referred, closed. Each entry point locks the source's
//! open warning, asks [`decide`] what to do, and applies the decision in one transaction: the
//! row, the transition's event with its evidence and actor, and the notifications it queues.
//! The caller publishes the returned message on MQTT once it is committed. Columns are decoded
//! strictly: a level, state or category the code does not know is an error, never a guess.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geohazard_domain::{PersonId, WarningId};
use geohazard_protocol::warning::{
    Summary, Warning, WarningCategory, WarningLevel, WarningSource, WarningState, WarningTransition,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use geohazard_notify::{ForecastNews, Queued, Step, WarningPolicy};

use crate::decide::{Change, Current, Decision, decide};
use crate::evidence::{self, Evidence};
use crate::resend::ForecastResend;

/// A source's new level as the analyzer decided it.
#[derive(Debug, Clone)]
pub struct LevelChange {
    pub site_id: i64,
    pub source: WarningSource,
    pub sensor_id: Option<i32>,
    /// `None`: the condition is over.
    pub level: Option<WarningLevel>,
    pub summary: Summary,
    /// What the rule saw, stored with the warning and its transition and published with it.
    pub evidence: Evidence,
    pub reading_ts: Option<DateTime<Utc>>,
    pub failure_forecast: Option<DateTime<Utc>>,
}

/// The lifecycle with its policy, and the signal it gives when it queued SMS. Clones share both.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    policy: Arc<WarningPolicy>,
    sms_queued: Queued,
}

/// A column value the code does not know, as sqlx reports decoding failures.
fn decode<T: FromStr>(s: &str) -> sqlx::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse().map_err(|e: T::Err| sqlx::Error::Decode(e.into()))
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
        evidence: match evidence {
            Some(told) => told,
            None => evidence::stored(r.id, r.evidence)?.to_json(),
        },
    })
}

/// The warning as the store holds it now, with its latest transition and when that was: what a
/// console may show, whatever a message about it said. `None` when there is no such warning.
pub async fn as_stored(pool: &PgPool, id: i64) -> sqlx::Result<Option<Warning>> {
    let mut conn = pool.acquire().await?;
    let Some(row) = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "SELECT {RETURNING} FROM warnings w JOIN hazard_sites h ON h.id = w.site_id WHERE w.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let latest: Option<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT transition, at FROM warning_events WHERE warning_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let (transition, at) = match latest {
        Some((t, at)) => (decode(&t)?, at),
        None => (WarningTransition::Raised, Utc::now()),
    };
    let mut warning = to_message(row, transition, None)?;
    warning.at = at.timestamp_millis();
    Ok(Some(warning))
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
            sms_queued: Queued::default(),
        }
    }

    pub fn policy(&self) -> &WarningPolicy {
        &self.policy
    }

    /// The signal given after a transaction that queued SMS committed; the delivery worker in
    /// the same process waits on it.
    pub fn sms_queued(&self) -> Queued {
        self.sms_queued.clone()
    }

    /// When the acknowledgement of a new level is due; device faults are never referred.
    fn due(&self, level: WarningLevel, category: WarningCategory) -> Option<DateTime<Utc>> {
        if category == WarningCategory::Device {
            return None;
        }
        self.policy
            .ack_deadline(level)
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
        let source = change.source.to_string();
        let mut tx = pool.begin().await?;
        let open: Option<(i64, String, String, String, i32)> = sqlx::query_as(
            "SELECT id, level, peak_level, state, escalation_step FROM warnings
             WHERE site_id = $1 AND source = $2 AND state <> 'closed'
             FOR UPDATE",
        )
        .bind(change.site_id)
        .bind(&source)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, current) = match open {
            Some(row) => {
                let (id, current) = current(row)?;
                (Some(id), Some(current))
            }
            None => (None, None),
        };
        let decision = decide(current, Change::Level(change.level));
        let target = match (decision, id) {
            (Decision::Raise { level }, _) => match self.raise(&mut tx, change, level).await? {
                Some(id) => id,
                // Another analyzer of a shared group raised it a moment ago.
                None => {
                    tx.rollback().await?;
                    return Ok(None);
                }
            },
            (Decision::Ignore, _) | (_, None) => return Ok(None),
            (_, Some(id)) => id,
        };
        let applied = self
            .persist(&mut tx, target, decision, Applied::Level(change))
            .await?;
        tx.commit().await?;
        Ok(self.committed(applied))
    }

    /// Inserts the raised warning; `None` when one is open already (a concurrent raise).
    async fn raise(
        &self,
        conn: &mut PgConnection,
        change: &LevelChange,
        level: WarningLevel,
    ) -> sqlx::Result<Option<i64>> {
        let category = change.source.category();
        // ON CONFLICT: another analyzer of a shared group may have raised it a moment ago.
        sqlx::query_scalar(
            "INSERT INTO warnings (site_id, source, category, sensor_id, level, peak_level, state,
                 summary, evidence, reading_ts, failure_forecast_at, escalation_due_at, summary_zh)
             VALUES ($1, $2, $3, $4, $5, $5, 'open', $6, $7, $8, $9, $10, $11)
             ON CONFLICT (site_id, source) WHERE state <> 'closed' DO NOTHING
             RETURNING id",
        )
        .bind(change.site_id)
        .bind(change.source.to_string())
        .bind(category.as_str())
        .bind(change.sensor_id)
        .bind(level.as_str())
        .bind(&change.summary.en)
        .bind(sqlx::types::Json(&change.evidence))
        .bind(change.reading_ts)
        .bind(change.failure_forecast)
        .bind(self.due(level, category))
        .bind(&change.summary.zh)
        .fetch_optional(conn)
        .await
    }

    /// Applies `decision` to warning `id` (already inserted for a raise) in the caller's
    /// transaction: the row, the transition's event, the notifications. Returns the message
    /// of the transition, if it is one, and whether SMS were queued.
    async fn persist(
        &self,
        conn: &mut PgConnection,
        id: i64,
        decision: Decision,
        what: Applied<'_>,
    ) -> sqlx::Result<Option<(Warning, bool)>> {
        let (evidence, person) = match &what {
            Applied::Level(c) => (c.evidence.to_json(), None),
            Applied::Acknowledgement { person, note } => (note.clone(), Some(*person)),
            Applied::Referral { evidence } => (evidence.clone(), None),
        };
        let change = match &what {
            Applied::Level(c) => Some(*c),
            _ => None,
        };
        let (transition, from, to) = match decision {
            Decision::Ignore => return Ok(None),
            Decision::Raise { level } => (WarningTransition::Raised, None, Some(level)),
            Decision::Refresh => {
                let c = change.expect("a refresh comes from a level change");
                sqlx::query(
                    "UPDATE warnings SET crossings = crossings + 1, updated_at = now(), summary = $2,
                         evidence = $3, reading_ts = $4,
                         failure_forecast_at = COALESCE($5, failure_forecast_at), summary_zh = $6
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&c.summary.en)
                .bind(sqlx::types::Json(&c.evidence))
                .bind(c.reading_ts)
                .bind(c.failure_forecast)
                .bind(&c.summary.zh)
                .execute(&mut *conn)
                .await?;
                return Ok(None);
            }
            Decision::Close => {
                let c = change.expect("a close comes from a level change");
                sqlx::query(
                    "UPDATE warnings SET state = 'closed', closed_at = now(), updated_at = now(),
                         escalation_due_at = NULL, summary = $2, evidence = $3, reading_ts = $4,
                         summary_zh = $5
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&c.summary.en)
                .bind(sqlx::types::Json(&c.evidence))
                .bind(c.reading_ts)
                .bind(&c.summary.zh)
                .execute(&mut *conn)
                .await?;
                (WarningTransition::Closed, None, None)
            }
            Decision::Escalate { from, to, new_peak } => {
                let c = change.expect("an escalation comes from a level change");
                // A higher level needs a new acknowledgement; its deadline runs from now.
                let due = self.due(to, c.source.category());
                self.relevel(conn, id, c, to, WarningState::Open, new_peak, Some(due))
                    .await?;
                (WarningTransition::Escalated, Some(from), Some(to))
            }
            Decision::DeEscalate { from, to, state } => {
                let c = change.expect("a de-escalation comes from a level change");
                self.relevel(conn, id, c, to, state, false, None).await?;
                (WarningTransition::DeEscalated, Some(from), Some(to))
            }
            Decision::Acknowledge { level } => {
                sqlx::query(
                    "UPDATE warnings SET state = 'acknowledged', acknowledged_at = now(),
                         acknowledged_by = $2, escalation_due_at = NULL, updated_at = now()
                     WHERE id = $1",
                )
                .bind(id)
                .bind(person)
                .execute(&mut *conn)
                .await?;
                (WarningTransition::Acknowledged, Some(level), Some(level))
            }
            Decision::Refer {
                level,
                to,
                next_due,
            } => {
                let due = if next_due {
                    self.due(level, WarningCategory::Hazard)
                } else {
                    None
                };
                sqlx::query(
                    "UPDATE warnings SET escalation_step = $2, escalation_due_at = $3, updated_at = now()
                     WHERE id = $1",
                )
                .bind(id)
                .bind(to.column())
                .bind(due)
                .execute(&mut *conn)
                .await?;
                (WarningTransition::Referred, Some(level), Some(level))
            }
        };
        event(
            conn,
            Event {
                warning_id: id,
                transition,
                from,
                to,
                person,
                evidence: &evidence,
            },
        )
        .await?;
        let told = match &what {
            Applied::Referral { evidence } => Some(evidence.clone()),
            _ => None,
        };
        let msg = to_message(load(conn, id).await?, transition, told)?;
        let policy = &self.policy;
        let queued = match decision {
            Decision::Raise { .. } | Decision::Escalate { .. } => {
                geohazard_notify::enqueue_for_level(conn, policy, &msg).await?
            }
            Decision::Refer { to, .. } => {
                geohazard_notify::enqueue_for_step(conn, policy, &msg, to).await?
            }
            _ => false,
        };
        if queued {
            // The forecast these SMS carry, when the change stated one.
            self.sent_forecast(conn, id, change.and_then(|c| c.failure_forecast))
                .await?;
        }
        Ok(Some((msg, queued)))
    }

    /// A new level on the open warning `id`. `due`: `Some` sets the acknowledgement deadline
    /// (and clears an acknowledgement), `None` keeps both.
    #[allow(clippy::too_many_arguments)]
    async fn relevel(
        &self,
        conn: &mut PgConnection,
        id: i64,
        c: &LevelChange,
        level: WarningLevel,
        state: WarningState,
        new_peak: bool,
        due: Option<Option<DateTime<Utc>>>,
    ) -> sqlx::Result<()> {
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
        .bind(state.as_str())
        .bind(&c.summary.en)
        .bind(sqlx::types::Json(&c.evidence))
        .bind(c.reading_ts)
        .bind(due.is_some())
        .bind(c.failure_forecast)
        .bind(due.flatten())
        .bind(new_peak)
        .bind(&c.summary.zh)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// After the commit: wakes the delivery worker if SMS were queued; the message to publish.
    fn committed(&self, applied: Option<(Warning, bool)>) -> Option<Warning> {
        let (msg, queued) = applied?;
        if queued {
            self.sms_queued.signal();
        }
        Some(msg)
    }

    /// Refers every open warning whose acknowledgement deadline has passed to the next level's
    /// duty roster (county → city → province). Returns the messages to publish.
    pub async fn refer_overdue(&self, pool: &PgPool) -> sqlx::Result<Vec<Warning>> {
        let mut out = Vec::new();
        loop {
            let mut tx = pool.begin().await?;
            let next: Option<(i64, String, String, String, i32)> = sqlx::query_as(
                "SELECT id, level, peak_level, state, escalation_step FROM warnings
                 WHERE state = 'open' AND escalation_due_at <= now()
                 ORDER BY escalation_due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = next else { break };
            let (id, current) = current(row)?;
            let decision = decide(Some(current), Change::Overdue);
            let Decision::Refer { to, .. } = decision else {
                break;
            };
            let evidence = serde_json::to_value(Referral {
                referred_to: to.division_level(),
                step: to.column(),
                reason: "not acknowledged in time",
            })
            .expect("a referral serializes");
            let applied = self
                .persist(&mut tx, id, decision, Applied::Referral { evidence })
                .await?;
            tx.commit().await?;
            out.extend(self.committed(applied));
        }
        Ok(out)
    }
}

/// What a decision is applied with: the analyzer's level change, a person's acknowledgement,
/// a referral's evidence.
enum Applied<'a> {
    Level(&'a LevelChange),
    Acknowledgement { person: i64, note: Value },
    Referral { evidence: Value },
}

/// An open warning's locked row (id, level, peak, state, step) as [`decide`] sees it.
fn current(row: (i64, String, String, String, i32)) -> sqlx::Result<(i64, Current)> {
    let (id, level, peak, state, step) = row;
    Ok((
        id,
        Current {
            level: decode(&level)?,
            peak: decode(&peak)?,
            state: decode(&state)?,
            step: Step::from_column(step)?,
        },
    ))
}

/// The level holds and its failure forecast moved: the open warning of (site, source) takes the
/// new forecast, summary and evidence, with a `forecast_updated` event, announced like any
/// transition (no notification: the level did not change). `None` when no warning is open.
pub async fn update_forecast(pool: &PgPool, change: &LevelChange) -> sqlx::Result<Option<Warning>> {
    Lifecycle::default()
        .update_forecast(pool, change, None)
        .await
}

impl Lifecycle {
    /// [`update_forecast`], and with `resend` the forecast goes out again (app and SMS, to
    /// everyone reached so far) when it is materially earlier than the earliest one the SMS of
    /// this warning or of its sensor's other open warnings carried ([`ForecastResend`]); never
    /// for a forecast that moved later or jitters. When no SMS carried one yet, only a red
    /// takes its first forecast by SMS (its level's SMS said none was established); below red
    /// the next SMS of a level carries the current forecast.
    pub async fn update_forecast(
        &self,
        pool: &PgPool,
        change: &LevelChange,
        resend: Option<ForecastResend>,
    ) -> sqlx::Result<Option<Warning>> {
        let mut tx = pool.begin().await?;
        // What the phones hold: the earliest forecast an SMS of this warning, or of another
        // open warning of its sensor (a red from the rate rule carries the trend's forecast),
        // carried.
        let open: Option<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT w.id, (SELECT min(o.sms_forecast_at) FROM warnings o
                           WHERE o.state <> 'closed' AND (o.id = w.id
                               OR (o.site_id = w.site_id AND o.sensor_id = w.sensor_id)))
             FROM warnings w
             WHERE w.site_id = $1 AND w.source = $2 AND w.state <> 'closed' FOR UPDATE",
        )
        .bind(change.site_id)
        .bind(change.source.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, sent)) = open else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "UPDATE warnings SET failure_forecast_at = $2, summary = $3, evidence = $4,
                 reading_ts = $5, summary_zh = $6, updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(change.failure_forecast)
        .bind(&change.summary.en)
        .bind(sqlx::types::Json(&change.evidence))
        .bind(change.reading_ts)
        .bind(&change.summary.zh)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            Event {
                warning_id: id,
                transition: WarningTransition::ForecastUpdated,
                from: change.level,
                to: change.level,
                person: None,
                evidence: &change.evidence.to_json(),
            },
        )
        .await?;
        let msg = to_message(
            load(&mut tx, id).await?,
            WarningTransition::ForecastUpdated,
            None,
        )?;
        let now = change.reading_ts.unwrap_or_else(Utc::now);
        let news = match (resend, sent, change.failure_forecast) {
            (Some(rule), Some(sent), Some(new)) => rule
                .materially_earlier(sent, new, now)
                .then_some(ForecastNews::Earlier),
            // A red whose SMS could not carry a forecast (none was established) takes the
            // first one: the phone that has the evacuation colour needs the time.
            (Some(_), None, Some(_)) if change.level == Some(WarningLevel::Red) => {
                Some(ForecastNews::First)
            }
            _ => None,
        };
        let queued = match news {
            Some(news) => {
                geohazard_notify::enqueue_forecast_update(&mut tx, &self.policy, &msg, news).await?
            }
            None => false,
        };
        if queued {
            self.sent_forecast(&mut tx, id, change.failure_forecast)
                .await?;
        }
        tx.commit().await?;
        Ok(self.committed(Some((msg, queued))))
    }

    /// Remembers the forecast the SMS just queued for warning `id` carry.
    async fn sent_forecast(
        &self,
        conn: &mut PgConnection,
        id: i64,
        forecast: Option<DateTime<Utc>>,
    ) -> sqlx::Result<()> {
        if forecast.is_some() {
            sqlx::query("UPDATE warnings SET sms_forecast_at = $2 WHERE id = $1")
                .bind(id)
                .bind(forecast)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
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
    let open: Option<(i64, String, String, String, i32)> = sqlx::query_as(
        "SELECT id, level, peak_level, state, escalation_step FROM warnings
         WHERE id = $1 AND state <> 'closed' FOR UPDATE",
    )
    .bind(warning_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = open else {
        return Ok(None);
    };
    let (id, current) = current(row)?;
    let note = serde_json::to_value(Note {
        note: note.filter(|n| !n.is_empty()),
    })
    .expect("a note serializes");
    // Acknowledging queues nothing: no policy is needed.
    let applied = Lifecycle::default()
        .persist(
            conn,
            id,
            decide(Some(current), Change::Acknowledge),
            Applied::Acknowledgement {
                person: person_id,
                note,
            },
        )
        .await?;
    Ok(applied.map(|(msg, _)| msg))
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
