//! The field's records through the API, against a real PostgreSQL, broker and delivery worker:
//! a task's assignment told to its people (the app channel, then SMS for whoever did not
//! confirm; at once when the policy says so), rapid reports with photos (checked, bounded,
//! refused with a reason, done once per key, scoped across counties, audited), patrol schedules,
//! patrols and coverage (a monitor reaches only their own sites).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use common::{Center, NEIGHBOUR};
use futures::SinkExt;
use geohazard_command_center::Role;
use geohazard_notify::{GenericHttpConfig, NotifierConfig, SmsConfig, TaskSms};
use geohazard_protocol::warning::WarningLevel;
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::eventually;
use geohazard_testkit::fixtures::COUNTY;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn setup(task_sms: TaskSms) -> Center {
    let env = common::start(|c| {
        c.api.task_sms = task_sms;
        // Only the incident feed or the socket's opening may bring a notification in time.
        c.api.app_notification_poll_ms = 600_000;
    })
    .await;
    env.add_neighbour().await;
    env
}

async fn set_phone(env: &Center, officer: i64, phone: &str) {
    sqlx::query(
        "UPDATE people SET phone = $2 WHERE id = (SELECT person_id FROM officers WHERE id = $1)",
    )
    .bind(officer)
    .bind(phone)
    .execute(&env.store.pool)
    .await
    .unwrap();
}

async fn answers_for(env: &Center, site: i64, officer: i64) {
    sqlx::query(
        "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, 'monitor')",
    )
    .bind(site)
    .bind(env.person_of(officer).await)
    .execute(&env.store.pool)
    .await
    .unwrap();
}

async fn audit(env: &Center, action: &str) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as("SELECT division_code, target FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&env.store.pool)
        .await
        .unwrap()
}

