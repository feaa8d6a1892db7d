//! Stored reports: a division's figures over a period, kept as computed when the period ended
//! (once: the division, kind and label are unique), listed and read back within a scope; and
//! the exception reports raised when a figure crosses its configured line, told to the people
//! responsible through the notification queue.

use chrono::{DateTime, Utc};
use geohazard_notify::About;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::figures::{Figures, figures};
use crate::period::{Period, PeriodKind};
use crate::render::percent;

/// The lines a figure must not cross in a daily report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lines {
    /// A division's device online rate below this for a day (0–1).
    pub online_rate_min: f64,
    /// A division's data completeness below this for a day (0–1).
    pub completeness_min: f64,
    /// A site with no reading in the day's last 24 h.
    pub site_silent: bool,
    /// An approval step open past its deadline.
    pub approval_overdue: bool,
}

impl Default for Lines {
    fn default() -> Lines {
        Lines {
            online_rate_min: 0.9,
            completeness_min: 0.9,
            site_silent: true,
            approval_overdue: true,
        }
    }
}

/// A stored report as listed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ReportRow {
    pub id: i64,
    pub division_code: String,
    pub division_name: String,
    pub kind: String,
    pub label: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub exceptions: i64,
}

/// A raised exception report.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RaisedException {
    pub id: i64,
    pub report_id: i64,
    pub division_code: String,
    pub rule: String,
    pub subject: String,
    pub figure: Option<f64>,
    pub line: Option<f64>,
    pub detail: String,
    pub raised_at: DateTime<Utc>,
}

const ROW: &str = "r.id, r.division_code, d.name AS division_name, r.kind, r.label, r.period_from,
    r.period_to, r.generated_at,
    (SELECT count(*) FROM supervision_exceptions e WHERE e.report_id = r.id) AS exceptions";

fn kind_str(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Day => "day",
        PeriodKind::Month => "month",
    }
}

