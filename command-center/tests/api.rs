//! The command-center API against a real PostgreSQL and a real MQTT broker, over real HTTP and
//! WebSocket connections.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{Center, NEIGHBOUR, PASSWORD};
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_store::{ReadingRows, Store};
use geohazard_testkit::api::{StatusCode, next_json};
use geohazard_testkit::fixtures::{self, CITY, COUNTY, PROVINCE};
use geohazard_testkit::publish_warning;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

/// A command-center over Sichuan → Yibin → Gao and Gao's neighbour Cuiping.
async fn setup() -> Center {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env
}

impl Center {
    /// A landslide site in `division`.
    async fn site(&self, code: &str, division: &str) -> i64 {
        registry::upsert_site(
            &self.store.pool,
            &NewSite {
                code,
                name: code,
                kind: SiteKind::Landslide,
                division_code: division,
                location: geo::Point::new(104.6, 28.8),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: 30,
                threatened_property: 50.0,
            },
        )
        .await
        .unwrap()
    }

    async fn audit(&self, action: &str) -> Vec<(Option<i64>, Option<String>, Value)> {
        sqlx::query_as(
            "SELECT officer_id, division_code, detail FROM audit_log WHERE action = $1 ORDER BY id",
        )
        .bind(action)
        .fetch_all(&self.store.pool)
        .await
        .unwrap()
    }
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn officer_signs_in_and_out_and_the_token_then_stops_working() {
    let env = setup().await;
    let id = env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let (status, body) = env.api.try_login("gao-duty", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["officer"]["id"], id);
    assert_eq!(body["officer"]["role"], "duty_officer");
    assert_eq!(body["officer"]["division_code"], COUNTY);
    assert!(body["expires_at"].is_string());
    let token = body["token"].as_str().unwrap().to_owned();
    // Only the token's hash is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM officer_sessions")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, token.as_bytes());

    let (status, me) = env.api.get(&token, "/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "gao-duty");

    let (status, _) = env.api.post(&token, "/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = env.api.get(&token, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].is_string());
    assert_eq!(env.audit("login").await.len(), 1);
    assert_eq!(env.audit("logout").await[0].0, Some(id));

    // No token, or a made-up one: 401 with a JSON error and a bearer challenge.
    let r = env
        .api
        .http
        .get(env.api.url("/sites"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let (status, _) = env.api.get(&"ab".repeat(32), "/sites").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_user_name_until_the_window_passes() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("gao-other", COUNTY, Role::DutyOfficer).await;
    for _ in 0..5 {
        let (status, _) = env.api.try_login("gao-duty", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, with its own answer, and that is audited.
    let (status, body) = env.api.try_login("gao-duty", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.get("token").is_none());
    assert_eq!(env.audit("login_throttled").await.len(), 1);
    // Another officer at the same desk is not locked out.
    env.login("gao-other").await;
    // Once the failures are older than the window, the officer signs in again.
    sqlx::query(
        "UPDATE audit_log SET at = at - interval '16 minutes' WHERE action = 'login_failed'",
    )
    .execute(&env.store.pool)
    .await
    .unwrap();
    env.login("gao-duty").await;
}

#[tokio::test]
async fn wrong_password_is_rejected_and_audited() {
    let env = setup().await;
    let id = env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let (status, wrong) = env.api.try_login("gao-duty", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, unknown) = env.api.try_login("nobody", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The same generic answer: it does not tell which user names exist.
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "invalid username or password");
    assert!(wrong.get("token").is_none());

    let failed = env.audit("login_failed").await;
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, Some(id));
    assert_eq!(failed[0].1.as_deref(), Some(COUNTY));
    assert_eq!(failed[0].2["reason"], "wrong_password");
    assert_eq!(failed[1].0, None);
    assert_eq!(failed[1].2["reason"], "unknown_user");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM officer_sessions")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn expired_session_is_rejected() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;
    assert_eq!(env.api.get(&token, "/sites").await.0, StatusCode::OK);
    sqlx::query(
        "UPDATE officer_sessions SET created_at = now() - interval '13 hours',
             expires_at = now() - interval '1 hour'",
    )
    .execute(&env.store.pool)
    .await
    .unwrap();
    let (status, body) = env.api.get(&token, "/sites").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn a_session_in_use_is_marked_used_at_most_once_a_minute() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;
    // Seconds since the session was last marked used, after it was set `ago` seconds back and
    // a request made with it.
    let idle_after_a_request = |ago: f64| {
        let (env, token) = (&env, &token);
        async move {
            sqlx::query(
                "UPDATE officer_sessions SET last_used_at = now() - make_interval(secs => $1)",
            )
            .bind(ago)
            .execute(&env.store.pool)
            .await
            .unwrap();
            assert_eq!(env.api.get(token, "/me").await.0, StatusCode::OK);
            let idle: f64 = sqlx::query_scalar(
                "SELECT extract(epoch FROM now() - last_used_at)::float8 FROM officer_sessions",
            )
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
            idle
        }
    };
    // Marked 2 minutes ago: the request marks it now.
    assert!(idle_after_a_request(120.0).await < 10.0);
    // Marked 30 s ago: no write for this request.
    let idle = idle_after_a_request(30.0).await;
    assert!((30.0..40.0).contains(&idle), "{idle}");
}

#[tokio::test]
async fn disabled_officer_is_rejected_at_once_and_cannot_sign_in() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;
    sqlx::query("UPDATE officers SET disabled = true")
        .execute(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(env.api.get(&token, "/me").await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = env.api.try_login("gao-duty", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid username or password");
    assert_eq!(env.audit("login_failed").await[0].2["reason"], "disabled");
}

#[tokio::test]
async fn county_officer_cannot_see_a_neighbouring_countys_site() {
    let env = setup().await;
    let own = env.site("GAO-1", COUNTY).await;
    let neighbours = env.site("CP-1", NEIGHBOUR).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("yibin-duty", CITY, Role::Viewer).await;
    let county = env.login("gao-duty").await;
    let city = env.login("yibin-duty").await;

    let (status, list) = env.api.get(&county, "/sites").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), vec![own]);
    let site = &list[0];
    assert_eq!(site["type"], "landslide");
    assert_eq!(site["status"], "monitoring");
    assert_eq!(site["division"]["code"], COUNTY);
    assert_eq!(site["division"]["name"], "高县");
    assert_eq!(
        site["location"],
        json!({"type": "Point", "coordinates": [104.6, 28.8]})
    );

    // Out of scope answers exactly like an id that does not exist.
    let (status, hidden) = env.api.get(&county, &format!("/sites/{neighbours}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, missing) = env.api.get(&county, "/sites/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(hidden, missing);

    // The city sees both of its counties.
    let (_, list) = env.api.get(&city, "/sites").await;
    let mut seen = ids(&list);
    seen.sort();
    assert_eq!(seen, vec![own, neighbours]);
    assert_eq!(
        env.api.get(&city, &format!("/sites/{neighbours}")).await.0,
        StatusCode::OK
    );
    // Filters.
    let (_, list) = env.api.get(&city, "/sites?type=debris_flow").await;
    assert_eq!(ids(&list), Vec::<i64>::new());
}

#[tokio::test]
async fn site_detail_has_sensors_gateway_online_state_and_open_warnings() {
    let env = setup().await;
    let gateway = fixtures::register_gateway(&env.store, "gw-01", &["crack-1", "crack-2"]).await;
    sqlx::query("UPDATE gateways SET online = true, last_seen_at = now() WHERE id = $1")
        .bind(gateway)
        .execute(&env.store.pool)
        .await
        .unwrap();
    let site: i64 = sqlx::query_scalar("SELECT site_id FROM gateways WHERE id = $1")
        .bind(gateway)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let w = env
        .raise_warning_from(site, "threshold:crack-1", WarningLevel::Yellow, 25.0)
        .await;
    env.officer("gao-view", COUNTY, Role::Viewer).await;
    let token = env.login("gao-view").await;

    let (status, detail) = env.api.get(&token, &format!("/sites/{site}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["code"], "site-gw-01");
    assert_eq!(detail["warning_level"], "yellow");
    assert_eq!(detail["gateways"][0]["code"], "gw-01");
    assert_eq!(detail["gateways"][0]["online"], true);
    let sensors = detail["sensors"].as_array().unwrap();
    assert_eq!(sensors.len(), 2);
    assert_eq!(sensors[0]["channel"], "crack-1");
    assert_eq!(sensors[0]["kind"], "crack_meter");
    assert_eq!(sensors[0]["gateway_online"], true);
    assert_eq!(detail["warnings"][0]["id"], w.id);
    assert_eq!(detail["warnings"][0]["state"], "open");
}

async fn store_readings(store: &Store, sensor: i32, from: DateTime<Utc>, n: i64, step_s: i64) {
    let mut rows = ReadingRows::with_capacity(n as usize);
    for i in 0..n {
        rows.push(
            sensor,
            from + chrono::Duration::seconds(i * step_s),
            i as f64,
            0,
        );
    }
    fixtures::store_readings(store, &rows).await;
}

#[tokio::test]
async fn readings_are_scoped_bounded_by_range_and_limited() {
    let env = setup().await;
    let gateway = fixtures::register_gateway(&env.store, "gw-01", &["crack-1"]).await;
    let sensor: i32 = sqlx::query_scalar("SELECT id FROM sensors WHERE gateway_id = $1")
        .bind(gateway)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    // Two hours of one reading a minute.
    store_readings(&env.store, sensor, start, 120, 60).await;
    env.officer("gao-view", COUNTY, Role::Viewer).await;
    env.officer("cp-view", NEIGHBOUR, Role::Viewer).await;
    let token = env.login("gao-view").await;
    let path = |q: &str| format!("/sensors/{sensor}/readings?{q}");

    let (status, body) = env
        .api
        .get(
            &token,
            &path("from=2026-03-01T00:00:00Z&to=2026-03-01T01:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resolution"], "raw");
    assert_eq!(body["unit"], "mm");
    assert_eq!(body["points"].as_array().unwrap().len(), 60);
    assert_eq!(body["points"][59]["value"], 59.0);
    assert_eq!(body["truncated"], false);

    let (_, body) = env
        .api
        .get(
            &token,
            &path("from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&limit=10"),
        )
        .await;
    assert_eq!(body["points"].as_array().unwrap().len(), 10);
    assert_eq!(body["truncated"], true);

    let (status, body) = env
        .api
        .get(
            &token,
            &path("from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z&resolution=hourly"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hours = body["points"].as_array().unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0]["n"], 60);
    assert_eq!(hours[0]["min"], 0.0);
    assert_eq!(hours[0]["max"], 59.0);
    assert_eq!(hours[1]["mean"], 89.5);

    for (q, why) in [
        (
            "from=2026-01-01T00:00:00Z&to=2026-02-02T00:00:00Z",
            "32 days raw",
        ),
        (
            "from=2023-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&resolution=hourly",
            "3 years hourly",
        ),
        (
            "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
            "from after to",
        ),
        ("resolution=minutely", "unknown resolution"),
        ("limit=1000000", "limit too large"),
        ("from=yesterday", "unreadable time"),
    ] {
        let (status, body) = env.api.get(&token, &path(q)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert!(body["error"].is_string(), "{why}");
    }

    // Another county's officer: the sensor does not exist for them.
    let other = env.login("cp-view").await;
    assert_eq!(
        env.api.get(&other, &path("")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn viewer_cannot_acknowledge_a_warning() {
    let env = setup().await;
    let site = env.site("GAO-1", COUNTY).await;
    let w = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    env.officer("gao-view", COUNTY, Role::Viewer).await;
    let token = env.login("gao-view").await;
    let (status, body) = env
        .api
        .post(
            &token,
            &format!("/warnings/{}/acknowledge", w.id),
            json!({"note": "seen"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].is_string());
    let (_, list) = env.api.get(&token, "/warnings?state=open").await;
    assert_eq!(ids(&list), vec![w.id]);
    assert!(env.audit("warning.acknowledge").await.is_empty());
}

#[tokio::test]
async fn acknowledging_a_warning_is_audited_and_changes_its_state() {
    let env = setup().await;
    let site = env.site("GAO-1", COUNTY).await;
    let w = env
        .raise_warning_from(site, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let officer = env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;

    let (status, body) = env
        .api
        .post(
            &token,
            &format!("/warnings/{}/acknowledge", w.id),
            json!({"note": "village monitor called, evacuating"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "acknowledged");
    assert_eq!(body["acknowledged_by"], "值班员 gao-duty");
    assert!(body["acknowledged_at"].is_string());

    // No longer waiting for an acknowledgement, still active.
    let (_, open) = env.api.get(&token, "/warnings?state=open").await;
    assert!(ids(&open).is_empty());
    let (_, active) = env.api.get(&token, "/warnings").await;
    assert_eq!(ids(&active), vec![w.id]);
    assert_eq!(active[0]["state"], "acknowledged");

    // The analyzer's state machine recorded the transition with the officer as the person.
    let (_, detail) = env.api.get(&token, &format!("/warnings/{}", w.id)).await;
    let events = detail["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["transition"], "acknowledged");
    assert_eq!(events.last().unwrap()["person"], "值班员 gao-duty");
    assert_eq!(
        events.last().unwrap()["evidence"]["note"],
        "village monitor called, evacuating",
        "the officer's note is kept with the transition"
    );
    assert_eq!(detail["evidence"]["value"], 25.0);

    let audited = env.audit("warning.acknowledge").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, Some(officer));
    assert_eq!(audited[0].1.as_deref(), Some(COUNTY));
    assert_eq!(audited[0].2["note"], "village monitor called, evacuating");

    // Acknowledging again is a conflict, not a second record.
    let (status, _) = env
        .api
        .post(
            &token,
            &format!("/warnings/{}/acknowledge", w.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(env.audit("warning.acknowledge").await.len(), 1);
}

#[tokio::test]
async fn a_warning_outside_the_officers_divisions_is_invisible_and_cannot_be_acknowledged() {
    let env = setup().await;
    let own = env.site("GAO-1", COUNTY).await;
    let other = env.site("CP-1", NEIGHBOUR).await;
    let mine = env
        .raise_warning_from(own, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let theirs = env
        .raise_warning_from(other, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("sichuan-admin", PROVINCE, Role::Admin).await;
    let token = env.login("gao-duty").await;

    let (_, list) = env.api.get(&token, "/warnings?state=all").await;
    assert_eq!(ids(&list), vec![mine.id]);
    assert_eq!(
        env.api
            .get(&token, &format!("/warnings/{}", theirs.id))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = env
        .api
        .post(
            &token,
            &format!("/warnings/{}/acknowledge", theirs.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let state: String = sqlx::query_scalar("SELECT state FROM warnings WHERE id = $1")
        .bind(theirs.id)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(state, "open");

    let province = env.login("sichuan-admin").await;
    let (_, list) = env.api.get(&province, "/warnings").await;
    let mut seen = ids(&list);
    seen.sort();
    assert_eq!(seen, vec![mine.id, theirs.id]);
    assert_eq!(
        env.api.get(&province, "/warnings?state=sometimes").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn only_admins_read_the_audit_log_and_only_for_their_divisions() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    env.officer("cp-duty", NEIGHBOUR, Role::DutyOfficer).await;
    env.officer("sichuan-admin", PROVINCE, Role::Admin).await;
    let duty = env.login("gao-duty").await;
    env.login("cp-duty").await;
    env.api.try_login("nobody", "guess").await;

    let (status, body) = env.api.get(&duty, "/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].is_string());

    let county_admin = env.login("gao-admin").await;
    let (status, log) = env.api.get(&county_admin, "/audit").await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let users: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap_or("-"))
        .collect();
    // Newest first: its own sign-in, then the county duty officer's; nothing from Cuiping and
    // not the unknown user's attempt.
    assert_eq!(users, vec!["gao-admin", "gao-duty"]);

    let province = env.login("sichuan-admin").await;
    let (_, log) = env.api.get(&province, "/audit?action=login_failed").await;
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["target"], "officer:nobody");
    let (_, log) = env.api.get(&province, "/audit?action=login").await;
    assert_eq!(log.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn live_socket_receives_warnings_for_own_division_only() {
    let env = setup().await;
    let own = env.site("GAO-1", COUNTY).await;
    let other = env.site("CP-1", NEIGHBOUR).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("yibin-duty", CITY, Role::DutyOfficer).await;
    let county = env.login("gao-duty").await;
    let city = env.login("yibin-duty").await;

    // No session, a bad one, or a valid one in the URL: refused before the upgrade. A token
    // never travels in a URL (logs, proxies, histories keep URLs).
    for request in [
        tungstenite::client::IntoClientRequest::into_client_request(env.api.ws_url("/live"))
            .unwrap(),
        env.api.ws_request("/live", &"00".repeat(32)),
        tungstenite::client::IntoClientRequest::into_client_request(
            env.api.ws_url(&format!("/live?token={county}")),
        )
        .unwrap(),
    ] {
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("expected a 401, got {other:?}"),
        }
    }

    // A client that is not a browser sends its session as a bearer header on the upgrade.
    let (mut county_ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &county))
        .await
        .unwrap();
    let (mut city_ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &city))
        .await
        .unwrap();
    assert_eq!(next_json(&mut county_ws).await["type"], "ready");
    assert_eq!(next_json(&mut city_ws).await["type"], "ready");

    // The analyzer publishes the neighbour's warning first, then Gao's.
    let theirs = env
        .raise_warning_from(other, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let mine = env
        .raise_warning_from(own, "threshold:mud-1", WarningLevel::Yellow, 25.0)
        .await;
    let bus = env.publisher("test-analyzer").await;
    for w in [&theirs, &mine] {
        publish_warning(&bus, w).await;
    }

    let got = next_json(&mut county_ws).await;
    assert_eq!(got["type"], "warning", "{got}");
    assert_eq!(
        got["warning"]["id"], mine.id,
        "the neighbour's warning is not sent"
    );
    assert_eq!(got["warning"]["division"], COUNTY);
    let first = next_json(&mut city_ws).await;
    let second = next_json(&mut city_ws).await;
    assert_eq!(
        (
            first["warning"]["id"].clone(),
            second["warning"]["id"].clone()
        ),
        (json!(theirs.id), json!(mine.id))
    );

    // An acknowledgement made through the API goes out on MQTT and comes back to the consoles.
    let (status, _) = env
        .api
        .post(
            &county,
            &format!("/warnings/{}/acknowledge", mine.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = next_json(&mut county_ws).await;
    assert_eq!(got["warning"]["id"], mine.id);
    assert_eq!(got["warning"]["transition"], "acknowledged");
    assert_eq!(got["warning"]["state"], "acknowledged");
    bus.shutdown().await;
}

#[tokio::test]
async fn a_live_socket_naming_an_unknown_or_no_feed_is_refused_with_the_feeds_there_are() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;
    for (query, says) in [
        (
            "?feeds=notifications,warnigns",
            "unknown live feed `warnigns`",
        ),
        ("?feeds=", "name at least one live feed"),
        ("?feeds=,", "name at least one live feed"),
    ] {
        match tokio_tungstenite::connect_async(env.api.ws_request(&format!("/live{query}"), &token))
            .await
        {
            Err(tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 400, "{query}");
                let body: Value = serde_json::from_slice(r.body().as_deref().unwrap_or_default())
                    .expect("a JSON error");
                let message = body["error"].as_str().unwrap_or_default();
                assert!(
                    message.contains(says) && message.contains("warnings, incidents"),
                    "{query}: {body}"
                );
            }
            other => panic!("{query}: expected a 400, got {other:?}"),
        }
    }
    // Known feeds open; a session is still needed first.
    assert_eq!(
        env.api
            .ws("/live?feeds=notifications", &"00".repeat(32))
            .await
            .err(),
        Some(401)
    );
    let mut ws = env
        .api
        .ws("/live?feeds=notifications,incidents", &token)
        .await
        .expect("the field app's feeds open");
    let ready = next_json(&mut ws).await;
    assert_eq!(
        ready["feeds"],
        json!(["incidents", "notifications"]),
        "{ready}"
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let env = setup().await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let token = env.login("gao-duty").await;

    let r = env
        .api
        .http
        .post(env.api.url("/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    // Bodies are size-limited.
    let r = env
        .api
        .http
        .post(env.api.url("/login"))
        .json(&json!({"username": "x", "password": "p".repeat(200_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    let (status, body) = env.api.get(&token, "/sites/not-a-number").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
    let (status, body) = env.api.get(&token, "/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not found");
}

#[tokio::test]
async fn officer_add_command_stores_an_argon2_hash_and_the_officer_can_sign_in() {
    let env = setup().await;
    let db_url = env.db.url.clone();
    let bin = env!("CARGO_BIN_EXE_command-center");
    let out = tokio::process::Command::new(bin)
        .args([
            "officer",
            "add",
            "--username",
            "gao-chief",
            "--division",
            COUNTY,
        ])
        .args(["--role", "admin", "--display-name", "Chief Wang"])
        .env("DATABASE_URL", &db_url)
        .env("GEOHAZARD_OFFICER_PASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (hash, role): (String, String) =
        sqlx::query_as("SELECT password_hash, role FROM officers WHERE username = 'gao-chief'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    assert_eq!(role, "admin");
    let (status, body) = env.api.try_login("gao-chief", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["officer"]["display_name"], "Chief Wang");

    // From stdin, and refusals: an unknown division, a taken name.
    use tokio::io::AsyncWriteExt;
    let run = |args: Vec<&'static str>, stdin: &'static str| {
        let db_url = db_url.clone();
        async move {
            let mut child = tokio::process::Command::new(bin)
                .args(args)
                .env("DATABASE_URL", &db_url)
                .env_remove("GEOHAZARD_OFFICER_PASSWORD")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(stdin.as_bytes())
                .await
                .unwrap();
            child.wait_with_output().await.unwrap()
        }
    };
    let add = |user: &'static str, division: &'static str| {
        vec![
            "officer",
            "add",
            "--username",
            user,
            "--division",
            division,
            "--role",
            "viewer",
        ]
    };
    let out = run(add("gao-clerk", COUNTY), "a long enough password\n").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.api
            .try_login("gao-clerk", "a long enough password")
            .await
            .0,
        StatusCode::OK
    );
    let out = run(add("someone", "999999"), "a long enough password\n").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no division"));
    let out = run(add("gao-clerk", COUNTY), "a long enough password\n").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
}
