//! A sensor's rules kept from the console, through the API against a real PostgreSQL: the
//! parameters in force with where each comes from; a backtest over seeded history that finds
//! the warnings this test works out on its own from the series it seeded; a change saved on
//! its version (a second one on the old version refused with 409), refused with the parameter
//! named when bad, audited and recorded with before and after; county scope on every route.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::Center;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::COUNTY;
use reqwest::Method;
use serde_json::{Value, json};

/// Ten minutes between readings.
const STEP_S: i64 = 600;
const BASE: f64 = 0.2;
/// Pulses of mud level over a base of 0.2 m: (first reading, readings, level in m). The third
/// is too short to persist for three readings.
const PULSES: [(usize, usize, f64); 5] = [
    (30, 6, 0.8),
    (80, 10, 1.3),
    (150, 2, 2.5),
    (200, 12, 1.7),
    (260, 5, 2.2),
];
const READINGS: usize = 300;

fn start_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn at(i: usize) -> DateTime<Utc> {
    start_at() + Duration::seconds(i as i64 * STEP_S)
}

fn series() -> Vec<f64> {
    let mut v = vec![BASE; READINGS];
    for (first, n, level) in PULSES {
        v[first..first + n].fill(level);
    }
    v
}

/// The warnings a threshold rule with `lines` (blue to red, metres, upwards) and a level taken
/// after three readings must raise over [`series`], worked out from the pulses: each pulse of
/// three readings or more raises the highest line its level reaches at its third reading, and
/// closes at the third reading back at the base (far below every line and its band).
fn expected(lines: [f64; 4]) -> Vec<(DateTime<Utc>, &'static str, DateTime<Utc>)> {
    let names = ["blue", "yellow", "orange", "red"];
    PULSES
        .iter()
        .filter(|(_, n, _)| *n >= 3)
        .filter_map(|(first, n, level)| {
            let reached = lines.iter().rposition(|l| level >= l)?;
            Some((at(first + 2), names[reached], at(first + n + 2)))
        })
        .collect()
}

async fn setup() -> (Center, i32) {
    let env = common::with_county_admins().await;
    let sensor = env
        .mud_gauge("rules-slope", &series(), start_at(), STEP_S)
        .await;
    (env, sensor)
}

/// The warnings of one side of a backtest as (raised, peak, closed).
fn raised(side: &Value) -> Vec<(DateTime<Utc>, String, DateTime<Utc>)> {
    side["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let t = |k: &str| w[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
            (
                t("raised_at"),
                w["peak"].as_str().unwrap().to_owned(),
                t("closed_at"),
            )
        })
        .collect()
}