/// An incident on a red warning of a county site and a team of `members`: (incident, team).
async fn incident_and_team(env: &Center, token: &str, members: &[i64]) -> (i64, i64) {
    let s = env.landslide("GAO-T1", COUNTY, 120).await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    let (status, incident) = env
        .api
        .post(token, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    let (status, team) = env
        .api
        .post(
            token,
            "/teams",
            json!({"division": COUNTY, "name": "县应急救援一队", "kind": "rescue",
                   "base": [104.62, 28.79], "members": members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    (
        incident["id"].as_i64().unwrap(),
        team["id"].as_i64().unwrap(),
    )
}

/// (person, channel, status, phone) of the notifications about task `task`.
async fn task_notes(env: &Center, task: i64) -> Vec<(i64, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT person_id, channel, status, phone FROM notifications WHERE task_id = $1
         ORDER BY channel, person_id",
    )
    .bind(task)
    .fetch_all(&env.store.pool)
    .await
    .unwrap()
}

/// The (phone, text) of every SMS a provider accepted.
type Sent = Arc<Mutex<Vec<(String, String)>>>;

/// An SMS provider on loopback that records (phone, text) and accepts everything.
async fn sms_provider() -> (String, Sent) {
    let sent: Sent = Arc::default();
    let app = axum::Router::new()
        .route(
            "/sms",
            axum::routing::post(|State(sent): State<Sent>, body: String| async move {
                let v: Value = serde_json::from_str(&body).unwrap();
                let mut s = sent.lock().unwrap();
                s.push((
                    v["to"].as_str().unwrap().into(),
                    v["text"].as_str().unwrap().into(),
                ));
                json!({"id": format!("m-{}", s.len())}).to_string()
            }),
        )
        .with_state(sent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/sms"), sent)
}

fn notifier(url: &str) -> NotifierConfig {
    NotifierConfig {
        sms: SmsConfig::Generic(GenericHttpConfig {
            url: url.into(),
            auth_header: None,
            auth_value: None,
            body_template: r#"{"to":"{phone}","text":"{text}","ref":"{id}"}"#.into(),
            content_type: "application/json".into(),
            message_id_pointer: Some("/id".into()),
        }),
        app_fallback_s: Some(0.5),
        poll_ms: 100,
        ..NotifierConfig::default()
    }
}

#[tokio::test]
async fn a_task_reaches_each_member_by_the_app_at_once_and_by_sms_only_whoever_did_not_confirm() {
    let env = setup(TaskSms::Unconfirmed).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let zhang = env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let li = env.officer("li", COUNTY, Role::FieldStaff).await;
    set_phone(&env, zhang, "13900000001").await;
    set_phone(&env, li, "13900000002").await;
    let duty = env.login("duty").await;
    let (incident, team) = incident_and_team(&env, &duty, &[zhang, li]).await;

    // Zhang's phone is connected before the task is given.
    let token = env.login("zhang").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &token))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "ready");

    let (status, task) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{incident}/tasks"),
            json!({"team": team, "title": "转移白岩组群众", "deadline": "2026-07-01T04:30:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task = task["id"].as_i64().unwrap();
    let (zp, lp) = (env.person_of(zhang).await, env.person_of(li).await);
    assert_eq!(
        task_notes(&env, task).await,
        [
            (zp, "app".into(), "pending".into(), None),
            (lp, "app".into(), "pending".into(), None)
        ],
        "an app notification for each member, no SMS yet"
    );

    // The incident feed brings it to the open socket at once (the poll is ten minutes away).
    let n = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let m = next_json(&mut ws).await;
            if m["type"] == "notification" {
                return m;
            }
        }
    })
    .await
    .expect("the assignment pushed at once");
    let zh = n["text_zh"].as_str().unwrap();
    assert!(
        zh.contains("新任务：转移白岩组群众") && zh.contains("期限 07-01 12:30"),
        "{zh}"
    );
    assert!(
        n["text_en"]
            .as_str()
            .unwrap()
            .starts_with("New task: 转移白岩组群众"),
        "{n}"
    );
    assert_eq!(n["task_id"], task);
    assert_eq!(n["level"], Value::Null);
    let id = n["id"].as_i64().unwrap();
    ws.send(Message::Text(
        json!({"type": "confirmed", "id": id}).to_string().into(),
    ))
    .await
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "the confirmation stored",
        || async {
            let c: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM notifications WHERE id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(id)
            .fetch_optional(&env.store.pool)
            .await
            .unwrap();
            c
        },
    )
    .await;

    // Li never confirmed: the delivery worker sends Li an SMS, and only Li.
    let (url, sent) = sms_provider().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        geohazard_notify::Delivery::new(notifier(&url))
            .unwrap()
            .run(
                env.store.pool.clone(),
                geohazard_notify::Queued::default(),
                stop.clone(),
            ),
    );
    eventually(Duration::from_secs(15), "the SMS to Li sent", || async {
        let notes = task_notes(&env, task).await;
        notes
            .iter()
            .any(|n| n.1 == "sms" && n.2 == "sent")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "13900000002");
    assert!(sent[0].1.contains("转移白岩组群众"), "{sent:?}");
    let sms: Vec<(i64, Option<String>)> = task_notes(&env, task)
        .await
        .into_iter()
        .filter(|n| n.1 == "sms")
        .map(|n| (n.0, n.3))
        .collect();
    assert_eq!(sms, [(lp, Some("13900000002".into()))]);
    let attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_attempts a JOIN notifications n ON n.id = a.notification_id
         WHERE n.task_id = $1 AND a.outcome = 'sent'",
    )
    .bind(task)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(attempts, 1, "the attempt is recorded like a warning's");
    stop.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn with_the_policy_at_once_a_task_to_one_person_queues_their_app_notification_and_sms_together()
 {
    let env = setup(TaskSms::AtOnce).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let zhang = env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let li = env.officer("li", COUNTY, Role::FieldStaff).await;
    set_phone(&env, zhang, "13900000001").await;
    let duty = env.login("duty").await;
    let (incident, team) = incident_and_team(&env, &duty, &[zhang, li]).await;
    let (status, task) = env
        .api
        .post(
            &duty,
            &format!("/incidents/{incident}/tasks"),
            json!({"team": team, "assignee": zhang, "title": "裂缝巡查"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let zp = env.person_of(zhang).await;
    assert_eq!(
        task_notes(&env, task["id"].as_i64().unwrap()).await,
        [
            (zp, "app".into(), "pending".into(), None),
            (
                zp,
                "sms".into(),
                "pending".into(),
                Some("13900000001".into())
            )
        ],
        "the person named, not the team; app and SMS at once"
    );
    assert_eq!(audit(&env, "task.dispatch").await.len(), 1);
}

/// A tiny PNG: the signature and an IHDR chunk's start.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn report(site: Option<i64>, photos: Vec<String>) -> Value {
    json!({"site": site, "kind": "landslide", "text": "后山出现新裂缝约 5 米，有落石",
           "people_at_risk": 12, "longitude": 104.601, "latitude": 28.801, "accuracy_m": 9.0,
           "photos": photos})
}

#[tokio::test]
async fn a_rapid_report_with_a_photo_is_checked_stored_once_scoped_and_audited() {
    let env = setup(TaskSms::Unconfirmed).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("nb-duty", NEIGHBOUR, Role::DutyOfficer).await;
    let wang = env.officer("wang", COUNTY, Role::VillageMonitor).await;
    env.officer("zhang", COUNTY, Role::FieldStaff).await;
    env.officer("viewer", COUNTY, Role::Viewer).await;
    let mine = env.landslide("GAO-R1", COUNTY, 120).await;
    let other = env.landslide("GAO-R2", COUNTY, 120).await;
    answers_for(&env, mine, wang).await;
    let (duty, nb, monitor, staff, viewer) = (
        env.login("duty").await,
        env.login("nb-duty").await,
        env.login("wang").await,
        env.login("zhang").await,
        env.login("viewer").await,
    );

    // Sent twice with one key (the first answer lost on a bad link): stored once.
    let body = report(Some(mine), vec![b64(PNG)]);
    let (status, replayed, first) = env
        .post_with_key(&monitor, "/field-reports", "r-1", &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(replayed, None);
    let (status, replayed, again) = env
        .post_with_key(&monitor, "/field-reports", "r-1", &body)
        .await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(again, first);
    assert_eq!(first["division"], COUNTY);
    assert_eq!(first["site_code"], "GAO-R1");
    assert_eq!(first["kind"], "landslide");
    assert_eq!(first["people_at_risk"], 12);
    let photo = first["photo_ids"][0].as_i64().expect("a photo stored");

    // The photo comes back as stored, typed by what it is, never sniffed.
    let r = env
        .api
        .get_response(&duty, &format!("/field-photos/{photo}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);

    // Hostile and oversized uploads are refused with the reason; nothing is stored.
    let svg = b64(br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#);
    let (status, body) = env
        .api
        .post(&monitor, "/field-reports", report(Some(mine), vec![svg]))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("neither a JPEG nor a PNG"),
        "{body}"
    );
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(1024 * 1024 + 1, 0);
    let (status, body) = env
        .api
        .post(
            &monitor,
            "/field-reports",
            report(Some(mine), vec![b64(&big)]),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 1048576"),
        "{body}"
    );
    let (status, body) = env
        .api
        .post(
            &monitor,
            "/field-reports",
            report(Some(mine), vec!["%%%".into()]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A village monitor reports only on the sites they answer for.
    let (status, _) = env
        .api
        .post(&monitor, "/field-reports", report(Some(other), vec![]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A viewer files no reports.
    let (status, _) = env
        .api
        .post(&viewer, "/field-reports", report(None, vec![]))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Field staff may report where no site is known: the report is in their division.
    let (status, body) = env
        .api
        .post(&staff, "/field-reports", report(None, vec![]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["division"], COUNTY);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM field_reports")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(count, 2);

    // Who reads what: the county all, the neighbour county nothing, a monitor their own.
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let (_, all) = env.api.get(&duty, "/field-reports").await;
    assert_eq!(ids(&all).len(), 2);
    let (_, since) = env
        .api
        .get(&duty, &format!("/field-reports?after={}", first["id"]))
        .await;
    assert_eq!(ids(&since), [body["id"].as_i64().unwrap()]);
    let (_, theirs) = env.api.get(&nb, "/field-reports").await;
    assert_eq!(ids(&theirs), Vec::<i64>::new());
    let r = env
        .api
        .get_response(&nb, &format!("/field-photos/{photo}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another county's photo");
    let (_, own) = env.api.get(&monitor, "/field-reports").await;
    assert_eq!(ids(&own), [first["id"].as_i64().unwrap()]);
    // Field staff read incidents in their scope, and so its reports; another monitor reads
    // nothing of Wang's.
    let (_, staff_reads) = env.api.get(&staff, "/field-reports").await;
    assert_eq!(ids(&staff_reads).len(), 2);
    env.officer("zhao", COUNTY, Role::VillageMonitor).await;
    let zhao = env.login("zhao").await;
    let (_, own) = env.api.get(&zhao, "/field-reports").await;
    assert_eq!(ids(&own), Vec::<i64>::new());
    let r = env
        .api
        .get_response(&zhao, &format!("/field-photos/{photo}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another's photo");

    // Every stored report audited, once, in its division.
    let audited = audit(&env, "field.report").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited.iter().all(|a| a.0.as_deref() == Some(COUNTY)));
}

#[tokio::test]
async fn patrols_follow_each_sites_schedule_and_coverage_shows_done_due_and_overdue() {
    let env = setup(TaskSms::Unconfirmed).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("nb-duty", NEIGHBOUR, Role::DutyOfficer).await;
    let wang = env.officer("wang", COUNTY, Role::VillageMonitor).await;
    let zhao = env.officer("zhao", COUNTY, Role::VillageMonitor).await;
    let a = env.landslide("GAO-P1", COUNTY, 120).await;
    let b = env.landslide("GAO-P2", COUNTY, 120).await;
    let c = env.landslide("CUI-P1", NEIGHBOUR, 120).await;
    let (duty, nb, wang_t, zhao_t) = (
        env.login("duty").await,
        env.login("nb-duty").await,
        env.login("wang").await,
        env.login("zhao").await,
    );
    let put = |token: String, site: i64, body: Value| {
        let env = &env;
        async move {
            env.put(&token, &format!("/sites/{site}/patrol-schedule"), &body)
                .await
        }
    };
    // Daily all year round for A (Wang), daily for B (Zhao); months must be months.
    let daily = |monitor: i64| {
        json!({"interval_hours": 24, "season": [], "items": ["cracks", "bulging", "spring_turbidity"],
               "monitor": monitor})
    };
    let (status, body) = put(duty.clone(), a, daily(wang)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["items"],
        json!(["cracks", "bulging", "spring_turbidity"])
    );
    let (status, _) = put(duty.clone(), b, daily(zhao)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put(
        duty.clone(),
        b,
        json!({"interval_hours": 24, "season": [13], "items": ["cracks"]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = put(nb.clone(), a, daily(wang)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another county's site");
    let (status, _) = put(wang_t.clone(), a, daily(wang)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a monitor writes no schedules"
    );
    let (status, _) = put(
        nb.clone(),
        c,
        json!({"interval_hours": 24, "items": ["cracks"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // B was scheduled two days ago and never patrolled: overdue.
    sqlx::query(
        "UPDATE patrol_schedules SET created_at = now() - interval '2 days' WHERE site_id = $1",
    )
    .bind(b)
    .execute(&env.store.pool)
    .await
    .unwrap();

    // Each monitor sees only their own sites.
    let (_, mine) = env.api.get(&wang_t, "/patrol-schedules?mine=true").await;
    let codes: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["GAO-P1"]);
    let (_, all) = env.api.get(&zhao_t, "/patrol-schedules").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "a monitor reaches only theirs: {all}"
    );

    // Wang patrols A: every item answered, position and photo kept.
    let patrol = json!({"site": a, "answers": [
            {"item": "cracks", "ok": false, "note": "东侧裂缝加宽"},
            {"item": "bulging", "ok": true},
            {"item": "spring_turbidity", "ok": true}],
        "note": "已告知村委会", "longitude": 104.6, "latitude": 28.8, "accuracy_m": 6.0,
        "photos": [b64(PNG)]});
    let (status, _, done) = env.post_with_key(&wang_t, "/patrols", "p-1", &patrol).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["anomalies"], 1);
    assert_eq!(done["photo_ids"].as_array().unwrap().len(), 1);
    let (status, _, again) = env.post_with_key(&wang_t, "/patrols", "p-1", &patrol).await;
    assert_eq!(
        (status, &again),
        (StatusCode::CREATED, &done),
        "once per key"
    );
    // A checklist not answered whole, or another's site, is refused.
    let mut partial = patrol.clone();
    partial["answers"].as_array_mut().unwrap().pop();
    let (status, body) = env.api.post(&wang_t, "/patrols", partial).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut elsewhere = patrol.clone();
    elsewhere["site"] = json!(b);
    let (status, _) = env.api.post(&wang_t, "/patrols", elsewhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Zhao's site");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM patrols")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // Coverage: the county due 2, done 1, overdue 1; the neighbour's site is not in it.
    let (status, cov) = env.api.get(&duty, "/patrols/coverage").await;
    assert_eq!(status, StatusCode::OK, "{cov}");
    assert_eq!(
        cov["divisions"],
        json!([{"division": COUNTY, "division_name": cov["divisions"][0]["division_name"], "due": 2, "done": 1, "overdue": 1}])
    );
    let sites = cov["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(
        (
            sites[0]["site_code"].as_str(),
            sites[0]["overdue"].as_bool()
        ),
        (Some("GAO-P2"), Some(true))
    );
    assert_eq!(sites[1]["last_by"], "值班员 wang");
    assert_eq!(sites[1]["last_anomalies"], 1);
    let (status, _) = env.api.get(&wang_t, "/patrols/coverage").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "monitors do not read coverage"
    );

    // Audited: three schedules written, one patrol.
    assert_eq!(audit(&env, "patrol.schedule").await.len(), 3);
    assert_eq!(
        audit(&env, "patrol.report").await,
        [(
            Some(COUNTY.to_owned()),
            Some(format!("patrol:{}", done["id"]))
        )]
    );
}

#[tokio::test]
async fn a_console_socket_hears_of_a_report_in_its_scope_and_not_of_one_elsewhere() {
    let env = setup(TaskSms::Unconfirmed).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("nb-staff", NEIGHBOUR, Role::FieldStaff).await;
    env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let token = env.login("duty").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &token))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    let nb = env.login("nb-staff").await;
    let (status, _) = env
        .api
        .post(&nb, "/field-reports", report(None, vec![]))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let staff = env.login("zhang").await;
    let (status, mine) = env
        .api
        .post(&staff, "/field-reports", report(None, vec![]))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let m = tokio::time::timeout(Duration::from_secs(10), next_json(&mut ws))
        .await
        .expect("the report announced");
    assert_eq!(
        m,
        json!({"type": "field_report", "id": mine["id"]}),
        "the county's only"
    );
}

#[tokio::test]
async fn an_incident_is_opened_once_from_a_field_report_in_scope_with_its_site_and_timeline() {
    let env = setup(TaskSms::Unconfirmed).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("nb-duty", NEIGHBOUR, Role::DutyOfficer).await;
    env.officer("viewer", COUNTY, Role::Viewer).await;
    let wang = env.officer("wang", COUNTY, Role::VillageMonitor).await;
    let site = env.landslide("GAO-F1", COUNTY, 40).await;
    answers_for(&env, site, wang).await;
    let (duty, nb, viewer, monitor) = (
        env.login("duty").await,
        env.login("nb-duty").await,
        env.login("viewer").await,
        env.login("wang").await,
    );
    let (status, sent) = env
        .api
        .post(&monitor, "/field-reports", report(Some(site), vec![]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let path = format!("/field-reports/{}/incident", sent["id"]);

    // Neither another county nor a viewer nor the monitor opens one.
    for (who, token, expected) in [
        ("the neighbour county", &nb, StatusCode::NOT_FOUND),
        ("a viewer", &viewer, StatusCode::FORBIDDEN),
        ("the monitor", &monitor, StatusCode::FORBIDDEN),
    ] {
        let (status, body) = env.api.post(token, &path, json!({})).await;
        assert_eq!(status, expected, "{who}: {body}");
    }
    // Five clicks at once make one incident, with the report's site, graded by the site's 40
    // people threatened (more than the report's 12), and the report in its timeline.
    let opens = (0..5).map(|_| env.api.post(&duty, &path, json!({})));
    let answers = futures::future::join_all(opens).await;
    let created: Vec<&(StatusCode, Value)> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let incident = &created[0].1;
    assert!(answers.iter().all(|(_, b)| b["id"] == incident["id"]));
    assert_eq!(incident["site_ids"], json!([site]));
    assert_eq!(incident["threatened_people"], 40);
    assert!(
        incident["title"].as_str().unwrap().contains("滑坡灾情速报"),
        "{incident}"
    );
    let (_, detail) = env
        .api
        .get(&duty, &format!("/incidents/{}", incident["id"]))
        .await;
    assert_eq!(detail["timeline"][0]["kind"], "opened", "{detail}");
    assert_eq!(detail["timeline"][0]["detail"]["report"], sent["id"]);
    // The report names its incident; the opening is audited once.
    let (_, reports) = env.api.get(&duty, "/field-reports").await;
    assert_eq!(reports[0]["incident_id"], incident["id"], "{reports}");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'incident.open' AND detail->>'field_report' IS NOT NULL",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}
