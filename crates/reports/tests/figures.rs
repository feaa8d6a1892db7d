//! The supervision figures on a seeded data set whose right answers this test works out by
//! itself from the readings it made: two counties (Gao, Cuiping) and their city, two days, a
//! gateway offline half of the second day, a sensor delivering at half its interval, warnings
//! with their acknowledgements, notifications, approvals on time, late and overdue, and a site
//! with no monitoring.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use geohazard_reports::{Figures, Period, figures};
use geohazard_store::registry::{self, DivisionLevel, NewDivision, NewSite, SiteKind};
use geohazard_store::{ReadingRows, Store};
use geohazard_testkit::TestDb;
use geohazard_testkit::fixtures::{self, CITY, COUNTY};

const CUIPING: &str = "511502";

struct Seeded {
    _db: TestDb,
    store: Store,
    d1: Period,
    d2: Period,
    /// (gateway, sensor interval s, reading times) per sensor.
    sensors: Vec<(&'static str, &'static str, i64, Vec<DateTime<Utc>>)>,
}

async fn site(store: &Store, code: &str, division: &str) -> i64 {
    registry::upsert_site(
        &store.pool,
        &NewSite {
            code,
            name: code,
            kind: SiteKind::Landslide,
            division_code: division,
            location: geo::Point::new(104.6, 28.8),
            threat_zone: None,
            scale_class: None,
            volume_m3: None,
            threatened_people: 10,
            threatened_property: 5.0,
        },
    )
    .await
    .unwrap()
}

