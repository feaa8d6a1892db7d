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
        let (status, body) = env.api.post(token, "/forecast/grids", g).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["cells"], 60, "{body}");
    }
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
    let (status, _) = env
        .api
        .post(
            &duty,
            "/forecast/grids",
            json!({"kind": "susceptibility", "format": "esri_ascii", "content": zoning_asc()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
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
        let (status, body) = env.api.post(&admin, "/forecast/grids", g).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
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
