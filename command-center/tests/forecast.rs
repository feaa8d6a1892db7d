//! The regional geohazard meteorological risk warning through the API and the console, against
//! a real command-center, PostgreSQL and Chromium: a province's officers import the zoning and
//! the rain (a malformed file is refused naming its line), run the model, adjust a division with
//! a reason (audited), submit; the officer who prepared it may not approve it, a second officer
//! does, which releases it (notifications queued, a CAP alert valid against the OASIS schema);
//! a revision is a CAP `Update` and a withdrawal a CAP `Cancel`, each referencing the original;
//! the public page and feed, read without signing in, show released items only. A county
//! officer neither sees nor runs the province's warnings. Screenshots go to
//! `target/screenshots/forecast-*.png`.

mod common;

use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use common::{Center, PASSWORD};
use geo::{Geometry, Rect, coord};
use geohazard_command_center::{NewOfficer, Role, add_officer};
use geohazard_domain::WarningLevel;
use geohazard_forecast::cap;
use geohazard_forecast::grid::GridSpec;
use geohazard_forecast::issue::CST;
use geohazard_forecast::micaps::Micaps4;
use geohazard_store::registry::{self, DivisionLevel, NewDivision, NewSite, SiteKind};
use geohazard_testkit::browser::{Locator, browser};
use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE};
use ndarray::Array2;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The east county, Gao's (`COUNTY`, the west) neighbour.
const EAST: &str = "511526";

fn spec() -> GridSpec {
    GridSpec {
        west: 104.0,
        south: 28.0,
        cell: 0.1,
        ncols: 10,
        nrows: 6,
    }
}

fn rect(w: f64, e: f64) -> Option<Geometry<f64>> {
    Some(Geometry::Polygon(
        Rect::new(coord! { x: w, y: 28.0 }, coord! { x: e, y: 28.6 }).to_polygon(),
    ))
}

/// Today in the agency's zone: what is released for it is in force now.
fn today() -> NaiveDate {
    Utc::now().with_timezone(&CST).date_naive()
}

/// The zoning as an ESRI ASCII grid: class 4 (very high) in the east half, 1 in the west.
fn zoning_asc() -> String {
    let s = spec();
    let mut out = format!(
        "ncols {}\nnrows {}\nxllcorner {}\nyllcorner {}\ncellsize {}\nNODATA_value -9999\n",
        s.ncols, s.nrows, s.west, s.south, s.cell
    );
    for _ in 0..s.nrows {
        let row: Vec<&str> = (0..s.ncols)
            .map(|c| if c >= 5 { "4" } else { "1" })
            .collect();
        out.push_str(&row.join(" "));
        out.push('\n');
    }
    out
}

/// The forecast as a MICAPS category-4 file: 70 mm over the east, 10 mm over the west.
fn forecast_m4(date: NaiveDate) -> String {
    let s = spec();
    let rain = Array2::from_shape_fn(s.shape(), |(_, c)| if c >= 5 { 70.0 } else { 10.0 });
    Micaps4::from_cells(
        &s,
        &rain,
        date.and_hms_opt(8, 0, 0).unwrap(),
        24,
        "24小时降水预报",
    )
    .write()
}

/// A province with a city, two counties with boundaries and a site in each; the east's duty
/// officer on the roster; the province's duty officer, admin and supervisor, and a county duty
/// officer.
async fn province() -> Center {
    let env = common::start(|c| {
        c.forecast.publisher.sender = "dzzh@sc.example.cn".into();
        c.forecast.publisher.sender_name = "四川省地质灾害气象风险预警中心".into();
    })
    .await;
    for (code, name, level, parent, boundary) in [
        (PROVINCE, "四川省", DivisionLevel::Province, None, None),
        (
            CITY,
            "宜宾市",
            DivisionLevel::City,
            Some(PROVINCE),
            rect(104.0, 105.0),
        ),
        (
            COUNTY,
            "高县",
            DivisionLevel::County,
            Some(CITY),
            rect(104.0, 104.5),
        ),
        (
            EAST,
            "珙县",
            DivisionLevel::County,
            Some(CITY),
            rect(104.5, 105.0),
        ),
    ] {
        registry::upsert_division(
            &env.store.pool,
            &NewDivision {
                code,
                name,
                level,
                parent_code: parent,
                boundary,
            },
        )
        .await
        .unwrap();
    }
    for (code, name, division, lon) in [
        ("LS-EAST", "王家坡滑坡", EAST, 104.85),
        ("LS-WEST", "石门坎滑坡", COUNTY, 104.15),
    ] {
        registry::upsert_site(
            &env.store.pool,
            &NewSite {
                code,
                name,
                kind: SiteKind::Landslide,
                division_code: division,
                location: geo::Point::new(lon, 28.35),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: 10,
                threatened_property: 0.0,
            },
        )
        .await
        .unwrap();
    }
    geohazard_testkit::fixtures::on_duty_now(&env.store, "珙县值班员", "13900000002", EAST).await;
    geohazard_testkit::fixtures::on_duty_now(&env.store, "高县值班员", "13900000003", COUNTY).await;
    for (username, name, division, role) in [
        ("prov-duty", "省值班员", PROVINCE, Role::DutyOfficer),
        ("prov-admin", "省管理员", PROVINCE, Role::Admin),
        ("prov-chief", "省督导", PROVINCE, Role::Supervisor),
        ("gao-duty", "高县值班员", COUNTY, Role::DutyOfficer),
    ] {
        add_officer(
            &env.store.pool,
            &NewOfficer {
                username,
                display_name: Some(name),
                division_code: division,
                role,
                password: PASSWORD,
            },
        )
        .await
        .unwrap();
    }
    env
}

/// Imports the zoning, today's forecast and yesterday's observed rain (30 mm everywhere).
async fn inputs(env: &Center, token: &str) {
    let grids = [
        json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc(), "name": "zoning.asc"}),
        json!({"kind": "forecast", "format": "micaps4", "content": forecast_m4(today()), "name": "rain24.000"}),
        json!({"kind": "observed", "format": "stations_csv",
               "content": "station,lon,lat,rain_mm\n56492,104.25,28.3,30\n56494,104.75,28.3,30\n",
               "date": today() - Days::new(1), "name": "obs.csv"}),
    ];
    for g in grids {
        let body = import_grid(env, token, g).await;
        assert_eq!(body["cells"], 60, "{body}");
    }
}