async fn exec(store: &Store, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&store.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn every(from: DateTime<Utc>, to: DateTime<Utc>, step_s: i64) -> Vec<DateTime<Utc>> {
    fixtures::every(from, to, Duration::seconds(step_s))
}

async fn seed() -> Seeded {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    fixtures::register_divisions(&store).await;
    registry::upsert_division(
        &store.pool,
        &NewDivision {
            code: CUIPING,
            name: "翠屏区",
            level: DivisionLevel::County,
            parent_code: Some(CITY),
            boundary: None,
        },
    )
    .await
    .unwrap();
    let today = Period::date_of(Utc::now());
    let d1 = Period::day(today - Duration::days(5));
    let d2 = Period::day(today - Duration::days(4));
    let _ = NaiveDate::MIN;

    // Gao: gateway GA with a1 (every 600 s) and a2 (configured 600 s, delivering every 1200 s).
    let ga = fixtures::register_gateway(&store, "GA", &["a1", "a2"]).await;
    // Cuiping: gateway GB with b1 (every 300 s) on site-B; site-C has no sensor at all.
    let sb = site(&store, "site-B", CUIPING).await;
    site(&store, "site-C", CUIPING).await;
    let gb = registry::upsert_gateway(&store.pool, "GB", Some(sb), "GB", None)
        .await
        .unwrap();
    fixtures::register_crack_meter(&store, gb, sb, "b1").await;
    let long_ago = d1.from - Duration::days(30);
    exec(&store, &format!(
        "UPDATE sensors SET sampling_interval_s = CASE WHEN channel = 'b1' THEN 300 ELSE 600 END, created_at = '{long_ago}';
         UPDATE gateways SET created_at = '{long_ago}'; UPDATE hazard_sites SET created_at = '{long_ago}';"
    ))
    .await;
    let ids: Vec<(i32, String)> =
        sqlx::query_as("SELECT id, channel FROM sensors ORDER BY channel")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let id = |c: &str| ids.iter().find(|(_, ch)| ch == c).unwrap().0;
    let _ = ga;

    // The second day, GA is silent from midnight to noon (China time).
    let noon2 = d2.from + Duration::hours(12);
    let a1: Vec<_> = every(d1.from, d2.to, 600)
        .into_iter()
        .filter(|t| !(d2.from..noon2).contains(t))
        .collect();
    let a2: Vec<_> = every(d1.from, d2.to, 1200)
        .into_iter()
        .filter(|t| !(d2.from..noon2).contains(t))
        .collect();
    let b1 = every(d1.from, d2.to, 300);
    let mut rows = ReadingRows::with_capacity(a1.len() + a2.len() + b1.len());
    for (channel, times) in [("a1", &a1), ("a2", &a2), ("b1", &b1)] {
        for t in times {
            rows.push(id(channel), *t, 1.0, 0);
        }
    }
    fixtures::store_readings(&store, &rows).await;

    // Warnings: Gao day 1 a yellow acknowledged after 30 min and an orange nobody acknowledged;
    // Cuiping day 2 a red acknowledged after 5 min.
    let t = |p: &Period, h: i64, m: i64| p.from + Duration::hours(h) + Duration::minutes(m);
    let (y, o, r) = (t(&d1, 2, 0), t(&d1, 10, 0), t(&d2, 8, 0));
    exec(&store, &format!(
        "INSERT INTO warnings (site_id, source, category, level, peak_level, state, evidence, raised_at, acknowledged_at)
         SELECT id, 'rain:a1', 'hazard', 'yellow', 'yellow', 'acknowledged', '{{}}', '{y}', '{ya}' FROM hazard_sites WHERE code = 'site-GA';
         INSERT INTO warnings (site_id, source, category, level, peak_level, state, evidence, raised_at)
         SELECT id, 'trend:a2', 'hazard', 'orange', 'orange', 'open', '{{}}', '{o}' FROM hazard_sites WHERE code = 'site-GA';
         INSERT INTO warnings (site_id, source, category, level, peak_level, state, evidence, raised_at, acknowledged_at)
         SELECT id, 'rain:b1', 'hazard', 'red', 'red', 'acknowledged', '{{}}', '{r}', '{ra}' FROM hazard_sites WHERE code = 'site-B';
         INSERT INTO people (name, phone, division_code) VALUES ('p', '13800000000', '{COUNTY}');
         INSERT INTO notifications (warning_id, person_id, channel, reason, body, status, created_at, sent_at, delivered_at)
         SELECT w.id, p.id, 'sms', 'yellow@0', 'x', 'delivered', '{y}', '{y}', '{y}' FROM warnings w, people p WHERE w.level = 'yellow';
         INSERT INTO notifications (warning_id, person_id, channel, reason, body, status, created_at, delivered_at, confirmed_at)
         SELECT w.id, p.id, 'app', 'yellow@0', 'x', 'delivered', '{y}', '{y}', '{y}' FROM warnings w, people p WHERE w.level = 'yellow';
         INSERT INTO notifications (warning_id, person_id, channel, reason, body, status, created_at)
         SELECT w.id, p.id, 'sms', 'red@0', 'x', 'failed', '{r}' FROM warnings w, people p WHERE w.level = 'red';",
        ya = y + Duration::minutes(30),
        ra = r + Duration::minutes(5),
    ))
    .await;

    // Approvals in Gao: one step decided on time (day 1), one decided after it was flagged
    // overdue (day 2), one still open past its deadline (due day 2, 06:00).
    exec(&store, &format!(
        "INSERT INTO officers (username, division_code, role, person_id, password_hash)
         SELECT 'gao', '{COUNTY}', 'duty_officer', id, 'x' FROM people;
         INSERT INTO approval_instances (kind, division_code, title, form, requested_by, state, step, step_since, step_due_at)
         SELECT 'risk.assessment', '{COUNTY}', t.title, '{{}}', o.id, t.state, 0, '{since}', t.due::timestamptz
         FROM officers o, (VALUES ('on time', 'approved', NULL), ('late', 'approved', NULL),
                                  ('open overdue', 'pending', '{due3}')) AS t(title, state, due);
         INSERT INTO approval_events (instance_id, action, step, state_after, at)
         SELECT id, 'approve', 0, 'approved', '{a1}' FROM approval_instances WHERE title = 'on time';
         INSERT INTO approval_events (instance_id, action, step, state_after, at)
         SELECT id, 'overdue', 0, 'pending', '{late_flag}' FROM approval_instances WHERE title = 'late';
         INSERT INTO approval_events (instance_id, action, step, state_after, at)
         SELECT id, 'approve', 0, 'approved', '{late_at}' FROM approval_instances WHERE title = 'late';",
        since = d1.from,
        due3 = t(&d2, 6, 0),
        a1 = t(&d1, 5, 0),
        late_flag = t(&d2, 1, 0),
        late_at = t(&d2, 3, 0),
    ))
    .await;

    Seeded {
        _db: db,
        store,
        d1,
        d2,
        sensors: vec![
            ("GA", "a1", 600, a1),
            ("GA", "a2", 600, a2),
            ("GB", "b1", 300, b1),
        ],
    }
}

/// The test's own computation: (online rate, completeness, received, expected) over the
/// gateways given, from the reading times it made. A gateway is online in an hour (its slot:
/// max(1 h, 3 × 600 s or 3 × 300 s) = 1 h) where any of its sensors delivered.
fn expected(s: &Seeded, gateways: &[&str], p: &Period) -> (f64, f64, i64, i64) {
    let mut online = 0;
    let mut slots = 0;
    for g in gateways {
        let hours: BTreeSet<i64> = s
            .sensors
            .iter()
            .filter(|(gw, ..)| gw == g)
            .flat_map(|(.., times)| times.iter())
            .filter(|t| **t >= p.from && **t < p.to)
            .map(|t| (*t - p.from).num_seconds() / 3600)
            .collect();
        online += hours.len() as i64;
        slots += 24;
    }
    let (mut received, mut expected) = (0, 0);
    for (g, _, interval, times) in &s.sensors {
        if gateways.contains(g) {
            let want = 86_400 / interval;
            received +=
                (times.iter().filter(|t| **t >= p.from && **t < p.to).count() as i64).min(want);
            expected += want;
        }
    }
    (
        online as f64 / slots as f64,
        received as f64 / expected as f64,
        received,
        expected,
    )
}

async fn of(s: &Seeded, division: &str, p: &Period) -> Figures {
    figures(&s.store.pool, division, p).await.unwrap().unwrap()
}

fn named(f: &Figures, kind: &str) -> Vec<(String, Option<f64>)> {
    f.exceptions
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.name.clone(), e.figure))
        .collect()
}

