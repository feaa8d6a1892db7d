//! Deadlines: a step's people are reminded before its deadline, and a step past its deadline is
//! flagged overdue and told up the chain (the step's people, the division one level above them,
//! and the proposer), through the notification queue (app channel). One pass at a time in the
//! cluster (`geohazard_store::cluster::exclusively`); each reminder and each overdue notice is
//! given once per step (the instance's row says so, under its lock).

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// The agency's zone (China Standard Time), in which deadlines are written.
const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(z) => z,
    None => panic!("UTC+8"),
};

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&CST).format("%Y-%m-%d %H:%M").to_string()
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub reminded: u64,
    pub overdue: u64,
    pub notifications: u64,
}

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    step: i32,
    title: String,
    kind_zh: String,
    kind_en: String,
    step_zh: String,
    step_en: String,
    level: String,
    step_due_at: DateTime<Utc>,
    requested_by_person: i64,
}

/// People (officers' persons, not disabled) at `level` in the chain above instance `id`'s
/// division with a role the step names; with `up`, those of the division one level above them.
async fn people(conn: &mut PgConnection, id: i64, up: bool) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "WITH RECURSIVE chain AS (
             SELECT d.code, d.level, d.parent_code FROM divisions d
             JOIN approval_instances i ON i.division_code = d.code WHERE i.id = $1
             UNION ALL
             SELECT d.code, d.level, d.parent_code FROM divisions d JOIN chain c ON d.code = c.parent_code
         ), step AS (
             SELECT w.steps -> i.step AS s FROM approval_instances i
             JOIN approval_workflows w ON w.kind = i.kind WHERE i.id = $1
         ), acting AS (
             SELECT c.code, c.parent_code FROM chain c, step WHERE c.level = step.s ->> 'level'
         )
         SELECT DISTINCT o.person_id FROM officers o, step
         WHERE NOT o.disabled AND (
             (NOT $2 AND o.division_code IN (SELECT code FROM acting) AND (step.s -> 'roles') ? o.role)
             OR ($2 AND o.division_code IN (SELECT parent_code FROM acting)
                 AND o.role IN ('supervisor', 'admin')))
         ORDER BY 1",
    )
    .bind(id)
    .bind(up)
    .fetch_all(conn)
    .await
}

async fn tell(
    conn: &mut PgConnection,
    id: i64,
    people: &[i64],
    reason: &str,
    zh: &str,
    en: &str,
) -> sqlx::Result<u64> {
    let mut n = 0;
    for p in people {
        n += u64::from(
            geohazard_notify::enqueue_about(
                &mut *conn,
                geohazard_notify::About::Approval(id),
                *p,
                reason,
                zh,
                en,
            )
            .await?,
        );
    }
    Ok(n)
}

const DUE_COLUMNS: &str = "i.id, i.step, i.title, w.name_zh AS kind_zh, w.name_en AS kind_en,
    coalesce(w.steps -> i.step ->> 'name_zh', '') AS step_zh,
    coalesce(w.steps -> i.step ->> 'name_en', '') AS step_en,
    coalesce(w.steps -> i.step ->> 'level', '') AS level, i.step_due_at,
    o.person_id AS requested_by_person";

/// One pass over the pending steps: reminders due, and steps newly overdue.
pub async fn pass(pool: &PgPool) -> sqlx::Result<Pass> {
    let mut done = Pass::default();
    let mut tx = pool.begin().await?;
    let remind: Vec<Due> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DUE_COLUMNS} FROM approval_instances i
         JOIN approval_workflows w ON w.kind = i.kind JOIN officers o ON o.id = i.requested_by
         WHERE i.state = 'pending' AND i.reminded_at IS NULL AND i.step_due_at IS NOT NULL
           AND i.step_due_at - make_interval(secs => coalesce((w.steps -> i.step ->> 'remind_before_s')::float8, 0)) <= now()
         ORDER BY i.id LIMIT 500 FOR UPDATE OF i SKIP LOCKED"
    )))
    .fetch_all(&mut *tx)
    .await?;
    for d in remind {
        let who = people(&mut tx, d.id, false).await?;
        let due = local(d.step_due_at);
        let zh = format!(
            "【审批提醒】{}「{}」待{}，办理期限 {}（北京时间）。",
            d.kind_zh, d.title, d.step_zh, due
        );
        let en = format!(
            "Approval reminder: {} \"{}\" awaits {}, due {} (China Standard Time).",
            d.kind_en, d.title, d.step_en, due
        );
        let n = tell(&mut tx, d.id, &who, &format!("remind@{}", d.step), &zh, &en).await?;
        sqlx::query("UPDATE approval_instances SET reminded_at = now() WHERE id = $1")
            .bind(d.id)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            d.id,
            "remind",
            d.step,
            json!({"people": who, "due": d.step_due_at}),
        )
        .await?;
        done.reminded += 1;
        done.notifications += n;
    }
    let overdue: Vec<Due> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DUE_COLUMNS} FROM approval_instances i
         JOIN approval_workflows w ON w.kind = i.kind JOIN officers o ON o.id = i.requested_by
         WHERE i.state = 'pending' AND i.overdue_at IS NULL AND i.step_due_at < now()
         ORDER BY i.id LIMIT 500 FOR UPDATE OF i SKIP LOCKED"
    )))
    .fetch_all(&mut *tx)
    .await?;
    for d in overdue {
        let mut who = people(&mut tx, d.id, false).await?;
        let above = people(&mut tx, d.id, true).await?;
        who.extend(above.iter().copied());
        who.push(d.requested_by_person);
        who.sort_unstable();
        who.dedup();
        let due = local(d.step_due_at);
        let zh = format!(
            "【审批逾期】{}「{}」的{}已超过办理期限 {}（北京时间），请督办。",
            d.kind_zh, d.title, d.step_zh, due
        );
        let en = format!(
            "Approval overdue: {} \"{}\" — {} was due {} (China Standard Time).",
            d.kind_en, d.title, d.step_en, due
        );
        let n = tell(
            &mut tx,
            d.id,
            &who,
            &format!("overdue@{}", d.step),
            &zh,
            &en,
        )
        .await?;
        sqlx::query("UPDATE approval_instances SET overdue_at = now() WHERE id = $1")
            .bind(d.id)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            d.id,
            "overdue",
            d.step,
            json!({"people": who, "told_above": above, "level": d.level, "due": d.step_due_at}),
        )
        .await?;
        done.overdue += 1;
        done.notifications += n;
    }
    tx.commit().await?;
    Ok(done)
}

async fn event(
    conn: &mut PgConnection,
    id: i64,
    action: &str,
    step: i32,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO approval_events (instance_id, officer_id, action, step, state_after, detail)
         VALUES ($1, NULL, $2, $3, 'pending', $4)",
    )
    .bind(id)
    .bind(action)
    .bind(step)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs a pass every `every` until `shutdown`, one replica at a time in the cluster.
pub async fn run(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match geohazard_store::cluster::exclusively(&pool, "approvals.deadlines", pass(&pool)).await
        {
            Ok(Some(Ok(p))) if p != Pass::default() => {
                tracing::info!(
                    reminded = p.reminded,
                    overdue = p.overdue,
                    "approval deadlines"
                );
            }
            Ok(Some(Err(e))) | Err(e) => tracing::warn!(error = %e, "approval deadlines pass"),
            _ => {}
        }
    }
}
