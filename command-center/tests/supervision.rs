//! Integrated supervision through the API: the figures of a division and day, the stored
//! reports and their downloads, scoped by division (a county officer sees only their county, a
//! province officer any), with every download in the audit log. The data set: Gao county's
//! gateway GA silent the first half of the day, Cuiping's GB reporting all day, one reading
//! every 600 s; the right answers are counted here from the readings the test made.

mod common;

use std::collections::BTreeSet;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Duration, Utc};
use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_reports::{Lines, Period, schedule};
use geohazard_store::ReadingRows;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::api::{Response, StatusCode};
use geohazard_testkit::fixtures::{self, CITY, COUNTY, PROVINCE};
use serde_json::Value;

const INTERVAL_S: i64 = 600;

struct Seeded {
    env: Center,
    day: Period,
    /// (gateway, reading times).
    readings: Vec<(&'static str, Vec<DateTime<Utc>>)>,
}

fn every(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    fixtures::every(from, to, Duration::seconds(INTERVAL_S))
}

/// Officers of Gao (duty officer), Cuiping (duty officer), the province (supervisor) and a
/// field staff member of Gao; the two gateways and their readings; the reports of the day made
/// by the scheduler as it runs six hours after the day ended.
async fn seed() -> Seeded {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env.officer("gao", COUNTY, Role::DutyOfficer).await;
    env.officer("cuiping", NEIGHBOUR, Role::DutyOfficer).await;
    env.officer("sichuan", PROVINCE, Role::Supervisor).await;
    env.officer("field", COUNTY, Role::FieldStaff).await;
    let store = &env.store;
    fixtures::register_gateway(store, "GA", &["a1"]).await;
    let sb = registry::upsert_site(
        &store.pool,
        &NewSite {
            code: "site-B",
            name: "翠屏滑坡",
            kind: SiteKind::Landslide,
            division_code: NEIGHBOUR,
            location: geo::Point::new(104.6, 28.8),
            threat_zone: None,
            scale_class: None,
            volume_m3: None,
            threatened_people: 10,
            threatened_property: 5.0,
        },
    )
    .await
    .unwrap();
    let gb = registry::upsert_gateway(&store.pool, "GB", Some(sb), "GB", None)
        .await
        .unwrap();
    fixtures::register_crack_meter(store, gb, sb, "b1").await;

    let day = Period::day(Period::date_of(Utc::now()) - Duration::days(3));
    let long_ago = day.from - Duration::days(30);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "UPDATE sensors SET sampling_interval_s = {INTERVAL_S}, created_at = '{long_ago}';
         UPDATE gateways SET created_at = '{long_ago}'; UPDATE hazard_sites SET created_at = '{long_ago}';"
    )))
    .execute(&store.pool)
    .await
    .unwrap();
    let noon = day.from + Duration::hours(12);
    let readings = vec![("GA", every(noon, day.to)), ("GB", every(day.from, day.to))];
    let ids: Vec<(i32, String)> =
        sqlx::query_as("SELECT s.id, g.code FROM sensors s JOIN gateways g ON g.id = s.gateway_id")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let mut rows = ReadingRows::with_capacity(300);
    for (gateway, times) in &readings {
        let sensor = ids.iter().find(|(_, g)| g == gateway).unwrap().0;
        for t in times {
            rows.push(sensor, *t, 1.0, 0);
        }
    }
    fixtures::store_readings(store, &rows).await;
    let made = schedule::produce_due(&store.pool, day.to + Duration::hours(6), &Lines::default())
        .await
        .unwrap();
    assert!(made >= 4, "the day's reports of four divisions: {made}");
    Seeded { env, day, readings }
}

impl Seeded {
    /// The test's own count over `gateways`: online hours / hours, readings received /
    /// expected (one every 600 s).
    fn expected(&self, gateways: &[&str]) -> (f64, f64) {
        let (mut online, mut slots, mut received, mut expected) = (0, 0, 0, 0);
        for (gateway, times) in &self.readings {
            if !gateways.contains(gateway) {
                continue;
            }
            let hours: BTreeSet<i64> = times
                .iter()
                .map(|t| (*t - self.day.from).num_hours())
                .collect();
            online += hours.len();
            slots += 24;
            received += times.len();
            expected += 86_400 / INTERVAL_S as usize;
        }
        (
            online as f64 / slots as f64,
            received as f64 / expected as f64,
        )
    }

    /// Report `id` in `form`, which must be there as `content_type`.
    async fn download(&self, token: &str, id: i64, form: &str, content_type: &str) -> Response {
        let r = self
            .env
            .api
            .get_response(token, &format!("/supervision/reports/{id}/{form}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{form}");
        let got = r.headers()["content-type"].to_str().unwrap();
        assert!(got.starts_with(content_type), "{form}: {got}");
        r
    }

    /// `GET /supervision/figures?{query}` as `token`.
    async fn figures(&self, token: &str, query: &str) -> (StatusCode, Value) {
        self.env
            .api
            .get(token, &format!("/supervision/figures?{query}"))
            .await
    }

    async fn report_of(&self, token: &str, division: &str) -> Value {
        let (status, list) = self.env.api.get(token, "/supervision/reports").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["division_code"] == division && r["kind"] == "day" && r["label"] == self.day.label
            })
            .unwrap_or_else(|| panic!("{division}'s daily report in {list}"))
            .clone()
    }
}