#[tokio::test]
async fn online_rate_and_completeness_match_a_count_of_the_seeded_readings_for_two_counties_and_two_days()
 {
    let s = seed().await;
    for (division, gateways) in [
        (COUNTY, &["GA"][..]),
        (CUIPING, &["GB"][..]),
        (CITY, &["GA", "GB"][..]),
    ] {
        for p in [&s.d1, &s.d2] {
            let f = of(&s, division, p).await;
            let (online, complete, received, expected) = expected(&s, gateways, p);
            assert_eq!(f.online_rate, Some(online), "{division} {}", p.label);
            assert_eq!(f.completeness, Some(complete), "{division} {}", p.label);
            assert_eq!(
                (f.readings_received, f.readings_expected),
                (received, expected)
            );
        }
    }
    // The figures a person reads, worked out by hand as well.
    let gao2 = of(&s, COUNTY, &s.d2).await;
    assert_eq!(gao2.online_rate, Some(0.5), "GA was offline half of day 2");
    assert_eq!(
        of(&s, COUNTY, &s.d1).await.completeness,
        Some(0.75),
        "a2 at half its interval"
    );
    assert_eq!(gao2.completeness, Some(0.375));
    // Exceptions by name: which gateway, which sensor.
    assert_eq!(
        named(&gao2, "gateway_offline"),
        [("GA".to_owned(), Some(0.5))]
    );
    assert_eq!(
        named(&gao2, "sensor_incomplete"),
        [
            ("GA/a1".to_owned(), Some(0.5)),
            ("GA/a2".to_owned(), Some(0.25))
        ]
    );
    assert_eq!(
        named(&of(&s, COUNTY, &s.d1).await, "sensor_incomplete"),
        [("GA/a2".to_owned(), Some(0.5))]
    );
    assert!(named(&of(&s, CUIPING, &s.d2).await, "gateway_offline").is_empty());
}