/// Stores the report of `division` over `period` unless it is stored already; raises its
/// exceptions (daily reports) and queues their notifications in the same transaction. Returns
/// the new report's id, `None` when it was there (or there is no such division).
pub async fn generate(
    pool: &PgPool,
    division: &str,
    period: &Period,
    lines: &Lines,
) -> sqlx::Result<Option<i64>> {
    let kind = kind_str(period.kind);
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM supervision_reports WHERE division_code = $1 AND kind = $2 AND label = $3)",
    )
    .bind(division)
    .bind(kind)
    .bind(&period.label)
    .fetch_one(pool)
    .await?;
    if exists {
        return Ok(None);
    }
    let Some(f) = figures(pool, division, period).await? else {
        return Ok(None);
    };
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO supervision_reports (division_code, kind, label, period_from, period_to, figures)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (division_code, kind, label) DO NOTHING RETURNING id",
    )
    .bind(division)
    .bind(kind)
    .bind(&period.label)
    .bind(period.from)
    .bind(period.to)
    .bind(serde_json::to_value(&f).map_err(|e| sqlx::Error::Encode(e.into()))?)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    if period.kind == PeriodKind::Day {
        raise(&mut tx, id, &f, lines).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

struct Crossing {
    rule: &'static str,
    subject: String,
    figure: Option<f64>,
    line: Option<f64>,
    zh: String,
    en: String,
}

fn crossings(f: &Figures, lines: &Lines) -> Vec<Crossing> {
    let mut out = vec![];
    let place = format!("{}（{}）", f.division_name, f.division_code);
    if let Some(r) = f.online_rate.filter(|r| *r < lines.online_rate_min) {
        out.push(Crossing {
            rule: "online_rate_below",
            subject: place.clone(),
            figure: Some(r),
            line: Some(lines.online_rate_min),
            zh: format!(
                "设备在线率 {}，低于 {}",
                percent(Some(r)),
                percent(Some(lines.online_rate_min))
            ),
            en: format!(
                "device online rate {} below {}",
                percent(Some(r)),
                percent(Some(lines.online_rate_min))
            ),
        });
    }
    if let Some(r) = f.completeness.filter(|r| *r < lines.completeness_min) {
        out.push(Crossing {
            rule: "completeness_below",
            subject: place.clone(),
            figure: Some(r),
            line: Some(lines.completeness_min),
            zh: format!(
                "数据完整率 {}，低于 {}",
                percent(Some(r)),
                percent(Some(lines.completeness_min))
            ),
            en: format!(
                "data completeness {} below {}",
                percent(Some(r)),
                percent(Some(lines.completeness_min))
            ),
        });
    }
    if lines.site_silent {
        for site in &f.sites_without_monitoring {
            out.push(Crossing {
                rule: "site_silent",
                subject: site.clone(),
                figure: None,
                line: Some(24.0),
                zh: format!("隐患点 {site} 24 小时无监测数据"),
                en: format!("site {site} silent for 24 h"),
            });
        }
    }
    if lines.approval_overdue {
        for e in f.exceptions.iter().filter(|e| e.kind == "approval_overdue") {
            out.push(Crossing {
                rule: "approval_overdue",
                subject: e.name.chars().take(200).collect(),
                figure: None,
                line: None,
                zh: format!("审批「{}」逾期未办（{}）", e.name, e.detail),
                en: format!("approval \"{}\" overdue ({})", e.name, e.detail),
            });
        }
    }
    out
}

async fn raise(
    conn: &mut PgConnection,
    report: i64,
    f: &Figures,
    lines: &Lines,
) -> sqlx::Result<()> {
    let people: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT person_id FROM officers WHERE division_code = $1 AND NOT disabled
           AND role IN ('supervisor', 'admin', 'duty_officer') ORDER BY 1",
    )
    .bind(&f.division_code)
    .fetch_all(&mut *conn)
    .await?;
    for c in crossings(f, lines) {
        let new = sqlx::query(
            "INSERT INTO supervision_exceptions (report_id, division_code, rule, subject, figure, line, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(report)
        .bind(&f.division_code)
        .bind(c.rule)
        .bind(&c.subject)
        .bind(c.figure)
        .bind(c.line)
        .bind(&c.zh)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !new {
            continue;
        }
        let zh = format!(
            "【监管异常】{} {}：{}。",
            f.division_name, f.period.label, c.zh
        );
        let en = format!(
            "Supervision exception: {} {}: {}.",
            f.division_name, f.period.label, c.en
        );
        let reason = format!("{}:{}", c.rule, c.subject);
        for p in &people {
            geohazard_notify::enqueue_about(
                &mut *conn,
                About::Report(report),
                *p,
                &reason,
                &zh,
                &en,
            )
            .await?;
        }
    }
    Ok(())
}

/// Reports of divisions in `divisions` (a scope), newest period first.
pub async fn list(
    pool: &PgPool,
    divisions: &[String],
    division: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ReportRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW} FROM supervision_reports r JOIN divisions d ON d.code = r.division_code
         WHERE r.division_code = ANY($1) AND ($2::text IS NULL OR r.division_code = $2)
         ORDER BY r.period_from DESC, r.kind, r.division_code LIMIT $3"
    )))
    .bind(divisions)
    .bind(division)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A stored report with its figures and raised exceptions, within `divisions`.
pub async fn get(
    pool: &PgPool,
    divisions: &[String],
    id: i64,
) -> sqlx::Result<Option<(ReportRow, Figures, Vec<RaisedException>)>> {
    let row: Option<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW} FROM supervision_reports r JOIN divisions d ON d.code = r.division_code
         WHERE r.id = $1 AND r.division_code = ANY($2)"
    )))
    .bind(id)
    .bind(divisions)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let value: serde_json::Value =
        sqlx::query_scalar("SELECT figures FROM supervision_reports WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    let f: Figures = serde_json::from_value(value).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let raised: Vec<RaisedException> = sqlx::query_as(
        "SELECT id, report_id, division_code, rule, subject, figure, line, detail, raised_at
         FROM supervision_exceptions WHERE report_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some((row, f, raised)))
}