#[tokio::test]
async fn a_county_officer_reads_only_their_countys_figures_and_reports_and_a_province_officer_any()
{
    let s = seed().await;
    let env = &s.env;
    let gao = env.login("gao").await;
    let sichuan = env.login("sichuan").await;
    let day = &s.day.label;

    // The county's own figures, as counted here.
    let (status, f) = s.figures(&gao, &format!("date={day}")).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["division_code"], COUNTY);
    let (online, complete) = s.expected(&["GA"]);
    assert_eq!(f["online_rate"].as_f64(), Some(online));
    assert_eq!(f["completeness"].as_f64(), Some(complete));
    assert_eq!(online, 0.5, "GA was silent half the day");
    let offline: Vec<&Value> = f["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "gateway_offline")
        .collect();
    assert_eq!(offline.len(), 1, "{f}");
    assert_eq!(offline[0]["name"], "GA", "the exception names the gateway");
    assert_eq!(offline[0]["site"], "site-GA", "and its site");

    // Another county, or the city above, is not there for a county officer.
    for division in [NEIGHBOUR, CITY] {
        let (status, body) = s
            .figures(&gao, &format!("division={division}&date={day}"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{division}: {body}");
    }
    // The province reads any division below it: Cuiping, and the city with both counties.
    let (status, f) = s
        .figures(&sichuan, &format!("division={NEIGHBOUR}&date={day}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["online_rate"].as_f64(), Some(s.expected(&["GB"]).0));
    let (_, f) = s
        .figures(
            &sichuan,
            &format!("division={CITY}&period=month&date={day}"),
        )
        .await;
    assert_eq!(f["division_code"], CITY);
    assert_eq!(f["period"]["kind"], "month");

    // The stored reports: the county's only for the county officer, every division's for the
    // province.
    let (status, list) = env.api.get(&gao, "/supervision/reports").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let divisions: BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["division_code"].as_str().unwrap())
        .collect();
    assert_eq!(divisions, BTreeSet::from([COUNTY]));
    let (_, list) = env.api.get(&sichuan, "/supervision/reports").await;
    let divisions: BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["division_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        divisions,
        BTreeSet::from([PROVINCE, CITY, COUNTY, NEIGHBOUR])
    );
    let (status, _) = env
        .api
        .get(&gao, &format!("/supervision/reports?division={NEIGHBOUR}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Cuiping's report is not there for Gao, in any form.
    let cuiping = s.report_of(&sichuan, NEIGHBOUR).await["id"]
        .as_i64()
        .unwrap();
    for form in ["", "/xlsx", "/pdf", "/html"] {
        let r = env
            .api
            .get_response(&gao, &format!("/supervision/reports/{cuiping}{form}"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{form}");
    }
    let (status, detail) = env
        .api
        .get(&sichuan, &format!("/supervision/reports/{cuiping}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["figures"]["online_rate"].as_f64(), Some(1.0));

    // Field staff have no part in supervision; nobody without a session has any.
    let field = env.login("field").await;
    let (status, _) = s.figures(&field, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = env
        .api
        .http
        .get(env.api.url("/supervision/reports"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = s.figures(&gao, "period=week").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_daily_report_downloads_as_a_workbook_that_opens_and_a_pdf_whose_text_holds_the_figures_each_download_audited()
 {
    let s = seed().await;
    let env = &s.env;
    let gao = env.login("gao").await;
    let report = s.report_of(&gao, COUNTY).await;
    let id = report["id"].as_i64().unwrap();
    assert_eq!(report["label"], s.day.label);
    let (online, complete) = s.expected(&["GA"]);
    let online = format!("{:.1}%", online * 100.0);
    let complete = format!("{:.1}%", complete * 100.0);

    // The workbook opens, and its summary holds the figures.
    let r = s
        .download(&gao, id, "xlsx", "application/vnd.openxmlformats")
        .await;
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    let bytes = r.bytes().await.unwrap();
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("the XLSX opens");
    assert_eq!(
        book.sheet_names(),
        [
            "概要 Summary",
            "网关 Gateways",
            "传感器 Sensors",
            "异常 Exceptions"
        ]
    );
    let summary = book.worksheet_range("概要 Summary").unwrap();
    let value = |metric: &str| -> String {
        summary
            .rows()
            .find(|row| row.first() == Some(&Data::String(metric.into())))
            .and_then(|row| row.get(2))
            .unwrap_or_else(|| panic!("{metric} in the summary"))
            .to_string()
    };
    assert_eq!(value("设备在线率"), online);
    assert_eq!(value("数据完整率"), complete);
    let exceptions = book.worksheet_range("异常 Exceptions").unwrap();
    assert!(
        exceptions
            .rows()
            .any(|row| row.get(1) == Some(&Data::String("GA".into()))),
        "the offline gateway by name"
    );

    // The printable page and the PDF printed from it.
    let r = s.download(&gao, id, "html", "text/html").await;
    let page = r.text().await.unwrap();
    assert!(page.contains("lang=\"zh-CN\"") && page.contains("值班日报"));
    let pdf = s.download(&gao, id, "pdf", "application/pdf").await;
    let pdf = pdf.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "值班日报",
        &s.day.label,
        "设备在线率",
        &online,
        "数据完整率",
        &complete,
        "GA",
        "网关离线",
        &format!("在线率 {online}"),
    ] {
        assert!(text.contains(want), "the PDF's text holds {want}: {text}");
    }

    // Each download is in the audit log: who, which report, which form.
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.target, a.detail ->> 'format' FROM audit_log a JOIN officers o ON o.id = a.officer_id
         WHERE a.action = 'report.download' AND o.username = 'gao' ORDER BY a.id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    let target = format!("report:{id}");
    assert_eq!(
        audited,
        [
            (target.clone(), "xlsx".to_owned()),
            (target.clone(), "html".to_owned()),
            (target, "pdf".to_owned())
        ]
    );
}