#[tokio::test]
async fn warnings_responses_notifications_approvals_and_unmonitored_sites_by_division_and_day() {
    let s = seed().await;
    let gao1 = of(&s, COUNTY, &s.d1).await;
    let gao2 = of(&s, COUNTY, &s.d2).await;
    let cui1 = of(&s, CUIPING, &s.d1).await;
    let cui2 = of(&s, CUIPING, &s.d2).await;
    let city2 = of(&s, CITY, &s.d2).await;

    assert_eq!(
        (
            gao1.warnings.yellow,
            gao1.warnings.orange,
            gao1.warnings.red
        ),
        (1, 1, 0)
    );
    assert_eq!((gao1.responses.raised, gao1.responses.acknowledged), (2, 1));
    assert_eq!(gao1.responses.ack_mean_s, Some(1800.0));
    assert_eq!(gao2.responses.raised, 0);
    assert_eq!(
        (cui2.warnings.red, cui2.responses.ack_mean_s),
        (1, Some(300.0))
    );
    assert_eq!(
        city2.warnings.red, 1,
        "the city sees its counties' warnings"
    );
    assert_eq!(
        named(&gao1, "warning_unacknowledged"),
        [("site-GA orange".to_owned(), None)]
    );

    let n = gao1.notifications;
    assert_eq!(
        (n.queued, n.sent, n.delivered, n.confirmed, n.failed),
        (2, 2, 2, 1, 0)
    );
    assert_eq!(
        (cui2.notifications.queued, cui2.notifications.failed),
        (1, 1)
    );
    assert_eq!(cui1.notifications.queued, 0);

    assert_eq!(
        (
            gao1.approvals.decided,
            gao1.approvals.on_time,
            gao1.approvals.late
        ),
        (1, 1, 0)
    );
    assert_eq!(gao1.approvals.open_overdue, 0, "due on day 2");
    assert_eq!(
        (
            gao2.approvals.decided,
            gao2.approvals.late,
            gao2.approvals.open_overdue
        ),
        (1, 1, 1)
    );
    assert_eq!(
        named(&gao2, "approval_overdue"),
        [("open overdue".to_owned(), None)]
    );
    assert_eq!(cui2.approvals.decided, 0);

    // site-C has no sensor: without monitoring every day; site-GA delivered in day 2's last 24 h.
    assert_eq!(cui1.sites_without_monitoring, ["site-C"]);
    assert_eq!(cui2.sites_without_monitoring, ["site-C"]);
    assert!(gao2.sites_without_monitoring.is_empty());
    assert_eq!((cui1.sites, gao1.sites), (2, 1));
}

