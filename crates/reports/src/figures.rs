//! The supervision figures of a division and everything below it over a period, and the
//! exceptions behind them by name. Every figure is read from the store as it is; a period still
//! running counts up to now.
//!
//! - **Online rate**: a gateway's period is cut into slots of `max(1 h, 3 × its expected
//!   interval)` from the start of the period (or its registration); it was online in a slot
//!   where any of its sensors delivered a reading. Rate = online slots / slots, over all
//!   gateways of the division.
//! - **Data completeness**: per active sensor, readings received / readings expected from its
//!   sampling interval over the period (received counted at most up to expected), summed over
//!   the division's sensors.
//! - **Warnings**: hazard warnings raised in the period by peak level; response times past the
//!   raising (mean and longest, over the warnings that got that far): raised → acknowledged,
//!   raised → an incident opened from it, raised → the first of that incident's tasks reported
//!   on site (a team on site). An incident opened before a warning joined it counts as opened
//!   when the warning was raised (0 s).
//! - **Notifications** about the division's warnings and approvals queued in the period: sent,
//!   delivered, confirmed.
//! - **Approvals**: steps decided in the period, on time or after being flagged overdue; steps
//!   open past their deadline at the period's end.
//! - **Sites without working monitoring**: sites (not retired) none of whose sensors delivered
//!   in the last 24 h of the period.
//! - **Patrols** (群测群防巡查) against each site's schedule: from the period's start (or the
//!   schedule's writing) the period is cut into slots of the hours in force at each slot's
//!   start (the season's hours in its months, China time; outside them the off-season hours,
//!   or no patrol due, a day at a time); a slot was kept when a patrol of the site falls in it.
//!   A slot still running at the period's end counts only once kept. Rate = kept / slots.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::period::Period;

/// A sensor's completeness below this is an exception.
pub const COMPLETENESS_LINE: f64 = 0.9;