/// Imports the grid `g` (`POST /forecast/grids`) as the officer of `token`: the grid stored.
async fn import_grid(env: &Center, token: &str, g: Value) -> Value {
    let (status, body) = env.api.post(token, "/forecast/grids", g).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// `POST /forecast/warnings/{id}/{what}` as the officer of `token`.
async fn on(env: &Center, token: &str, id: i64, what: &str, body: Value) -> (StatusCode, Value) {
    env.api
        .post(token, &format!("/forecast/warnings/{id}/{what}"), body)
        .await
}

async fn public(env: &Center, path: &str) -> (StatusCode, String) {
    let r = reqwest::get(format!("http://{}{path}", env.api.addr()))
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn audit_actions(env: &Center, target: &str) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT action, detail FROM audit_log WHERE target = $1 AND action LIKE 'forecast.%' ORDER BY id",
    )
    .bind(target)
    .fetch_all(&env.store.pool)
    .await
    .unwrap()
}

fn levels_of(detail: &Value, list: &str) -> Vec<(String, String)> {
    detail[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_malformed_micaps_file_or_station_table_is_refused_naming_its_line() {
    let env = province().await;
    let duty = env.login("prov-duty").await;
    // Rain before any zoning has no grid to go on.
    let (status, body) = env
        .api
        .post(
            &duty,
            "/forecast/grids",
            json!({"kind": "forecast", "format": "micaps4", "content": forecast_m4(today())}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = env
        .api
        .post(
            &duty,
            "/forecast/grids",
            json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc().replacen("\n1 1 1", "\n1 7 1", 1)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("line 7"), "{body}");
    import_grid(
        &env,
        &duty,
        json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc()}),
    )
    .await;
    // A real-format file with its header's grid size broken on line 2.
    let good = forecast_m4(today());
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    lines[1] = lines[1].replacen(" 10 6 ", " ten 6 ", 1);
    assert_ne!(
        lines[1],
        good.lines().nth(1).unwrap(),
        "the header was broken"
    );
    let (status, body) = env
        .api
        .post(
            &duty,
            "/forecast/grids",
            json!({"kind": "forecast", "format": "micaps4", "content": lines.join("\n")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("MICAPS: line 2:"),
        "{body}"
    );
    // A value that is no number on the file's fourth line (a grid row); a station table's rain
    // that is no number on its third line.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    lines[3] = lines[3].replacen("70.0", "7O.0", 1);
    for (grid, refusal) in [
        (
            json!({"kind": "forecast", "format": "micaps4", "content": lines.join("\n")}),
            "MICAPS: line 4:",
        ),
        (
            json!({"kind": "observed", "format": "stations_csv", "date": today(),
                   "content": "station,lon,lat,rain_mm\nA,104.2,28.3,12\nB,104.7,28.3,lots\n"}),
            "stations: line 3:",
        ),
    ] {
        let (status, body) = env.api.post(&duty, "/forecast/grids", grid).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"].as_str().unwrap().starts_with(refusal),
            "{body}"
        );
    }
    // Nothing of the refused files was stored; the good ones were, each audited.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM forecast_grids")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'forecast.import'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn a_draft_is_adjusted_submitted_approved_by_a_second_officer_revised_and_withdrawn() {
    let env = province().await;
    let duty = env.login("prov-duty").await;
    let admin = env.login("prov-admin").await;
    let chief = env.login("prov-chief").await;
    let gao = env.login("gao-duty").await;
    inputs(&env, &duty).await;

    // A county does not issue regional warnings.
    let (status, _) = env.api.post(&gao, "/forecast/runs", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The run, once however often it is retried with its key.
    let http = reqwest::Client::new();
    let mut ids = vec![];
    for _ in 0..2 {
        let r = http
            .post(env.api.url("/forecast/runs"))
            .bearer_auth(&admin)
            .header("idempotency-key", "run-1")
            .json(&json!({"date": today()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    assert_eq!(ids[0], ids[1]);
    let id = ids[0];
    let (status, d) = env
        .api
        .get(&duty, &format!("/forecast/warnings/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "draft");
    // East, class 4: 70 + 0.8·30 = 94 mm ≥ the red line; west, class 1: 34 mm, no level.
    assert_eq!(
        levels_of(&d, "divisions"),
        [
            (CITY.to_owned(), "red".to_owned()),
            (EAST.to_owned(), "red".to_owned())
        ]
    );
    assert_eq!(
        levels_of(&d, "sites"),
        [("LS-EAST".to_owned(), "red".to_owned())]
    );
    let features = d["areas"]["features"].as_array().unwrap();
    assert_eq!(features.len(), 1);
    assert_eq!(features[0]["properties"]["level"], "red");
    assert_eq!(features[0]["properties"]["cells"], 30);
    assert_eq!(features[0]["geometry"]["type"], "MultiPolygon");

    // The county officer sees no province warning at all.
    let (_, list) = env.api.get(&gao, "/forecast/warnings").await;
    assert_eq!(list, json!([]));
    let (status, _) = env.api.get(&gao, &format!("/forecast/warnings/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = on(
        &env,
        &gao,
        id,
        "adjust",
        json!({"division": COUNTY, "level": "blue", "reason": "本县降雨"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing of a draft is public.
    let (status, page) = public(&env, "/public/forecast").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("当前没有生效的地质灾害气象风险预警"),
        "{page}"
    );
    let (_, feed) = public(&env, "/public/forecast/cap.xml").await;
    assert!(!feed.contains("<entry>"), "{feed}");

    // An adjustment needs a reason; with one, it is stored and audited.
    let adjust = format!("/forecast/warnings/{id}/adjust");
    let (status, _) = env
        .api
        .post(
            &duty,
            &adjust,
            json!({"division": COUNTY, "level": "blue", "reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = env
        .api
        .post(
            &duty,
            &adjust,
            json!({"division": COUNTY, "level": "blue", "reason": "高县连续降雨，土体饱和"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, d) = env
        .api
        .get(&duty, &format!("/forecast/warnings/{id}"))
        .await;
    assert_eq!(
        levels_of(&d, "sites"),
        [
            ("LS-EAST".to_owned(), "red".to_owned()),
            ("LS-WEST".to_owned(), "blue".to_owned())
        ]
    );
    assert_eq!(d["adjustments"][0]["reason"], "高县连续降雨，土体饱和");
    assert_eq!(d["adjustments"][0]["cells"], 30);
    let audit = audit_actions(&env, &format!("forecast:{id}")).await;
    let (action, detail) = &audit[1];
    assert_eq!(action, "forecast.adjust");
    assert_eq!(detail["reason"], "高县连续降雨，土体饱和");
    assert_eq!(detail["before"].get(COUNTY), None);
    assert_eq!(detail["after"][COUNTY], "blue");

    // Approval needs a submission, then a second officer.
    let approve = format!("/forecast/warnings/{id}/approve");
    let (status, _) = env.api.post(&chief, &approve, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "not submitted yet");
    let (status, _) = env.api.post(&duty, &approve, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a duty officer does not approve"
    );
    let (status, body) = on(&env, &admin, id, "submit", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["submitted_at"].is_string());
    let (status, body) = env.api.post(&admin, &approve, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the admin who ran and submitted it may not approve it: {body}"
    );
    let (status, released) = env
        .api
        .post(
            &chief,
            &approve,
            json!({"text_zh": "请加强巡查，注意防范。"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["warning"]["state"], "released");
    let original = released["cap_identifier"].as_str().unwrap().to_owned();
    // The east's and west's duty people (app and SMS) and nobody else: no site has people.
    let mut notified: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.name, n.channel FROM notifications n JOIN people p ON p.id = n.person_id
         WHERE n.forecast_warning_id = $1",
    )
    .bind(id)
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    notified.sort();
    assert_eq!(
        notified,
        [
            ("珙县值班员".to_owned(), "app".to_owned()),
            ("珙县值班员".to_owned(), "sms".to_owned()),
            ("高县值班员".to_owned(), "app".to_owned()),
        ],
        "a blue level is told in the app only"
    );
    // The field app's list: the east's duty officer gets the red warning in both languages.
    let east: i64 = sqlx::query_scalar("SELECT id FROM people WHERE name = '珙县值班员'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let pending = geohazard_notify::app::pending(&env.store.pool, geohazard_domain::PersonId(east))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        pending[0].level,
        Some(geohazard_protocol::warning::WarningLevel::Red)
    );
    assert!(
        pending[0].text_zh.contains("珙县") && pending[0].text_zh.contains("红色"),
        "{pending:?}"
    );
    assert!(
        pending[0]
            .text_en
            .starts_with("Red geohazard meteorological risk warning for division 511526"),
        "{pending:?}"
    );

    // Public now: the page with its map and the feed with the alert, valid CAP 1.2.
    let (_, page) = public(&env, "/public/forecast").await;
    assert!(page.contains("红色预警区"), "{page}");
    assert!(page.contains("珙县"), "{page}");
    assert!(page.contains("（北京时间）"), "{page}");
    assert!(page.contains("data-level=\"red\""), "{page}");
    assert!(page.contains("请加强巡查，注意防范。"), "{page}");
    let (_, feed) = public(&env, "/public/forecast/cap.xml").await;
    assert_eq!(feed.matches("<entry>").count(), 1, "{feed}");
    assert!(feed.contains(&original), "{feed}");
    let (status, alert) = public(&env, &format!("/public/forecast/cap/{original}.xml")).await;
    assert_eq!(status, StatusCode::OK);
    cap::check_with_xmllint(&alert).expect("the alert is valid CAP 1.2");
    assert!(alert.contains("<msgType>Alert</msgType>"));

    // A revision: a new draft, adjusted, submitted, approved by another: a CAP Update.
    let (status, rev) = on(&env, &duty, id, "revise", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{rev}");
    let rev = rev["id"].as_i64().unwrap();
    // A draft of a revision is not public either.
    let (_, feed) = public(&env, "/public/forecast/cap.xml").await;
    assert_eq!(feed.matches("<entry>").count(), 1);
    let (status, _) = on(
        &env,
        &duty,
        rev,
        "adjust",
        json!({"division": COUNTY, "level": "yellow", "reason": "夜间雨强加大"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = on(&env, &duty, rev, "submit", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, updated) = on(&env, &admin, rev, "approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["superseded"], id);
    let update_id = updated["cap_identifier"].as_str().unwrap().to_owned();
    let (_, alert) = public(&env, &format!("/public/forecast/cap/{update_id}.xml")).await;
    cap::check_with_xmllint(&alert).expect("the update is valid CAP 1.2");
    assert!(alert.contains("<msgType>Update</msgType>"));
    assert!(
        alert.contains(&format!("dzzh@sc.example.cn,{original},")),
        "{alert}"
    );
    let (_, old) = env
        .api
        .get(&duty, &format!("/forecast/warnings/{id}"))
        .await;
    assert_eq!(old["state"], "superseded");

    // Withdrawn: a CAP Cancel referencing the original and the update; nothing in force.
    let (status, _) = on(&env, &duty, rev, "withdraw", json!({"reason": "降雨减弱"})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a duty officer does not withdraw"
    );
    let (status, cancelled) = on(
        &env,
        &chief,
        rev,
        "withdraw",
        json!({"reason": "降雨减弱，解除预警"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let cancel_id = cancelled["cap_identifier"].as_str().unwrap().to_owned();
    let (_, alert) = public(&env, &format!("/public/forecast/cap/{cancel_id}.xml")).await;
    cap::check_with_xmllint(&alert).expect("the cancel is valid CAP 1.2");
    assert!(alert.contains("<msgType>Cancel</msgType>"));
    assert!(
        alert.contains(&original) && alert.contains(&update_id),
        "{alert}"
    );
    let (_, page) = public(&env, "/public/forecast").await;
    assert!(
        page.contains("当前没有生效的地质灾害气象风险预警"),
        "{page}"
    );
    let (_, feed) = public(&env, "/public/forecast/cap.xml").await;
    assert_eq!(feed.matches("<entry>").count(), 3, "{feed}");

    let actions: Vec<String> = audit_actions(&env, &format!("forecast:{id}"))
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        actions,
        [
            "forecast.run",
            "forecast.adjust",
            "forecast.submit",
            "forecast.approve"
        ]
    );
    let actions: Vec<String> = audit_actions(&env, &format!("forecast:{rev}"))
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        actions,
        [
            "forecast.run",
            "forecast.adjust",
            "forecast.submit",
            "forecast.approve",
            "forecast.cancel"
        ]
    );
}

#[tokio::test]
async fn in_the_console_a_duty_officer_runs_and_adjusts_a_supervisor_approves_and_the_public_page_shows_it()
 {
    let env = province().await;
    let duty = env.login("prov-duty").await;
    inputs(&env, &duty).await;
    let b = browser().await;
    b.set_time_zone("Asia/Shanghai").await;

    // The duty officer runs the model and reviews the draft's map.
    b.sign_in(&env.api.console_url(), "prov-duty", PASSWORD)
        .await;
    b.click("#tab-forecast").await;
    b.until(
        "the forecast page",
        Duration::from_secs(10),
        "return document.getElementById('forecast-run')",
    )
    .await;
    b.click("#forecast-run").await;
    b.until(
        "the draft's map with its red area",
        Duration::from_secs(15),
        "return document.querySelectorAll('#forecast-map path.leaflet-interactive').length >= 1 && document.querySelector('#forecast-sites tr[data-site=\"LS-EAST\"]')",
    )
    .await;
    b.screenshot("forecast-draft").await;

    // Adjusts Gao county to yellow with a reason, and submits.
    b.js("document.getElementById('adjust-division').value = '511525'; document.getElementById('adjust-level').value = 'yellow'; return true")
        .await;
    b.client
        .find(Locator::Id("adjust-reason"))
        .await
        .unwrap()
        .send_keys("高县连续降雨，土体饱和")
        .await
        .unwrap();
    b.click("#forecast-adjust").await;
    b.until(
        "Gao county yellow",
        Duration::from_secs(10),
        "return document.querySelector('#forecast-divisions tr[data-division=\"511525\"][data-level=\"yellow\"]') && document.querySelector('#forecast-adjustments li')",
    )
    .await;
    b.click("#forecast-submit").await;
    b.until(
        "awaiting approval",
        Duration::from_secs(10),
        "return document.querySelector('#forecast-state[data-state=\"submitted\"]')",
    )
    .await;
    b.screenshot("forecast-submitted").await;
    assert_eq!(b.js("return window.missingTexts").await, json!([]));
    let id: i64 = sqlx::query_scalar("SELECT id FROM forecast_warnings")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let adjusted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM forecast_adjustments WHERE warning_id = $1 AND division_code = '511525' AND level = 'yellow'",
    )
    .bind(id)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(adjusted, 1, "the console's adjustment is in the store");

    // A supervisor, a second officer, approves it: released.
    b.click("#logout").await;
    b.until(
        "signed out",
        Duration::from_secs(10),
        "return !document.getElementById('login').hidden",
    )
    .await;
    b.sign_in(&env.api.console_url(), "prov-chief", PASSWORD)
        .await;
    b.click("#tab-forecast").await;
    b.until(
        "the list",
        Duration::from_secs(10),
        &format!("return document.querySelector('#forecast-list tr[data-forecast=\"{id}\"]')"),
    )
    .await;
    b.screenshot("forecast-list").await;
    b.click(&format!("#forecast-list tr[data-forecast=\"{id}\"]"))
        .await;
    b.until(
        "the approve button",
        Duration::from_secs(10),
        "return document.getElementById('forecast-approve')",
    )
    .await;
    b.client
        .find(Locator::Id("approve-text"))
        .await
        .unwrap()
        .send_keys("请加强巡查，注意防范。")
        .await
        .unwrap();
    b.click("#forecast-approve").await;
    b.until(
        "released",
        Duration::from_secs(10),
        "return document.querySelector('#forecast-state[data-state=\"released\"]') && document.querySelector('#forecast-cap li')",
    )
    .await;
    b.screenshot("forecast-released").await;
    assert_eq!(b.js("return window.missingTexts").await, json!([]));

    // Everyone: the public page, no sign-in.
    b.client
        .goto(&format!("http://{}/public/forecast", env.api.addr()))
        .await
        .unwrap();
    let text = b
        .until(
            "the public page",
            Duration::from_secs(10),
            "return document.querySelector('article.warning') && document.body.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("红色预警区") && text.contains("黄色预警区"),
        "{text}"
    );
    assert!(text.contains("请加强巡查，注意防范。"), "{text}");
    let red_paths = b
        .js("return document.querySelectorAll('svg.map path[data-level=\"red\"]').length")
        .await;
    assert_eq!(red_paths, json!(1));
    b.screenshot("forecast-public").await;
    b.close().await;
}

#[tokio::test]
async fn the_systems_own_rain_gauges_give_the_antecedent_rain_of_a_day_nobody_imported() {
    let env = province().await;
    let admin = env.login("prov-admin").await;
    for g in [
        json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc()}),
        json!({"kind": "forecast", "format": "micaps4", "content": forecast_m4(today())}),
    ] {
        import_grid(&env, &admin, g).await;
    }
    // Without observed rain the east's 70 mm on class 4 is short of the red line (90 mm).
    let (status, dry) = env.api.post(&admin, "/forecast/runs", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{dry}");
    assert_ne!(dry["highest"], "red", "{dry}");

    // A rain gauge at the east's site: 6 × 5 mm yesterday (08:00 to 08:00, CST), a bad reading
    // of 100 mm left out, and 50 mm today that is not yesterday's.
    let site: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = 'LS-EAST'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let gateway = registry::upsert_gateway(&env.store.pool, "gw-rain", Some(site), "雨量站", None)
        .await
        .unwrap();
    let gauge = registry::upsert_sensor(
        &env.store.pool,
        &registry::NewSensor {
            gateway_id: gateway,
            channel: "rain",
            site_id: site,
            kind: geohazard_domain::SensorKind::RainGauge,
            unit: "mm",
            location: Some(geo::Point::new(104.85, 28.35)),
            elevation_m: None,
            depth_m: None,
            sampling_interval_s: 600,
        },
    )
    .await
    .unwrap();
    let (from, _) = geohazard_forecast::issue::validity(today() - Days::new(1));
    let from = from.with_timezone(&Utc);
    let mut rows = geohazard_store::readings::ReadingRows::with_capacity(8);
    for h in 0..6 {
        rows.push(gauge, from + chrono::Duration::hours(2 + 3 * h), 5.0, 0);
    }
    rows.push(gauge, from + chrono::Duration::hours(1), 100.0, 2);
    rows.push(gauge, from + chrono::Duration::hours(25), 50.0, 0);
    geohazard_testkit::fixtures::store_readings(&env.store, &rows).await;

    // 70 + 0.8 · 30 = 94 mm: red, the gauges' day said so in the inputs.
    let (status, wet) = env.api.post(&admin, "/forecast/runs", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{wet}");
    assert_eq!(wet["highest"], "red", "{wet}");
    let observed: Value =
        sqlx::query_scalar("SELECT inputs->'observed' FROM forecast_warnings WHERE id = $1")
            .bind(wet["id"].as_i64().unwrap())
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(
        observed[0],
        json!({"date": today() - Days::new(1), "grid": null, "gauges": 1}),
        "{observed}"
    );
}

#[tokio::test]
async fn a_released_regional_warning_shows_in_the_field_apps_list_of_the_people_on_duty() {
    let env = province().await;
    let admin = env.login("prov-admin").await;
    let chief = env.login("prov-chief").await;
    inputs(&env, &admin).await;
    // A field officer of the east county, on its duty roster.
    add_officer(
        &env.store.pool,
        &NewOfficer {
            username: "east-field",
            display_name: Some("珙县外业人员"),
            division_code: EAST,
            role: Role::FieldStaff,
            password: PASSWORD,
        },
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO duty_roster (division_code, person_id, starts_at, ends_at)
         SELECT $1, person_id, now() - interval '1 hour', now() + interval '1 hour'
         FROM officers WHERE username = 'east-field'",
    )
    .bind(EAST)
    .execute(&env.store.pool)
    .await
    .unwrap();
    let (_, draft) = env.api.post(&admin, "/forecast/runs", json!({})).await;
    let id = draft["id"].as_i64().unwrap();
    let (status, _) = on(&env, &admin, id, "submit", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = on(&env, &chief, id, "approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let b = browser().await;
    b.set_time_zone("Asia/Shanghai").await;
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    )
    .await;
    let base = env.api.console_url();
    b.submit_sign_in(&format!("{base}app/"), "east-field", PASSWORD)
        .await;
    let text = b
        .until(
            "the red regional warning in the app's list",
            Duration::from_secs(15),
            "const card = document.querySelector('#alerts .card.lvl-red'); return card && card.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("珙县") && text.contains("地质灾害气象风险"),
        "{text}"
    );
    assert!(text.contains("红色"), "{text}");
    b.screenshot("forecast-field-app").await;
    assert_eq!(b.js("return window.missingTexts").await, json!([]));
    b.close().await;
}

/// A site's id by its code.
async fn site_id(env: &Center, code: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = $1")
        .bind(code)
        .fetch_one(&env.store.pool)
        .await
        .unwrap()
}

/// The CAP alerts of the public feed, newest first: (identifier, msgType, references, xml),
/// each checked against the OASIS CAP 1.2 schema.
async fn feed_alerts(env: &Center) -> Vec<(String, String, String, String)> {
    let (status, feed) = public(env, "/public/forecast/cap.xml").await;
    assert_eq!(status, StatusCode::OK);
    let tag = |xml: &str, name: &str| -> String {
        xml.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|s| s.split(&format!("</{name}>")).next())
            .unwrap_or("")
            .to_owned()
    };
    feed.split("<content type=\"application/cap+xml\">")
        .skip(1)
        .map(|part| {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
                part.split("</content>").next().unwrap().trim()
            );
            cap::check_with_xmllint(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
            (
                tag(&xml, "identifier"),
                tag(&xml, "msgType"),
                tag(&xml, "references"),
                xml,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_site_warning_an_officer_publishes_is_a_valid_cap_alert_updated_when_its_level_rises_and_cancelled_when_it_closes_or_is_withdrawn()
 {
    let env = province().await;
    let duty = env.login("prov-duty").await;
    let gao = env.login("gao-duty").await;
    let chief = env.login("prov-chief").await;
    let east = site_id(&env, "LS-EAST").await;
    let west = site_id(&env, "LS-WEST").await;
    // A third site whose threat zone is a polygon.
    registry::upsert_site(
        &env.store.pool,
        &NewSite {
            code: "DF-EAST",
            name: "沙河沟泥石流",
            kind: SiteKind::DebrisFlow,
            division_code: EAST,
            location: geo::Point::new(104.7, 28.2),
            threat_zone: Some(
                Rect::new(
                    coord! { x: 104.68, y: 28.18 },
                    coord! { x: 104.73, y: 28.22 },
                )
                .to_polygon(),
            ),
            scale_class: None,
            volume_m3: None,
            threatened_people: 40,
            threatened_property: 0.0,
        },
    )
    .await
    .unwrap();
    let debris = site_id(&env, "DF-EAST").await;
    let w = env.raise_warning(east, WarningLevel::Orange, 35.0).await;

    // Nothing is public until an officer publishes it.
    assert!(feed_alerts(&env).await.is_empty());
    let (_, page) = public(&env, "/public/forecast").await;
    assert!(page.contains("当前没有发布的隐患点预警"), "{page}");
    let path = format!("/forecast/site-warnings/{}", w.id);
    let (status, body) = env.api.get(&duty, &path).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));

    // Scoped: Gao county's officer does not reach the east's warning; a supervisor may not
    // publish; a phone number is refused from the public text.
    let publish = format!("{path}/publish");
    let (status, _) = env.api.post(&gao, &publish, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.api.post(&chief, &publish, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = env
        .api
        .post(
            &duty,
            &publish,
            json!({"text_zh": "如有险情请拨打 139-0000-0002"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(feed_alerts(&env).await.is_empty());

    let (status, p) = env
        .api
        .post(&duty, &publish, json!({"text_zh": "请沿线群众注意避让。"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "published");
    assert_eq!(p["level"], "orange");
    let (status, _) = env.api.post(&duty, &publish, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "published once");
    let audit: Vec<(String, Value)> = sqlx::query_as(
        "SELECT action, detail FROM audit_log WHERE target = $1 AND action LIKE 'forecast.%'",
    )
    .bind(format!("warning:{}", w.id))
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "forecast.site_publish");
    assert_eq!(audit[0].1["after"]["text_zh"], "请沿线群众注意避让。");

    // The alert: the site's circle, its county's code, Chinese text without internals.
    let alerts = feed_alerts(&env).await;
    assert_eq!(alerts.len(), 1);
    let (first, msg_type, refs, xml) = &alerts[0];
    assert_eq!(msg_type, "Alert");
    assert!(refs.is_empty());
    assert!(
        xml.contains("<circle>28.35000,104.85000 0.5</circle>"),
        "{xml}"
    );
    assert!(xml.contains(&format!("<value>{EAST}</value>")), "{xml}");
    assert!(xml.contains("<severity>Severe</severity>"), "{xml}");
    assert!(
        xml.contains("珙县王家坡滑坡地质灾害橙色预警（二级）")
            && xml.contains("请沿线群众注意避让。"),
        "{xml}"
    );
    for internal in ["13900000002", "裂缝", "crack", "35 mm"] {
        assert!(!xml.contains(internal), "{internal} in {xml}");
    }
    let (_, page) = public(&env, "/public/forecast").await;
    assert!(
        page.contains("data-site=\"LS-EAST\"")
            && page.contains("王家坡滑坡")
            && page.contains("橙色"),
        "{page}"
    );
    assert!(
        !page.contains("裂缝") && !page.contains("13900000002"),
        "{page}"
    );

    // The level rises while published: an Update referencing the Alert.
    env.raise_warning(east, WarningLevel::Red, 52.0).await;
    let alerts = feed_alerts(&env).await;
    assert_eq!(alerts.len(), 2);
    let (second, msg_type, refs, xml) = &alerts[0];
    assert_eq!(msg_type, "Update");
    assert!(refs.contains(first.as_str()), "{refs}");
    assert!(
        xml.contains("<severity>Extreme</severity>") && xml.contains("红色预警（一级）"),
        "{xml}"
    );
    // Reading the feed again writes nothing more.
    assert_eq!(feed_alerts(&env).await.len(), 2);

    // The warning closes: a Cancel referencing both; the page no longer shows it.
    env.close_warning(east, "threshold:crack-1").await;
    let state: String = sqlx::query_scalar("SELECT state FROM warnings WHERE id = $1")
        .bind(w.id)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(state, "closed");
    let alerts = feed_alerts(&env).await;
    assert_eq!(alerts.len(), 3);
    let (_, msg_type, refs, xml) = &alerts[0];
    assert_eq!(msg_type, "Cancel");
    assert!(
        refs.contains(first.as_str()) && refs.contains(second.as_str()),
        "{refs}"
    );
    assert!(
        xml.contains("<responseType>AllClear</responseType>"),
        "{xml}"
    );
    let (_, page) = public(&env, "/public/forecast").await;
    assert!(!page.contains("data-site=\"LS-EAST\""), "{page}");
    let (_, p) = env.api.get(&duty, &path).await;
    assert_eq!(p["state"], "ended");
    let (status, _) = env.api.post(&duty, &publish, json!({})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a closed warning is not published"
    );

    // A debris-flow site's warning: its threat zone as the polygon; withdrawn by the officer.
    let d = env
        .raise_warning_from(debris, "threshold:mud-1", WarningLevel::Red, 55.0)
        .await;
    let (status, _) = env
        .api
        .post(
            &duty,
            &format!("/forecast/site-warnings/{}/publish", d.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let alerts = feed_alerts(&env).await;
    let (alert, _, _, xml) = &alerts[0];
    let polygon = xml
        .split("<polygon>")
        .nth(1)
        .and_then(|p| p.split("</polygon>").next())
        .unwrap_or_else(|| panic!("no polygon: {xml}"));
    let points: Vec<&str> = polygon.split(' ').collect();
    assert_eq!(points.len(), 5, "{polygon}");
    assert_eq!(points[0], points[4], "closed: {polygon}");
    for corner in ["28.18000,104.68000", "28.22000,104.73000"] {
        assert!(points.contains(&corner), "{corner} in {polygon}");
    }
    assert!(!xml.contains("<circle>"), "{xml}");
    assert!(
        xml.contains("沙河沟泥石流") && xml.contains("泥石流隐患点"),
        "{xml}"
    );
    let withdraw = format!("/forecast/site-warnings/{}/withdraw", d.id);
    let (status, _) = env.api.post(&duty, &withdraw, json!({"reason": " "})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a withdrawal needs a reason"
    );
    let (status, p) = env
        .api
        .post(&duty, &withdraw, json!({"reason": "现场核查险情已排除"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["state"], "withdrawn");
    let alerts = feed_alerts(&env).await;
    assert_eq!(alerts.len(), 5);
    let (_, msg_type, refs, _) = &alerts[0];
    assert_eq!(msg_type, "Cancel");
    assert!(refs.contains(alert.as_str()), "{refs}");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target = $1 AND action LIKE 'forecast.%' ORDER BY id",
    )
    .bind(format!("warning:{}", d.id))
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["forecast.site_publish", "forecast.site_withdraw"]);
    // Only what was published: the west site's warning never was.
    env.raise_warning(west, WarningLevel::Red, 60.0).await;
    let alerts = feed_alerts(&env).await;
    assert_eq!(alerts.len(), 5);
    assert!(alerts.iter().all(|(_, _, _, xml)| !xml.contains("石门坎")));
}

/// Where the test puts each event of the season: (day index, row, column) of the cell.
const EVENT_CELLS: [(usize, usize, usize); 4] = [(0, 2, 7), (0, 1, 1), (1, 3, 8), (1, 3, 1)];

/// Two past days, each released with the east county orange and Gao county without a level,
/// and events placed by the test: day 1 two field reports in one east cell and one in the west
/// (and one before the warning's period); day 2 an orange site warning at the east's site, a
/// yellow one at the west's (not an event) and an incident at the west's site. Returns the days.
async fn issued_season(env: &Center) -> [NaiveDate; 2] {
    let duty = env.login("prov-duty").await;
    let chief = env.login("prov-chief").await;
    import_grid(
        env,
        &duty,
        json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc()}),
    )
    .await;
    let days = [today() - Days::new(3), today() - Days::new(2)];
    for day in days {
        import_grid(
            env,
            &duty,
            json!({"kind": "forecast", "format": "micaps4", "content": forecast_m4(day)}),
        )
        .await;
        let (status, draft) = env
            .api
            .post(&duty, "/forecast/runs", json!({"date": day}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{draft}");
        let id = draft["id"].as_i64().unwrap();
        for (division, level) in [(EAST, "orange"), (COUNTY, "none")] {
            let (status, body) = on(
                env,
                &duty,
                id,
                "adjust",
                json!({"division": division, "level": level, "reason": "会商订正"}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        assert_eq!(
            on(env, &duty, id, "submit", json!({})).await.0,
            StatusCode::OK
        );
        let (status, body) = on(env, &chief, id, "approve", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let at = |day: NaiveDate, hour: u32| {
        day.and_hms_opt(hour, 0, 0)
            .unwrap()
            .and_local_timezone(CST)
            .unwrap()
            .with_timezone(&Utc)
    };
    let officer: i64 = sqlx::query_scalar("SELECT id FROM officers WHERE username = 'prov-duty'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let s = spec();
    let centre = |r: usize, c: usize| s.centre(r, c);
    let mut reports = vec![
        (days[0], 12, EVENT_CELLS[0].1, EVENT_CELLS[0].2, EAST),
        (days[0], 15, EVENT_CELLS[0].1, EVENT_CELLS[0].2, EAST),
        (days[0], 13, EVENT_CELLS[1].1, EVENT_CELLS[1].2, COUNTY),
    ];
    // Before day 1's period (08:00): no warning was issued for it, so it counts nowhere.
    reports.push((days[0], 6, 5, 9, EAST));
    for (day, hour, r, c, division) in reports {
        let (lon, lat) = centre(r, c);
        sqlx::query(
            "INSERT INTO field_reports (division_code, officer_id, kind, text, longitude, latitude, received_at)
             VALUES ($1, $2, 'landslide', '坡体下滑', $3, $4, $5)",
        )
        .bind(division)
        .bind(officer)
        .bind(lon)
        .bind(lat)
        .bind(at(day, hour))
        .execute(&env.store.pool)
        .await
        .unwrap();
    }
    let east = site_id(env, "LS-EAST").await;
    let west = site_id(env, "LS-WEST").await;
    for (site, source, level) in [
        (east, "threshold:crack-7", WarningLevel::Orange),
        (west, "threshold:crack-8", WarningLevel::Yellow),
    ] {
        let w = env.raise_warning_from(site, source, level, 25.0).await;
        env.close_warning(site, source).await;
        sqlx::query("UPDATE warnings SET raised_at = $2 WHERE id = $1")
            .bind(w.id)
            .bind(at(days[1], 11))
            .execute(&env.store.pool)
            .await
            .unwrap();
    }
    let incident: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (division_code, title, class, opened_at) VALUES ($1, '石门坎滑坡', 'small', $2) RETURNING id",
    )
    .bind(COUNTY)
    .bind(at(days[1], 20))
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO incident_sites (incident_id, site_id) VALUES ($1, $2)")
        .bind(incident)
        .bind(west)
        .execute(&env.store.pool)
        .await
        .unwrap();
    days
}

/// The test's own count of the season: the east (columns 5–9) orange, the west nothing, the
/// events at [`EVENT_CELLS`]; per level (warned at or above it) and optionally one county's
/// columns: (hits, misses, false alarms, correct negatives).
fn own_count(level: WarningLevel, columns: std::ops::Range<usize>) -> [u64; 4] {
    let s = spec();
    let mut n = [0; 4];
    for day in 0..2 {
        for r in 0..s.nrows {
            for c in columns.clone() {
                let issued = (c >= 5).then_some(WarningLevel::Orange);
                let warned = issued.is_some_and(|l| l >= level);
                let event = EVENT_CELLS.contains(&(day, r, c));
                let i = match (warned, event) {
                    (true, true) => 0,
                    (false, true) => 1,
                    (true, false) => 2,
                    (false, false) => 3,
                };
                n[i] += 1;
            }
        }
    }
    n
}

fn counts(f: &Value) -> [u64; 4] {
    ["hits", "misses", "false_alarms", "correct_negatives"].map(|k| f[k].as_u64().unwrap())
}

#[tokio::test]
async fn the_seasons_verification_counts_hits_misses_and_false_alarms_of_the_released_warnings_as_the_test_counts_them()
 {
    let env = province().await;
    let days = issued_season(&env).await;
    let duty = env.login("prov-duty").await;
    let (status, s) = env
        .api
        .get(
            &duty,
            &format!("/forecast/verification?from={}&to={}", days[0], days[1]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["warnings"].as_array().unwrap().len(), 2, "{s}");
    // Two reports in one cell, one more report, a site warning and an incident.
    assert_eq!(s["events"], 5);
    assert_eq!(s["event_cells"], 4);
    for (i, level) in WarningLevel::ALL.into_iter().enumerate() {
        let f = &s["per_level"][i];
        assert_eq!(f["level"], level.as_str());
        let own = own_count(level, 0..10);
        assert_eq!(counts(f), own, "{level}: {f}");
        let (h, m, fa) = (own[0] as f64, own[1] as f64, own[2] as f64);
        assert_eq!(f["pod"].as_f64().unwrap(), h / (h + m), "{f}");
        if h + fa > 0.0 {
            assert_eq!(f["far"].as_f64().unwrap(), fa / (h + fa), "{f}");
        } else {
            assert!(f["far"].is_null(), "{f}");
        }
    }
    // Spelled out for orange: 2 hits, 2 misses, 58 false alarms of 120 cell-days.
    assert_eq!(counts(&s["per_level"][2]), [2, 2, 58, 58]);
    assert_eq!(counts(&s["per_level"][3]), [0, 4, 0, 116]);
    // Per county: each cell counted in the county holding its centre.
    let divisions = s["per_division"].as_array().unwrap();
    let codes: Vec<&str> = divisions
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, [COUNTY, EAST]);
    assert_eq!(divisions[0]["name"], "高县");
    for (d, columns) in [(&divisions[0], 0..5), (&divisions[1], 5..10)] {
        for (i, level) in WarningLevel::ALL.into_iter().enumerate() {
            assert_eq!(
                counts(&d["levels"][i]),
                own_count(level, columns.clone()),
                "{} {level}",
                d["code"]
            );
        }
    }
    // A period not over yet, or not issued, counts nothing; a county officer sees no
    // province warning's figures.
    let (_, s) = env
        .api
        .get(
            &duty,
            &format!("/forecast/verification?from={}&to={}", today(), today()),
        )
        .await;
    assert_eq!(s["warnings"], json!([]));
    let gao = env.login("gao-duty").await;
    let (_, s) = env
        .api
        .get(
            &gao,
            &format!("/forecast/verification?from={}&to={}", days[0], days[1]),
        )
        .await;
    assert_eq!(s["warnings"], json!([]));
    let (status, _) = env
        .api
        .get(
            &duty,
            &format!("/forecast/verification?from={}&to={}", days[1], days[0]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn in_the_console_an_officer_publishes_a_site_warning_the_public_page_shows_it_and_the_forecast_page_shows_the_seasons_verification()
 {
    let env = province().await;
    let days = issued_season(&env).await;
    let east = site_id(&env, "LS-EAST").await;
    let w = env.raise_warning(east, WarningLevel::Orange, 35.0).await;
    let b = browser().await;
    b.set_time_zone("Asia/Shanghai").await;
    b.sign_in(&env.api.console_url(), "prov-duty", PASSWORD)
        .await;

    // The warning's panel: not yet public; the officer publishes it with words for the public.
    let item = format!("#feed-list [data-warning=\"{}\"]", w.id);
    b.until(
        "the warning in the feed",
        Duration::from_secs(15),
        &format!(
            "return document.querySelector('{}')",
            item.replace('\'', "\\'")
        ),
    )
    .await;
    b.click(&item).await;
    b.until(
        "the publish button",
        Duration::from_secs(10),
        "return document.getElementById('release-publish')",
    )
    .await;
    b.js("document.getElementById('release-box').scrollIntoView(); return true")
        .await;
    b.screenshot("forecast-site-unpublished").await;
    // A phone number is refused, in Chinese.
    b.client
        .find(Locator::Id("release-text"))
        .await
        .unwrap()
        .send_keys("咨询电话 13900000002")
        .await
        .unwrap();
    b.click("#release-publish").await;
    let refusal = b
        .until(
            "the refusal",
            Duration::from_secs(10),
            "const p = document.getElementById('release-problem'); return p && p.innerText",
        )
        .await;
    assert!(
        refusal.as_str().unwrap().contains("不得含电话号码"),
        "{refusal}"
    );
    b.js("document.getElementById('release-text').value = ''; return true")
        .await;
    b.client
        .find(Locator::Id("release-text"))
        .await
        .unwrap()
        .send_keys("请沿线群众注意避让。")
        .await
        .unwrap();
    b.click("#release-publish").await;
    let shown = b
        .until(
            "published, with its alert",
            Duration::from_secs(10),
            "return document.querySelector('#site-release[data-state=\"published\"] #release-cap li') && document.getElementById('site-release').innerText",
        )
        .await;
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("已向公众发布") && shown.contains("珙县王家坡滑坡地质灾害橙色预警（二级）"),
        "{shown}"
    );
    b.js("document.getElementById('release-box').scrollIntoView(); return true")
        .await;
    b.screenshot("forecast-site-published").await;
    assert_eq!(b.js("return window.missingTexts").await, json!([]));

    // The forecast page: the season's verification between the two issued days.
    b.click("#panel-close").await;
    b.click("#tab-forecast").await;
    b.until(
        "the verification form",
        Duration::from_secs(10),
        "return document.getElementById('verify-run')",
    )
    .await;
    b.js(&format!(
        "document.getElementById('verify-from').value = '{}'; document.getElementById('verify-to').value = '{}'; return true",
        days[0], days[1]
    ))
    .await;
    b.click("#verify-run").await;
    b.until(
        "the figures",
        Duration::from_secs(10),
        "return document.querySelector('#verify-levels tr[data-level=\"orange\"]')",
    )
    .await;
    for (i, level) in WarningLevel::ALL.into_iter().enumerate() {
        let own = own_count(level, 0..10);
        let row = b
            .js(&format!(
                "const r = document.querySelector('#verify-levels tr[data-level=\"{}\"]'); return [r.dataset.hits, r.dataset.misses, r.dataset.falseAlarms].map(Number)",
                level.as_str()
            ))
            .await;
        assert_eq!(row, json!([own[0], own[1], own[2]]), "row {i}: {level}");
    }
    let text = b
        .js("return document.getElementById('verify-box').innerText")
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("已发布且已过有效期的预警 2 期") && text.contains("灾情事件 5 起"),
        "{text}"
    );
    // POD at orange: 2 hits of 4 events; FAR: 58 false alarms of 60 warned cell-days.
    assert!(text.contains("0.500") && text.contains("0.967"), "{text}");
    assert!(text.contains("珙县") && text.contains("高县"), "{text}");
    b.js("document.getElementById('verify-box').scrollIntoView(); return true")
        .await;
    b.screenshot("forecast-verification").await;
    assert_eq!(b.js("return window.missingTexts").await, json!([]));

    // Everyone: the public page shows the published site warning in Chinese.
    b.client
        .goto(&format!("http://{}/public/forecast", env.api.addr()))
        .await
        .unwrap();
    let text = b
        .until(
            "the public page's site warning",
            Duration::from_secs(10),
            "return document.querySelector('article.site[data-site=\"LS-EAST\"]') && document.body.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("地质灾害隐患点预警")
            && text.contains("王家坡滑坡")
            && text.contains("请沿线群众注意避让。"),
        "{text}"
    );
    assert!(
        !text.contains("13900000002") && !text.contains("裂缝"),
        "{text}"
    );
    b.screenshot("forecast-site-public").await;
    b.close().await;
}

/// The zoning of [`zoning_asc`] as a GeoTIFF (8-bit classes, north row first), base64.
fn zoning_geotiff() -> String {
    use base64::Engine;
    use tiff::encoder::{TiffEncoder, colortype};
    use tiff::tags::Tag;
    let s = spec();
    let data: Vec<u8> = (0..s.nrows)
        .flat_map(|_| (0..s.ncols).map(|c| if c >= 5 { 4 } else { 1 }))
        .collect();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).unwrap();
    let mut image = enc
        .new_image::<colortype::Gray8>(s.ncols as u32, s.nrows as u32)
        .unwrap();
    let north = s.south + s.nrows as f64 * s.cell;
    image
        .encoder()
        .write_tag(Tag::ModelPixelScaleTag, &[s.cell, s.cell, 0.0][..])
        .unwrap();
    image
        .encoder()
        .write_tag(
            Tag::ModelTiepointTag,
            &[0.0, 0.0, 0.0, s.west, north, 0.0][..],
        )
        .unwrap();
    image.write_data(&data).unwrap();
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

#[tokio::test]
async fn a_geotiff_zoning_is_imported_through_the_api_as_its_ascii_grid_is_and_a_malformed_one_is_refused_with_the_reason()
 {
    use base64::Engine;
    let env = province().await;
    let duty = env.login("prov-duty").await;
    let body = import_grid(
        &env,
        &duty,
        json!({"kind": "susceptibility", "format": "geotiff", "content": zoning_geotiff(), "name": "zoning.tif"}),
    )
    .await;
    assert_eq!(body["cells"], 60);
    assert_eq!(body["max"], 4.0);
    import_grid(
        &env,
        &duty,
        json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc()}),
    )
    .await;
    // The two stored grids hold the same cells on the same grid.
    let grids: Vec<(Value, Vec<f64>)> = sqlx::query_as(
        "SELECT spec, cells FROM forecast_grids WHERE kind = 'susceptibility' ORDER BY id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(grids.len(), 2);
    assert_eq!(grids[0].1, grids[1].1);
    for k in ["west", "south", "cell"] {
        let (a, b) = (
            grids[0].0[k].as_f64().unwrap(),
            grids[1].0[k].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-9, "{k}: {a} vs {b}");
    }
    // Not a TIFF, and not base64: refused with the reason.
    let not_tiff = base64::engine::general_purpose::STANDARD.encode(zoning_asc());
    for (content, reason) in [
        (not_tiff.as_str(), "not a readable TIFF"),
        ("@@@", "base64"),
    ] {
        let (status, body) = env
            .api
            .post(
                &duty,
                "/forecast/grids",
                json!({"kind": "susceptibility", "format": "geotiff", "content": content}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().contains(reason), "{body}");
    }
}