#[tokio::test]
async fn the_scheduler_stores_the_daily_report_once_raises_its_exceptions_and_it_downloads_as_xlsx_and_pdf()
 {
    use geohazard_reports::{Lines, schedule, stored};
    let s = seed().await;
    let now = s.d2.to + Duration::hours(6);
    let made = schedule::produce_due(&s.store.pool, now, &Lines::default())
        .await
        .unwrap();
    assert!(
        made >= 4,
        "daily and monthly reports of the province, city and two counties: {made}"
    );
    assert_eq!(
        schedule::produce_due(&s.store.pool, now, &Lines::default())
            .await
            .unwrap(),
        0,
        "once"
    );
    let all = vec![COUNTY.to_owned(), CUIPING.to_owned(), CITY.to_owned()];
    let rows = stored::list(&s.store.pool, &all, Some(COUNTY), 10)
        .await
        .unwrap();
    let day = rows
        .iter()
        .find(|r| r.kind == "day")
        .expect("Gao's daily report");
    assert_eq!(day.label, s.d2.label);
    let (_, f, raised) = stored::get(&s.store.pool, &all, day.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((f.online_rate, f.completeness), (Some(0.5), Some(0.375)));
    let rules: Vec<&str> = raised.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "online_rate_below",
            "completeness_below",
            "approval_overdue"
        ]
    );
    let told: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE report_id = $1")
        .bind(day.id)
        .fetch_one(&s.store.pool)
        .await
        .unwrap();
    assert_eq!(told, 3, "the county's duty officer, once per exception");

    let xlsx = geohazard_reports::xlsx::workbook(&f).unwrap();
    assert!(xlsx.starts_with(b"PK"), "an XLSX (zip) workbook");
    let html = geohazard_reports::html::page(&f);
    let pdf = geohazard_reports::pdf::print("chromium", &html)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("gh-report-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "值班日报",
        "设备在线率",
        "50.0%",
        "数据完整率",
        "37.5%",
        "GA/a2",
        "审批逾期",
    ] {
        assert!(text.contains(want), "the PDF's text holds {want}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Response times past the acknowledgement, worked out here from the times the test wrote:
/// Gao's yellow (day 1, 02:00) opened an incident at 02:20 whose first task was on site at
/// 03:35 (a second one at 04:00); Gao's orange (10:00) an incident at 10:45 whose only task
/// never reached the site; Cuiping's red (day 2, 08:00) joined an incident opened an hour
/// before it (counted as opened when raised) with a task on site at 08:30.
#[tokio::test]
async fn response_times_raised_to_incident_and_to_team_on_site_match_the_seeded_times() {
    let s = seed().await;
    let t = |p: &Period, h: i64, m: i64| p.from + Duration::hours(h) + Duration::minutes(m);
    // (warning level, raised, incident opened, the incident's tasks' on-site times; None: none)
    let y = (
        t(&s.d1, 2, 0),
        t(&s.d1, 2, 20),
        vec![t(&s.d1, 3, 35), t(&s.d1, 4, 0)],
    );
    let o = (t(&s.d1, 10, 0), t(&s.d1, 10, 45), vec![]);
    let r = (t(&s.d2, 8, 0), t(&s.d2, 7, 0), vec![t(&s.d2, 8, 30)]);
    exec(&s.store, &format!(
        "INSERT INTO teams (division_code, name, kind, base_longitude, base_latitude)
         VALUES ('{COUNTY}', '高县应急队', 'rescue', 104.5, 28.4), ('{CUIPING}', '翠屏应急队', 'rescue', 104.6, 28.8);
         INSERT INTO incidents (division_code, title, class, opened_at) VALUES
           ('{COUNTY}', 'yellow', 'small', '{yo}'), ('{COUNTY}', 'orange', 'small', '{oo}'),
           ('{CUIPING}', 'red', 'small', '{ro}');
         INSERT INTO incident_warnings (incident_id, warning_id)
         SELECT i.id, w.id FROM incidents i JOIN warnings w ON w.level = i.title;
         INSERT INTO tasks (incident_id, team_id, title, status)
         SELECT i.id, (SELECT id FROM teams WHERE division_code = i.division_code), i.title || '-' || n, 'assigned'
         FROM incidents i, generate_series(1, 2) n;
         INSERT INTO task_events (task_id, at, from_status, to_status) VALUES
           ((SELECT id FROM tasks WHERE title = 'yellow-1'), '{y1en}', 'accepted', 'en_route'),
           ((SELECT id FROM tasks WHERE title = 'yellow-1'), '{y1}', 'en_route', 'on_site'),
           ((SELECT id FROM tasks WHERE title = 'yellow-2'), '{y2}', 'en_route', 'on_site'),
           ((SELECT id FROM tasks WHERE title = 'orange-1'), '{o1}', 'assigned', 'accepted'),
           ((SELECT id FROM tasks WHERE title = 'red-1'), '{r1}', 'en_route', 'on_site');",
        yo = y.1, oo = o.1, ro = r.1,
        y1en = y.0 + Duration::minutes(40), y1 = y.2[0], y2 = y.2[1],
        o1 = o.0 + Duration::minutes(50), r1 = r.2[0],
    ))
    .await;

    // The test's own computation: per warning, seconds to the incident (not before the
    // raising) and to the first task on site; count, mean and longest of those that exist.
    type Seed = (DateTime<Utc>, DateTime<Utc>, Vec<DateTime<Utc>>);
    let times = |ws: &[&Seed]| {
        let incident: Vec<f64> = ws
            .iter()
            .map(|(raised, opened, _)| (*opened - *raised).num_seconds().max(0) as f64)
            .collect();
        let on_site: Vec<f64> = ws
            .iter()
            .filter_map(|(raised, _, sites)| {
                sites
                    .iter()
                    .min()
                    .map(|at| (*at - *raised).num_seconds() as f64)
            })
            .collect();
        let stat = |v: &[f64]| {
            (
                v.len() as i64,
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64),
                v.iter().copied().reduce(f64::max),
            )
        };
        (stat(&incident), stat(&on_site))
    };
    let got = |f: &Figures| {
        let r = f.responses;
        (
            (r.incidents, r.incident_mean_s, r.incident_max_s),
            (r.on_site, r.on_site_mean_s, r.on_site_max_s),
        )
    };
    let gao1 = of(&s, COUNTY, &s.d1).await;
    assert_eq!(got(&gao1), times(&[&y, &o]));
    assert_eq!(got(&of(&s, CITY, &s.d1).await), times(&[&y, &o]));
    assert_eq!(got(&of(&s, CUIPING, &s.d2).await), times(&[&r]));
    assert_eq!(got(&of(&s, COUNTY, &s.d2).await), times(&[]));
    // Worked out by hand too: 20 and 45 min to the incident, 95 min to the site.
    assert_eq!(
        got(&gao1),
        (
            (2, Some(1950.0), Some(2700.0)),
            (1, Some(5700.0), Some(5700.0))
        )
    );
    assert_eq!(
        got(&of(&s, CUIPING, &s.d2).await),
        ((1, Some(0.0), Some(0.0)), (1, Some(1800.0), Some(1800.0)))
    );
    // The acknowledgement times are untouched by incidents.
    assert_eq!(gao1.responses.ack_mean_s, Some(1800.0));
    // And the report a person reads holds them.
    let text = geohazard_reports::render::summary(&gao1);
    let row = |zh: &str| text.iter().find(|(z, ..)| *z == zh).unwrap().2.clone();
    assert_eq!(row("平均立案时长（分钟）"), "32.5");
    assert_eq!(row("平均到场时长（分钟）"), "95.0");
}

#[tokio::test]
async fn patrols_kept_against_each_sites_schedule_match_a_count_of_the_seeded_patrols() {
    use chrono::Datelike;
    let s = seed().await;
    let t = |p: &Period, h: i64| p.from + Duration::hours(h);
    let month =
        s.d1.from
            .with_timezone(&geohazard_reports::period::CST)
            .month() as i16;
    let other_month = month % 12 + 1;
    // site-GA (Gao): every 12 h all year, long since. site-C (Cuiping): every 6 h in this
    // month's season, written at noon of day 1. site-B (Cuiping): daily only in another month,
    // nothing off season: no patrol is due.
    let long_ago = s.d1.from - Duration::days(30);
    let written = t(&s.d1, 12);
    let patrols = [
        ("site-GA", t(&s.d1, 3)),
        ("site-GA", t(&s.d1, 20)),
        ("site-GA", t(&s.d1, 21)),
        ("site-GA", t(&s.d2, 5)),
        ("site-C", t(&s.d1, 13)),
        ("site-B", t(&s.d1, 9)),
    ];
    let values: Vec<String> = patrols
        .iter()
        .map(|(site, at)| {
            format!(
                "((SELECT id FROM hazard_sites WHERE code = '{site}'), (SELECT min(id) FROM officers), '{at}', 104.6, 28.8, '[]')"
            )
        })
        .collect();
    exec(&s.store, &format!(
        "INSERT INTO patrol_schedules (site_id, interval_hours, season, off_season_hours, items, created_at)
         SELECT id, 12, '{{}}', NULL, '{{cracks}}', '{long_ago}' FROM hazard_sites WHERE code = 'site-GA';
         INSERT INTO patrol_schedules (site_id, interval_hours, season, off_season_hours, items, created_at)
         SELECT id, 6, ARRAY[{month}]::smallint[], NULL, '{{cracks}}', '{written}' FROM hazard_sites WHERE code = 'site-C';
         INSERT INTO patrol_schedules (site_id, interval_hours, season, off_season_hours, items, created_at)
         SELECT id, 24, ARRAY[{other_month}]::smallint[], NULL, '{{cracks}}', '{long_ago}' FROM hazard_sites WHERE code = 'site-B';
         INSERT INTO patrols (site_id, officer_id, at, longitude, latitude, answers) VALUES {};",
        values.join(", ")
    ))
    .await;

    // The test's own count: a fixed interval from a start; slot k = [start + k·h, start +
    // (k+1)·h); the slots that fit in the day, and those holding a patrol.
    let count = |site: &str, start: DateTime<Utc>, hours: i64, p: &Period| {
        let start = start.max(p.from);
        let slots = (p.to - start).num_hours() / hours;
        let kept: BTreeSet<i64> = patrols
            .iter()
            .filter(|(s, at)| *s == site && *at >= start && *at < p.to)
            .map(|(_, at)| (*at - start).num_hours() / hours)
            .collect();
        (slots, kept.len() as i64)
    };
    let got = |f: &Figures| -> Vec<(String, i64, i64)> {
        f.patrols
            .iter()
            .map(|p| (p.site.clone(), p.slots, p.kept))
            .collect()
    };
    let with = |site: &str, (slots, kept): (i64, i64)| (site.to_owned(), slots, kept);
    let gao1 = of(&s, COUNTY, &s.d1).await;
    assert_eq!(
        got(&gao1),
        vec![with("site-GA", count("site-GA", long_ago, 12, &s.d1))]
    );
    // By hand: day 1 both halves patrolled; day 2 only the morning.
    assert_eq!(got(&gao1), vec![with("site-GA", (2, 2))]);
    assert_eq!(gao1.patrol_rate, Some(1.0));
    let gao2 = of(&s, COUNTY, &s.d2).await;
    assert_eq!(got(&gao2), vec![with("site-GA", (2, 1))]);
    assert_eq!(
        named(&gao2, "patrol_missed"),
        vec![("site-GA".into(), Some(0.5))]
    );

    // Cuiping: site-B owes nothing this month; site-C from noon on day 1: 13:00 kept, 18:00
    // missed; day 2 none of four.
    let cuiping1 = of(&s, CUIPING, &s.d1).await;
    assert_eq!(
        got(&cuiping1),
        vec![
            with("site-B", (0, 0)),
            with("site-C", count("site-C", written, 6, &s.d1))
        ]
    );
    assert_eq!(got(&cuiping1)[1], with("site-C", (2, 1)));
    assert_eq!(
        got(&of(&s, CUIPING, &s.d2).await),
        vec![with("site-B", (0, 0)), with("site-C", (4, 0))]
    );
    // The city: both counties together.
    let city1 = of(&s, CITY, &s.d1).await;
    assert_eq!(city1.patrol_rate, Some(3.0 / 4.0));
    assert_eq!(
        named(&city1, "patrol_missed"),
        vec![("site-C".into(), Some(0.5))]
    );
}