/// `$1` and every division below it.
const SUB: &str = "WITH RECURSIVE sub(code) AS (
        SELECT code FROM divisions WHERE code = $1
        UNION SELECT d.code FROM divisions d JOIN sub ON d.parent_code = sub.code)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct GatewayFigure {
    pub gateway: String,
    pub site: String,
    pub site_name: String,
    pub slots: i64,
    pub online_slots: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SensorFigure {
    pub sensor_id: i32,
    pub gateway: String,
    pub channel: String,
    pub site: String,
    pub interval_s: i32,
    pub expected: i64,
    pub received: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ByLevel {
    pub blue: i64,
    pub yellow: i64,
    pub orange: i64,
    pub red: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Responses {
    pub raised: i64,
    pub acknowledged: i64,
    /// Raised → acknowledged, seconds.
    pub ack_mean_s: Option<f64>,
    pub ack_max_s: Option<f64>,
    /// Warnings an incident was opened from (or joined).
    #[serde(default)]
    pub incidents: i64,
    /// Raised → incident opened, seconds.
    #[serde(default)]
    pub incident_mean_s: Option<f64>,
    #[serde(default)]
    pub incident_max_s: Option<f64>,
    /// Warnings whose incident had a team on site.
    #[serde(default)]
    pub on_site: i64,
    /// Raised → the first task of its incident on site, seconds.
    #[serde(default)]
    pub on_site_mean_s: Option<f64>,
    #[serde(default)]
    pub on_site_max_s: Option<f64>,
}

/// How many of `times` there are, their mean and the longest.
fn spread(times: impl Iterator<Item = Option<f64>>) -> (i64, Option<f64>, Option<f64>) {
    let times: Vec<f64> = times.flatten().collect();
    let n = times.len() as i64;
    let mean = (n > 0).then(|| times.iter().sum::<f64>() / n as f64);
    let max = times.iter().copied().reduce(f64::max);
    (n, mean, max)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, sqlx::FromRow)]
pub struct Notifications {
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub confirmed: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Approvals {
    /// Steps decided (approved, rejected, returned) in the period.
    pub decided: i64,
    pub on_time: i64,
    /// Decided after the step was flagged overdue.
    pub late: i64,
    /// Steps still open past their deadline at the period's end.
    pub open_overdue: i64,
}

/// One exception, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    /// `gateway_offline`, `sensor_incomplete`, `site_unmonitored`, `warning_unacknowledged`,
    /// `approval_overdue`.
    pub kind: String,
    /// What it is about: a gateway's code, `gateway/channel`, a site's code, a request's title.
    pub name: String,
    pub site: Option<String>,
    /// The figure that makes it an exception (a rate), when there is one.
    pub figure: Option<f64>,
    pub detail: String,
    /// The step of a request that is overdue (`approval_overdue`), in Chinese.
    #[serde(default)]
    pub step: Option<String>,
    /// The request (`approval_overdue`).
    #[serde(default)]
    pub approval_id: Option<i64>,
    /// When: a warning's raising, a step's deadline.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// A warning's peak level (`warning_unacknowledged`).
    #[serde(default)]
    pub level: Option<String>,
}

/// One site's patrols against its schedule over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolFigure {
    pub site: String,
    pub site_name: String,
    /// Slots of the schedule in the period.
    pub slots: i64,
    /// Slots with a patrol in them.
    pub kept: i64,
}

/// The slots a patrol schedule asks for between `from` and `to`, each `(start, end)`: a slot
/// lasts the hours in force at its start (`interval_h` in the `season`'s months in China time,
/// all year when it is empty; `off_h` otherwise, or none due: the next day is looked at). The
/// last slot may end after `to`.
pub fn patrol_slots(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval_h: i32,
    season: &[i16],
    off_h: Option<i32>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut slots = vec![];
    let mut at = from;
    while at < to {
        let month = at.with_timezone(&crate::period::CST).month() as i16;
        let hours = if season.is_empty() || season.contains(&month) {
            Some(interval_h)
        } else {
            off_h
        };
        match hours {
            Some(h) => {
                let end = at + Duration::hours(i64::from(h.max(1)));
                slots.push((at, end));
                at = end;
            }
            None => at += Duration::days(1),
        }
    }
    slots
}

/// How many of `slots` count, and how many of those hold one of `patrols` (sorted): a slot
/// still running at `to` counts only once it is kept.
fn kept_slots(
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    patrols: &[DateTime<Utc>],
    to: DateTime<Utc>,
) -> (i64, i64) {
    let (mut counted, mut kept) = (0, 0);
    for (start, end) in slots {
        let has = patrols.iter().any(|p| p >= start && p < end);
        if *end <= to || has {
            counted += 1;
            kept += i64::from(has);
        }
    }
    (counted, kept)
}

/// The figures of a division over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub division_code: String,
    pub division_name: String,
    pub period: Period,
    /// Up to when it counts (the period's end, or now while it runs).
    pub counted_to: DateTime<Utc>,
    pub gateways: Vec<GatewayFigure>,
    /// Online slots / slots; `None` without gateways.
    pub online_rate: Option<f64>,
    pub sensors: Vec<SensorFigure>,
    pub readings_expected: i64,
    pub readings_received: i64,
    pub completeness: Option<f64>,
    pub warnings: ByLevel,
    pub responses: Responses,
    pub notifications: Notifications,
    pub approvals: Approvals,
    pub sites: i64,
    pub sites_without_monitoring: Vec<String>,
    /// Sites with a patrol schedule, and how their slots were kept.
    #[serde(default)]
    pub patrols: Vec<PatrolFigure>,
    /// Kept slots / slots; `None` without scheduled patrols.
    #[serde(default)]
    pub patrol_rate: Option<f64>,
    pub exceptions: Vec<Exception>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The figures of `division` (and every division below it) over `period`; `None` when there is
/// no such division.
pub async fn figures(
    pool: &PgPool,
    division: &str,
    period: &Period,
) -> sqlx::Result<Option<Figures>> {
    let Some(division_name): Option<String> =
        sqlx::query_scalar("SELECT name FROM divisions WHERE code = $1")
            .bind(division)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let from = period.from;
    let to = period.to.min(Utc::now()).max(from);

    let gateways: Vec<GatewayFigure> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}, gw AS (
             SELECT g.id, g.code, h.code AS site, h.name AS site_name, greatest($2, g.created_at) AS start,
                    greatest(3600, 3 * coalesce(max(s.sampling_interval_s), 600))::float8 AS slot
             FROM gateways g JOIN hazard_sites h ON h.id = g.site_id
             LEFT JOIN sensors s ON s.gateway_id = g.id AND s.active
             WHERE h.division_code IN (SELECT code FROM sub) AND h.status <> 'closed' AND g.created_at < $3
             GROUP BY g.id, g.code, h.code, h.name)
         SELECT gw.code AS gateway, gw.site, gw.site_name,
                ceil(extract(epoch FROM $3 - gw.start) / gw.slot)::bigint AS slots,
                (SELECT count(DISTINCT floor(extract(epoch FROM r.ts - gw.start) / gw.slot))
                 FROM readings r JOIN sensors s ON s.id = r.sensor_id
                 WHERE s.gateway_id = gw.id AND r.ts >= gw.start AND r.ts < $3) AS online_slots
         FROM gw ORDER BY gw.code"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;

    let sensors: Vec<SensorFigure> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT s.id AS sensor_id, g.code AS gateway, s.channel, h.code AS site,
                s.sampling_interval_s AS interval_s,
                greatest(0, floor(extract(epoch FROM $3 - greatest($2, s.created_at)) / s.sampling_interval_s))::bigint AS expected,
                (SELECT count(*) FROM readings r WHERE r.sensor_id = s.id AND r.ts >= $2 AND r.ts < $3) AS received
         FROM sensors s JOIN gateways g ON g.id = s.gateway_id JOIN hazard_sites h ON h.id = s.site_id
         WHERE s.active AND h.division_code IN (SELECT code FROM sub) AND h.status <> 'closed'
           AND s.created_at < $3
         ORDER BY g.code, s.channel"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;

    /// Per warning: peak level, raised → acknowledged, → incident opened, → team on site (s).
    type WarningRow = (String, Option<f64>, Option<f64>, Option<f64>);
    let raised: Vec<WarningRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT w.peak_level,
                extract(epoch FROM w.acknowledged_at - w.raised_at)::float8,
                -- (greatest() skips NULLs: no incident, no team on site, no time.)
                CASE WHEN i.opened_at IS NOT NULL
                     THEN extract(epoch FROM greatest(i.opened_at, w.raised_at) - w.raised_at)::float8 END,
                CASE WHEN t.on_site IS NOT NULL
                     THEN extract(epoch FROM greatest(t.on_site, w.raised_at) - w.raised_at)::float8 END
         FROM warnings w JOIN hazard_sites h ON h.id = w.site_id
         LEFT JOIN incident_warnings iw ON iw.warning_id = w.id
         LEFT JOIN incidents i ON i.id = iw.incident_id
         LEFT JOIN LATERAL (SELECT min(e.at) AS on_site FROM task_events e JOIN tasks k ON k.id = e.task_id
                            WHERE k.incident_id = i.id AND e.to_status = 'on_site') t ON true
         WHERE w.category = 'hazard' AND w.raised_at >= $2 AND w.raised_at < $3
           AND h.division_code IN (SELECT code FROM sub)"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut warnings = ByLevel::default();
    for (level, ..) in &raised {
        match level.as_str() {
            "blue" => warnings.blue += 1,
            "yellow" => warnings.yellow += 1,
            "orange" => warnings.orange += 1,
            _ => warnings.red += 1,
        }
    }
    let (acknowledged, ack_mean_s, ack_max_s) = spread(raised.iter().map(|r| r.1));
    let (incidents, incident_mean_s, incident_max_s) = spread(raised.iter().map(|r| r.2));
    let (on_site, on_site_mean_s, on_site_max_s) = spread(raised.iter().map(|r| r.3));
    let responses = Responses {
        raised: raised.len() as i64,
        acknowledged,
        ack_mean_s,
        ack_max_s,
        incidents,
        incident_mean_s,
        incident_max_s,
        on_site,
        on_site_mean_s,
        on_site_max_s,
    };

    let notifications: Notifications = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT count(*) AS queued,
                count(*) FILTER (WHERE n.sent_at IS NOT NULL OR n.delivered_at IS NOT NULL) AS sent,
                count(*) FILTER (WHERE n.delivered_at IS NOT NULL) AS delivered,
                count(*) FILTER (WHERE n.confirmed_at IS NOT NULL) AS confirmed,
                count(*) FILTER (WHERE n.status IN ('failed', 'rate_limited')) AS failed
         FROM notifications n
         LEFT JOIN warnings w ON w.id = n.warning_id LEFT JOIN hazard_sites h ON h.id = w.site_id
         LEFT JOIN approval_instances a ON a.id = n.approval_id
         WHERE n.created_at >= $2 AND n.created_at < $3
           AND coalesce(h.division_code, a.division_code) IN (SELECT code FROM sub)"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;

    let decided: Vec<(String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT i.title, EXISTS (SELECT 1 FROM approval_events o WHERE o.instance_id = e.instance_id
                                 AND o.step = e.step AND o.action = 'overdue' AND o.id < e.id)
         FROM approval_events e JOIN approval_instances i ON i.id = e.instance_id
         WHERE e.action IN ('approve', 'reject', 'return') AND e.at >= $2 AND e.at < $3
           AND i.division_code IN (SELECT code FROM sub)"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let open_overdue: Vec<(i64, String, String, DateTime<Utc>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SUB}
         SELECT i.id, i.title, coalesce(w.steps -> i.step ->> 'name_zh', ''), i.step_due_at
         FROM approval_instances i JOIN approval_workflows w ON w.kind = i.kind
         WHERE i.state = 'pending' AND i.step_due_at < $2 AND i.step_since < $2
           AND i.division_code IN (SELECT code FROM sub)
         ORDER BY i.step_due_at"
        )))
        .bind(division)
        .bind(to)
        .fetch_all(pool)
        .await?;
    let late = decided.iter().filter(|(_, late)| *late).count() as i64;
    let approvals = Approvals {
        decided: decided.len() as i64,
        on_time: decided.len() as i64 - late,
        late,
        open_overdue: open_overdue.len() as i64,
    };

    let sites: Vec<(String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT h.code, h.name, EXISTS (
             SELECT 1 FROM readings r JOIN sensors s ON s.id = r.sensor_id
             WHERE s.site_id = h.id AND s.active AND r.ts >= $2 AND r.ts < $3)
         FROM hazard_sites h
         WHERE h.division_code IN (SELECT code FROM sub) AND h.status <> 'closed' AND h.created_at < $3
         ORDER BY h.code"
    )))
    .bind(division)
    .bind((to - Duration::hours(24)).max(from))
    .bind(to)
    .fetch_all(pool)
    .await?;
    let unacknowledged: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT h.code, w.peak_level, w.raised_at FROM warnings w JOIN hazard_sites h ON h.id = w.site_id
         WHERE w.category = 'hazard' AND w.raised_at >= $2 AND w.raised_at < $3
           AND w.acknowledged_at IS NULL AND h.division_code IN (SELECT code FROM sub)
         ORDER BY w.raised_at"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;

    type ScheduleRow = (
        i64,
        String,
        String,
        i32,
        Vec<i16>,
        Option<i32>,
        DateTime<Utc>,
    );
    let schedules: Vec<ScheduleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUB}
         SELECT h.id, h.code, h.name, ps.interval_hours, ps.season, ps.off_season_hours,
                greatest($2, ps.created_at)
         FROM patrol_schedules ps JOIN hazard_sites h ON h.id = ps.site_id
         WHERE h.division_code IN (SELECT code FROM sub) AND h.status <> 'closed'
           AND ps.created_at < $3
         ORDER BY h.code"
    )))
    .bind(division)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let patrol_times: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT site_id, at FROM patrols WHERE site_id = ANY($1) AND at >= $2 AND at < $3
         ORDER BY at",
    )
    .bind(schedules.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let patrols: Vec<PatrolFigure> = schedules
        .into_iter()
        .map(|(id, site, site_name, interval_h, season, off_h, start)| {
            let times: Vec<DateTime<Utc>> = patrol_times
                .iter()
                .filter(|(s, _)| *s == id)
                .map(|(_, at)| *at)
                .collect();
            let slots = patrol_slots(start, to, interval_h, &season, off_h);
            let (slots, kept) = kept_slots(&slots, &times, to);
            PatrolFigure {
                site,
                site_name,
                slots,
                kept,
            }
        })
        .collect();

    let slots: i64 = gateways.iter().map(|g| g.slots).sum();
    let online: i64 = gateways.iter().map(|g| g.online_slots.min(g.slots)).sum();
    let expected: i64 = sensors.iter().map(|s| s.expected).sum();
    let received: i64 = sensors.iter().map(|s| s.received.min(s.expected)).sum();

    let mut exceptions = vec![];
    for g in &gateways {
        if g.online_slots < g.slots {
            exceptions.push(Exception {
                kind: "gateway_offline".into(),
                name: g.gateway.clone(),
                site: Some(g.site.clone()),
                figure: ratio(g.online_slots, g.slots),
                detail: format!("online {} of {} slots", g.online_slots, g.slots),
                step: None,
                approval_id: None,
                at: None,
                level: None,
            });
        }
    }
    for s in &sensors {
        let rate = ratio(s.received.min(s.expected), s.expected);
        if rate.is_some_and(|r| r < COMPLETENESS_LINE) {
            exceptions.push(Exception {
                kind: "sensor_incomplete".into(),
                name: format!("{}/{}", s.gateway, s.channel),
                site: Some(s.site.clone()),
                figure: rate,
                detail: format!("{} of {} readings expected", s.received, s.expected),
                step: None,
                approval_id: None,
                at: None,
                level: None,
            });
        }
    }
    let mut sites_without_monitoring = vec![];
    for (code, name, heard) in &sites {
        if !heard {
            sites_without_monitoring.push(code.clone());
            exceptions.push(Exception {
                kind: "site_unmonitored".into(),
                name: code.clone(),
                site: Some(code.clone()),
                figure: None,
                detail: format!("{name}: no reading in the last 24 h of the period"),
                step: None,
                approval_id: None,
                at: None,
                level: None,
            });
        }
    }
    for p in patrols.iter().filter(|p| p.kept < p.slots) {
        exceptions.push(Exception {
            kind: "patrol_missed".into(),
            name: p.site.clone(),
            site: Some(p.site.clone()),
            figure: ratio(p.kept, p.slots),
            detail: format!("{}: patrolled {} of {} due", p.site_name, p.kept, p.slots),
            step: None,
            approval_id: None,
            at: None,
            level: None,
        });
    }
    for (site, level, raised_at) in unacknowledged {
        exceptions.push(Exception {
            kind: "warning_unacknowledged".into(),
            name: format!("{site} {level}"),
            site: Some(site),
            figure: None,
            detail: format!(
                "raised {}",
                raised_at
                    .with_timezone(&crate::period::CST)
                    .format("%Y-%m-%d %H:%M")
            ),
            step: None,
            approval_id: None,
            at: Some(raised_at),
            level: Some(level),
        });
    }
    for (id, title, step, due) in open_overdue {
        exceptions.push(Exception {
            kind: "approval_overdue".into(),
            name: title,
            site: None,
            figure: None,
            detail: format!(
                "{step} due {}",
                due.with_timezone(&crate::period::CST)
                    .format("%Y-%m-%d %H:%M")
            ),
            step: Some(step),
            approval_id: Some(id),
            at: Some(due),
            level: None,
        });
    }

    Ok(Some(Figures {
        division_code: division.to_owned(),
        division_name,
        period: period.clone(),
        counted_to: to,
        online_rate: ratio(online, slots),
        gateways,
        readings_expected: expected,
        readings_received: received,
        completeness: ratio(received, expected),
        sensors,
        warnings,
        responses,
        notifications,
        approvals,
        sites: sites.len() as i64,
        sites_without_monitoring,
        patrol_rate: ratio(
            patrols.iter().map(|p| p.kept).sum(),
            patrols.iter().map(|p| p.slots).sum(),
        ),
        patrols,
        exceptions,
    }))
}
