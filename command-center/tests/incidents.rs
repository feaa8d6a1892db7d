//! Emergency response through the API, against a real PostgreSQL and MQTT broker: incidents
//! opened from warnings and moved through their states, teams, the nearest team, tasks moved on
//! by the people they are given to, positions, scope across counties, the audit of every
//! change, the live socket's incident changes, and incidents opened on red once per cluster.

mod common;

use std::time::Duration;

use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::fixtures::{CITY, COUNTY};
use geohazard_testkit::publish_warning;
use serde_json::{Value, json};

async fn setup() -> Center {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env
}

/// A landslide site at (lon, lat) threatening `people`.
async fn site(env: &Center, code: &str, division: &str, people: i32) -> i64 {
    registry::upsert_site(
        &env.store.pool,
        &NewSite {
            code,
            name: &format!("{code} 滑坡"),
            kind: SiteKind::Landslide,
            division_code: division,
            location: geo::Point::new(104.6, 28.8),
            threat_zone: None,
            scale_class: None,
            volume_m3: None,
            threatened_people: people,
            threatened_property: 50.0,
        },
    )
    .await
    .unwrap()
}

async fn audit(env: &Center, action: &str) -> Vec<(Option<i64>, Option<String>, Value)> {
    sqlx::query_as(
        "SELECT officer_id, division_code, detail FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(&env.store.pool)
    .await
    .unwrap()
}

/// A team of `kind` in `division` at (lon, lat) with `members`; returns its id.
async fn team(
    env: &Center,
    token: &str,
    name: &str,
    division: &str,
    base: [f64; 2],
    members: &[i64],
) -> i64 {
    let (status, body) = env
        .api
        .post(
            token,
            "/teams",
            json!({"division": division, "name": name, "kind": "rescue",
                   "capabilities": ["搜救", "破拆"], "base": base, "members": members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn post_with_key(
    env: &Center,
    token: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let r = env
        .api
        .http
        .post(env.api.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status(), replayed, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_incident_opened_from_a_warning_moves_through_its_states_with_its_timeline_and_audit() {
    let env = setup().await;
    let s = site(&env, "GAO-1", COUNTY, 320).await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("viewer", COUNTY, Role::Viewer).await;
    let duty = env.login("duty").await;
    let viewer = env.login("viewer").await;

    // A viewer may read but not open.
    let (status, body) = env
        .api
        .post(&viewer, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Ten officers' clicks at once make one incident.
    let path = format!("/warnings/{}/incident", w.id);
    let opens = (0..10).map(|_| env.api.post(&duty, &path, json!({})));
    let answers = futures::future::join_all(opens).await;
    let created: Vec<&(StatusCode, Value)> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::OK)
    );
    let incident = &created[0].1;
    let id = incident["id"].as_i64().unwrap();
    assert!(answers.iter().all(|(_, b)| b["id"] == id));
    assert_eq!(incident["status"], "open");
    // 320 people threatened: medium by the national plan.
    assert_eq!(incident["class"], "medium");
    assert_eq!(incident["warning_ids"], json!([w.id]));
    assert_eq!(incident["site_ids"], json!([s]));
    assert!(incident["title"].as_str().unwrap().contains("红色预警"));

    // open → closed is allowed only straight away; open → stabilised is refused.
    let (status, body) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{id}/status"),
            json!({"status": "stabilised"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "incident_transition_refused");
    for to in ["responding", "stabilised", "closed"] {
        let (status, body) = env
            .api
            .post(
                &duty,
                &format!("/incidents/{id}/status"),
                json!({"status": to, "note": "现场确认"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], to);
    }
    let (status, body) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{id}/status"),
            json!({"status": "responding"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a closed incident stays closed: {body}"
    );
    // A status the machine does not know is a clear error naming the field.
    let (status, body) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{id}/status"),
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("status"), "{body}");

    // The timeline: each entry time-stamped and attributed.
    let (_, detail) = env.api.get(&duty, &format!("/incidents/{id}")).await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "status", "status", "status"]);
    for e in detail["timeline"].as_array().unwrap() {
        assert_eq!(e["by"], "值班员 duty", "{e}");
        assert!(e["at"].as_str().is_some());
    }
    assert_eq!(detail["sites"][0]["code"], "GAO-1");
    assert!(detail["closed_at"].as_str().is_some());

    // Audit: the opening once, each move with its before and after.
    let opened = audit(&env, "incident.open").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].1.as_deref(), Some(COUNTY));
    let moves = audit(&env, "incident.status").await;
    let pairs: Vec<(String, String)> = moves
        .iter()
        .map(|(_, _, d)| {
            (
                d["before"]["status"].as_str().unwrap().to_owned(),
                d["after"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("open".into(), "responding".into()),
            ("responding".into(), "stabilised".into()),
            ("stabilised".into(), "closed".into())
        ]
    );
}

#[tokio::test]
async fn an_assessment_regrades_the_incident_by_the_national_plan_and_is_audited() {
    let env = setup().await;
    let s = site(&env, "GAO-2", COUNTY, 20).await;
    let w = env.raise_warning(s, WarningLevel::Orange, 52.0).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let duty = env.login("duty").await;
    let (_, incident) = env
        .api
        .post(&duty, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    assert_eq!(incident["class"], "small");
    let id = incident["id"].as_i64().unwrap();
    let (status, body) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{id}/assessment"),
            json!({"casualties": 12, "threatened_people": 40, "losses": 80.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["class"], "large");
    let (status, body) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{id}/assessment"),
            json!({"casualties": -1, "threatened_people": 40, "losses": 80.0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("casualties"),
        "{body}"
    );
    let rows = audit(&env, "incident.assess").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2["before"]["class"], "small");
    assert_eq!(rows[0].2["after"]["class"], "large");
}

#[tokio::test]
async fn incidents_teams_and_tasks_are_scoped_across_counties() {
    let env = setup().await;
    let gao = site(&env, "GAO-3", COUNTY, 50).await;
    let cp = site(&env, "CP-3", NEIGHBOUR, 50).await;
    let wg = env.raise_warning(gao, WarningLevel::Red, 52.0).await;
    let wc = env.raise_warning(cp, WarningLevel::Red, 52.0).await;
    env.officer("gao", COUNTY, Role::DutyOfficer).await;
    env.officer("cp", NEIGHBOUR, Role::DutyOfficer).await;
    env.officer("city", CITY, Role::Viewer).await;
    let staff_cp = env.officer("cp-staff", NEIGHBOUR, Role::FieldStaff).await;
    let gao_t = env.login("gao").await;
    let cp_t = env.login("cp").await;
    let city_t = env.login("city").await;

    // Cuiping's officer cannot open Gao's warning's incident: it does not exist for them.
    let (status, _) = env
        .api
        .post(&cp_t, &format!("/warnings/{}/incident", wg.id), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, ig) = env
        .api
        .post(&gao_t, &format!("/warnings/{}/incident", wg.id), json!({}))
        .await;
    let (_, ic) = env
        .api
        .post(&cp_t, &format!("/warnings/{}/incident", wc.id), json!({}))
        .await;
    let (ig, ic) = (ig["id"].as_i64().unwrap(), ic["id"].as_i64().unwrap());

    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let (_, list) = env.api.get(&gao_t, "/incidents").await;
    assert_eq!(ids(&list), [ig]);
    let (_, list) = env.api.get(&city_t, "/incidents").await;
    assert_eq!(ids(&list), [ic, ig]);
    for path in [
        format!("/incidents/{ic}"),
        format!("/incidents/{ic}/nearest-teams"),
    ] {
        let (status, body) = env.api.get(&gao_t, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for (path, body) in [
        (
            format!("/incidents/{ic}/status"),
            json!({"status": "responding"}),
        ),
        (
            format!("/incidents/{ic}/tasks"),
            json!({"team": 1, "title": "x"}),
        ),
    ] {
        let (status, body) = env.api.post(&gao_t, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // A team of Cuiping's: Gao cannot register one there, nor see it, nor task it.
    let (status, _) = env
        .api
        .post(
            &gao_t,
            "/teams",
            json!({"division": NEIGHBOUR, "name": "x", "kind": "rescue", "base": [104.0, 28.0]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let cp_team = team(
        &env,
        &cp_t,
        "翠屏救援队",
        NEIGHBOUR,
        [104.6, 28.7],
        &[staff_cp],
    )
    .await;
    let (_, teams) = env.api.get(&gao_t, "/teams").await;
    assert!(ids(&teams).is_empty(), "{teams}");
    let (status, _) = env
        .api
        .post(
            &gao_t,
            &format!("/incidents/{ig}/tasks"),
            json!({"team": cp_team, "title": "排险"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, task) = env
        .api
        .post(
            &cp_t,
            &format!("/incidents/{ic}/tasks"),
            json!({"team": cp_team, "title": "排险"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task = task["id"].as_i64().unwrap();
    let (status, _) = env.api.get(&gao_t, &format!("/tasks/{task}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, tasks) = env.api.get(&gao_t, "/tasks").await;
    assert!(ids(&tasks).is_empty());
    let (_, tasks) = env.api.get(&city_t, "/tasks").await;
    assert_eq!(ids(&tasks), [task]);
    // A viewer reads but does not dispatch.
    let (status, _) = env
        .api
        .post(
            &city_t,
            &format!("/incidents/{ic}/tasks"),
            json!({"team": cp_team, "title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn field_staff_read_and_move_only_their_own_tasks_and_each_move_is_audited() {
    let env = setup().await;
    let s = site(&env, "GAO-4", COUNTY, 50).await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let a = env.officer("staff-a", COUNTY, Role::FieldStaff).await;
    let b = env.officer("staff-b", COUNTY, Role::FieldStaff).await;
    let m = env.officer("monitor", COUNTY, Role::VillageMonitor).await;
    let duty = env.login("duty").await;
    let (ta, tb, tm) = (
        env.login("staff-a").await,
        env.login("staff-b").await,
        env.login("monitor").await,
    );
    let (_, i) = env
        .api
        .post(&duty, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    let i = i["id"].as_i64().unwrap();
    let team_a = team(&env, &duty, "一队", COUNTY, [104.5, 28.7], &[a]).await;
    let team_b = team(&env, &duty, "二队", COUNTY, [104.4, 28.6], &[b, m]).await;
    let (_, task_a) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{i}/tasks"),
            json!({"team": team_a, "title": "疏散群众"}),
        )
        .await;
    let (_, task_b) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{i}/tasks"),
            json!({"team": team_b, "assignee": b, "title": "裂缝巡查"}),
        )
        .await;
    let (task_a, task_b) = (
        task_a["id"].as_i64().unwrap(),
        task_b["id"].as_i64().unwrap(),
    );
    // Dispatching started the response.
    let (_, incident) = env.api.get(&duty, &format!("/incidents/{i}")).await;
    assert_eq!(incident["status"], "responding");

    let list = |t: String| {
        let env = &env;
        async move {
            let (_, v) = env.api.get(&t, "/tasks").await;
            v.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ta.clone()).await, [task_a]);
    assert_eq!(list(tb.clone()).await, [task_b]);
    // The monitor is on team B but the task names B: not theirs.
    assert!(list(tm.clone()).await.is_empty());
    let (status, _) = env.api.get(&ta, &format!("/tasks/{task_b}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env
        .api
        .post(
            &ta,
            &format!("/tasks/{task_b}/status"),
            json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "A cannot move B's task");
    // Field staff read incidents but do not run them; monitors do not read them.
    let (status, _) = env
        .api
        .post(
            &ta,
            &format!("/incidents/{i}/status"),
            json!({"status": "stabilised"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env.api.get(&tm, "/incidents").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Positions only on one's own task.
    let (status, _) = env
        .api
        .post(
            &ta,
            "/positions",
            json!({"longitude": 104.5, "latitude": 28.7, "task": task_b}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = env
        .api
        .post(
            &ta,
            "/positions",
            json!({"longitude": 204.5, "latitude": 28.7, "task": task_a}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("longitude"));

    // Declining needs a reason.
    let (status, body) = env
        .api
        .post(
            &tb,
            &format!("/tasks/{task_b}/status"),
            json!({"status": "declined", "reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("reason"));
    let (status, body) = env
        .api
        .post(
            &tb,
            &format!("/tasks/{task_b}/status"),
            json!({"status": "declined", "reason": "道路塌方无法通行"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decline_reason"], "道路塌方无法通行");

    // A walks the task through; on site before accepting is refused.
    let (status, body) = env
        .api
        .post(
            &ta,
            &format!("/tasks/{task_a}/status"),
            json!({"status": "on_site"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "task_transition_refused");
    for (n, to) in ["accepted", "en_route", "on_site", "done"]
        .iter()
        .enumerate()
    {
        let (status, body) = env
            .api
            .post(
                &ta,
                &format!("/tasks/{task_a}/status"),
                json!({"status": to}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], *to);
        let (status, _) = env
            .api
            .post(
                &ta,
                "/positions",
                json!({"longitude": 104.5 + n as f64 * 0.01, "latitude": 28.7, "task": task_a}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, detail) = env.api.get(&ta, &format!("/tasks/{task_a}")).await;
    let steps: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["assigned", "accepted", "en_route", "on_site", "done"]
    );
    assert_eq!(detail["events"][1]["by"], "值班员 staff-a");
    // The console sees the latest position.
    let (_, incident) = env.api.get(&duty, &format!("/incidents/{i}")).await;
    assert_eq!(incident["positions"][0]["longitude"], 104.53);

    let moves = audit(&env, "task.status").await;
    assert_eq!(moves.len(), 5, "the decline and A's four moves");
    assert!(
        moves
            .iter()
            .all(|(o, d, _)| o.is_some() && d.as_deref() == Some(COUNTY))
    );
    assert_eq!(moves[0].2["after"]["status"], "declined");
    assert_eq!(audit(&env, "task.dispatch").await.len(), 2);
    assert_eq!(audit(&env, "team.create").await.len(), 2);
}

#[tokio::test]
async fn the_nearest_available_team_comes_first_with_distance_and_arrival_and_a_busy_one_is_left_out()
 {
    let env = setup().await;
    let s = site(&env, "GAO-5", COUNTY, 50).await; // at 104.6, 28.8
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let duty = env.login("duty").await;
    let (_, i) = env
        .api
        .post(&duty, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    let i = i["id"].as_i64().unwrap();
    let far = team(&env, &duty, "远队", COUNTY, [105.6, 28.8], &[]).await;
    let near = team(&env, &duty, "近队", COUNTY, [104.61, 28.8], &[]).await;
    let mid = team(&env, &duty, "中队", COUNTY, [104.8, 28.8], &[]).await;
    let (status, list) = env
        .api
        .get(&duty, &format!("/incidents/{i}/nearest-teams"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let order: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["team"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [near, mid, far]);
    // ~0.98 km at 28.8°N; 1.4 × 0.98 km at 40 km/h ≈ 2 minutes.
    let d = list[0]["distance_km"].as_f64().unwrap();
    assert!((0.9..1.05).contains(&d), "{d}");
    let eta = list[0]["eta_minutes"].as_f64().unwrap();
    assert!((d * 1.4 / 40.0 * 60.0 - eta).abs() < 1e-6, "{eta}");
    assert_eq!(list[0]["from"], "base");
    // The nearest gets a task: it is busy, the next is suggested first.
    let (status, _) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{i}/tasks"),
            json!({"team": near, "title": "抢险"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = env
        .api
        .get(&duty, &format!("/incidents/{i}/nearest-teams?limit=1"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["team"]["id"], mid);
}

#[tokio::test]
async fn a_task_change_retried_with_its_idempotency_key_is_done_once() {
    let env = setup().await;
    let s = site(&env, "GAO-6", COUNTY, 50).await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let a = env.officer("staff-a", COUNTY, Role::FieldStaff).await;
    let duty = env.login("duty").await;
    let ta = env.login("staff-a").await;
    let (_, i) = env
        .api
        .post(&duty, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    let i = i["id"].as_i64().unwrap();
    let t = team(&env, &duty, "一队", COUNTY, [104.5, 28.7], &[a]).await;
    let (_, task) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{i}/tasks"),
            json!({"team": t, "title": "巡查"}),
        )
        .await;
    let task = task["id"].as_i64().unwrap();
    let path = format!("/tasks/{task}/status");
    let sends = (0..5).map(|_| {
        post_with_key(
            &env,
            &ta,
            &path,
            "phone-1-accept",
            json!({"status": "accepted"}),
        )
    });
    let answers = futures::future::join_all(sends).await;
    assert!(
        answers
            .iter()
            .all(|(s, _, b)| *s == StatusCode::OK && b["status"] == "accepted"),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, r, _)| r.is_none()).count(),
        1,
        "{answers:?}"
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_events WHERE task_id = $1 AND to_status = 'accepted'",
    )
    .bind(task)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
    assert_eq!(audit(&env, "task.status").await.len(), 1);
}

#[tokio::test]
async fn the_live_socket_says_when_an_incident_in_scope_changes() {
    let env = setup().await;
    let gao = site(&env, "GAO-7", COUNTY, 50).await;
    let cp = site(&env, "CP-7", NEIGHBOUR, 50).await;
    let wg = env.raise_warning(gao, WarningLevel::Red, 52.0).await;
    let wc = env.raise_warning(cp, WarningLevel::Red, 52.0).await;
    env.officer("gao", COUNTY, Role::DutyOfficer).await;
    env.officer("cp", NEIGHBOUR, Role::DutyOfficer).await;
    let gao_t = env.login("gao").await;
    let cp_t = env.login("cp").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &gao_t))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    // The neighbour's incident first: not told to Gao.
    let (_, ic) = env
        .api
        .post(&cp_t, &format!("/warnings/{}/incident", wc.id), json!({}))
        .await;
    assert!(ic["id"].as_i64().is_some());
    let (_, ig) = env
        .api
        .post(&gao_t, &format!("/warnings/{}/incident", wg.id), json!({}))
        .await;
    let got = loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "incident" {
            break m;
        }
    };
    assert_eq!(got["id"], ig["id"], "{got}");
}

#[tokio::test]
async fn a_red_warning_opens_one_incident_across_two_command_centers_when_configured() {
    let env = common::start(|c| c.api.open_incident_on_red = true).await;
    let mut config = geohazard_command_center::CommandCenterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    config.api.open_incident_on_red = true;
    let _second = geohazard_command_center::start(
        &config,
        env.store.pool.clone(),
        &env.broker.url(),
        env.shutdown.clone(),
    )
    .await
    .unwrap();
    let s = site(&env, "GAO-8", COUNTY, 50).await;
    let yellow = env.raise_warning(s, WarningLevel::Yellow, 52.0).await;
    let bus = env.publisher("test-analyzer").await;
    publish_warning(&bus, &yellow).await;
    let red = {
        let other = site(&env, "GAO-9", COUNTY, 50).await;
        env.raise_warning(other, WarningLevel::Red, 52.0).await
    };
    publish_warning(&bus, &red).await;
    // Both command-centers see it; one incident is opened, for the red one only.
    let mut found = vec![];
    for _ in 0..200 {
        found = sqlx::query_scalar::<_, i64>("SELECT warning_id FROM incident_warnings")
            .fetch_all(&env.store.pool)
            .await
            .unwrap();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the second command-center have its go too.
    publish_warning(&bus, &red).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let incidents: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(found, [red.id]);
    assert_eq!(incidents, 1);
    let by: Option<i64> =
        sqlx::query_scalar("SELECT person_id FROM incident_events WHERE kind = 'opened'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(by, None, "opened by the system");
    bus.shutdown().await;
}

#[tokio::test]
async fn plans_are_scoped_a_monitor_reads_only_their_own_sites_and_writes_are_audited() {
    let env = setup().await;
    let monitor = env.officer("monitor", COUNTY, Role::VillageMonitor).await;
    let person: i64 = sqlx::query_scalar("SELECT person_id FROM officers WHERE id = $1")
        .bind(monitor)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let mine = site(&env, "GAO-P1", COUNTY, 50).await;
    let other = site(&env, "GAO-P2", COUNTY, 50).await;
    let cp = site(&env, "CP-P1", NEIGHBOUR, 50).await;
    sqlx::query(
        "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, 'monitor')",
    )
    .bind(mine)
    .bind(person)
    .execute(&env.store.pool)
    .await
    .unwrap();
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let duty = env.login("duty").await;
    let tm = env.login("monitor").await;
    let put = |token: String, id: i64, body: Value| {
        let env = &env;
        async move {
            let r = env
                .api
                .http
                .put(env.api.url(&format!("/sites/{id}/plan")))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let plan = json!({"contacts": [{"name": "王建国", "role": "监测员", "phone": "13800001111"}],
        "routes": {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "东线"},
            "geometry": {"type": "LineString", "coordinates": [[104.6, 28.8], [104.61, 28.81]]}}]},
        "assembly_points": [{"name": "村广场", "longitude": 104.61, "latitude": 28.81}],
        "signal": "鸣锣三声"});
    let (status, body) = put(duty.clone(), mine, plan.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["contacts"][0]["name"], "王建国");
    // Bad input: a clear error naming the field.
    let mut bad = plan.clone();
    bad["routes"]["features"][0]["geometry"]["type"] = json!("Point");
    let (status, body) = put(duty.clone(), mine, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().starts_with("routes"),
        "{body}"
    );
    let mut bad = plan.clone();
    bad["contacts"][0]["phone"] = json!("<script>");
    let (status, body) = put(duty.clone(), mine, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("contacts[0].phone"),
        "{body}"
    );
    // Out of scope, or a monitor writing: refused.
    let (status, _) = put(duty.clone(), cp, plan.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put(tm.clone(), mine, plan.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The monitor reads the plan and card of their site only.
    let (status, body) = env.api.get(&tm, &format!("/sites/{mine}/plan")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["signal"], "鸣锣三声");
    for id in [other, cp] {
        let (status, _) = env.api.get(&tm, &format!("/sites/{id}/plan")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = env.api.get(&tm, &format!("/sites/{id}/card")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let card = env
        .api
        .get_response(&tm, &format!("/sites/{mine}/card"))
        .await;
    assert_eq!(card.status(), StatusCode::OK);
    assert!(card.text().await.unwrap().contains("防灾避险明白卡"));
    let rows = audit(&env, "plan.update").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2["before"]["signal"], "");
    assert_eq!(rows[0].2["after"]["signal"], "鸣锣三声");
}