fn owned(
    v: Vec<(DateTime<Utc>, &str, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, String, DateTime<Utc>)> {
    v.into_iter()
        .map(|(a, l, b)| (a, l.to_owned(), b))
        .collect()
}

#[tokio::test]
async fn a_backtest_over_seeded_history_finds_the_warnings_worked_out_from_the_series() {
    let (env, sensor) = setup().await;
    let token = env.login("gao-admin").await;
    let body = json!({
        "layer": "sensor",
        "params": {"levels": {"yellow": 1.4, "red": 2.4}},
        "from": start_at(),
        "to": at(READINGS),
    });
    let path = format!("/register/sensors/{sensor}/rules/threshold/backtest");
    let a = env
        .send(Method::POST, &token, &path, None, Some(body))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The mud_level kind's lines as installed: 0.5, 1.0, 1.5, 2.0 m.
    let old = expected([0.5, 1.0, 1.5, 2.0]);
    let new = expected([0.5, 1.4, 1.5, 2.4]);
    assert_eq!(old.len(), 4);
    assert_eq!(raised(&a.body["old"]), owned(old));
    assert_eq!(raised(&a.body["new"]), owned(new));
    assert_eq!(
        a.body["old"]["by_level"],
        json!({"blue": 1, "yellow": 1, "orange": 1, "red": 1})
    );
    assert_eq!(
        a.body["new"]["by_level"],
        json!({"blue": 2, "yellow": 0, "orange": 2, "red": 0})
    );
    assert_eq!(a.body["new"]["readings"], json!(READINGS));
    // Nothing was saved.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM analyzer_rules WHERE sensor_id = $1")
        .bind(sensor)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_rule_saved_on_its_version_shows_where_each_parameter_comes_from_and_is_audited() {
    let (env, sensor) = setup().await;
    let token = env.login("gao-admin").await;
    let path = format!("/register/sensors/{sensor}/rules");
    let a = env.send(Method::GET, &token, &path, None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let threshold = |v: &Value| {
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "threshold")
            .cloned()
            .unwrap()
    };
    let param = |rule: &Value, key: &str| {
        rule["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .cloned()
            .unwrap()
    };
    let before = threshold(&a.body);
    assert_eq!(before["applies"], json!(true));
    assert_eq!(
        param(&before, "levels.yellow"),
        json!({"key": "levels.yellow", "value": 1.0, "from": "kind"})
    );
    assert_eq!(param(&before, "persistence.readings")["from"], "default");

    let change = json!({"layer": "sensor", "params": {"levels": {"yellow": 1.4}}});
    let put = format!("{path}/threshold");
    let a = env
        .send(
            Method::PUT,
            &token,
            &put,
            Some("\"0\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let after = threshold(&a.body);
    assert_eq!(
        param(&after, "levels.yellow"),
        json!({"key": "levels.yellow", "value": 1.4, "from": "sensor"})
    );
    assert_eq!(param(&after, "levels.red")["from"], "kind");
    let row = after["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["layer"] == "sensor")
        .cloned()
        .unwrap();
    assert_eq!(row["version"], json!(1));

    // A second officer's save made on the version before: refused with the row now.
    let a = env
        .send(Method::PUT, &token, &put, Some("\"0\""), Some(change))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.body["code"], "version_conflict");
    assert_eq!(a.body["current"]["version"], json!(1));
    // Without a version: refused.
    let a = env
        .send(
            Method::PUT,
            &token,
            &put,
            None,
            Some(json!({"layer": "sensor", "params": {}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_REQUIRED);

    // Bad parameters are refused by name, and nothing changes.
    for (params, field) in [
        (json!({"levels": {"red": "high"}}), "params.levels.red"),
        (json!({"levles": {"red": 3.0}}), "params.levles"),
        (json!({"levels": {"orange": 0.9}}), "params.levels.orange"),
    ] {
        let a = env
            .send(
                Method::PUT,
                &token,
                &put,
                Some("\"1\""),
                Some(json!({"layer": "sensor", "params": params})),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert_eq!(a.body["field"], field, "{}", a.body);
    }

    let (action, division, detail): (String, String, Value) = sqlx::query_as(
        "SELECT action, division_code, detail FROM audit_log WHERE action = 'rule.update'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(action, "rule.update");
    assert_eq!(division, COUNTY);
    assert_eq!(detail["before"], Value::Null);
    assert_eq!(
        detail["after"]["params"],
        json!({"levels": {"yellow": 1.4}})
    );
    let (kind, after, version): (String, Value, i32) = sqlx::query_as(
        "SELECT kind, after, version FROM register_changes WHERE kind = 'rule.update'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(kind, "rule.update");
    assert_eq!(after["row"]["params"], json!({"levels": {"yellow": 1.4}}));
    assert_eq!(version, 1);

    // Changed again on version 1: recorded with the row before.
    let a = env
        .send(
            Method::PUT,
            &token,
            &put,
            Some("\"1\""),
            Some(json!({"layer": "sensor", "params": {"levels": {"yellow": 1.2}}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let detail: Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'rule.update' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        detail["before"]["params"],
        json!({"levels": {"yellow": 1.4}})
    );
    assert_eq!(detail["after"]["version"], json!(2));
}

#[tokio::test]
async fn a_county_officer_cannot_see_or_change_another_countys_rules_nor_a_kinds() {
    let (env, sensor) = setup().await;
    let neighbour = env.login("cp-admin").await;
    let path = format!("/register/sensors/{sensor}/rules");
    let change = json!({"layer": "sensor", "params": {"levels": {"yellow": 1.4}}});
    let a = env.send(Method::GET, &neighbour, &path, None, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let put = format!("{path}/threshold");
    let a = env
        .send(
            Method::PUT,
            &neighbour,
            &put,
            Some("\"0\""),
            Some(change.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let mut trial = change.clone();
    trial["from"] = json!(start_at());
    trial["to"] = json!(at(READINGS));
    let a = env
        .send(
            Method::POST,
            &neighbour,
            &format!("{put}/backtest"),
            None,
            Some(trial),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // Gao's own admin may not change the mud-level kind's rule, which holds in every county.
    let own = env.login("gao-admin").await;
    let kind = json!({"layer": "kind", "params": {"levels": {"yellow": 1.4}}});
    let a = env
        .send(Method::PUT, &own, &put, Some("\"1\""), Some(kind))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'rule.update'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
