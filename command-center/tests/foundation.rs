//! The command half's foundation over real HTTP, PostgreSQL and MQTT: scope by division on every
//! resource, the OpenAPI document against the router, a stable `code` on every error answer,
//! and idempotent POSTs under concurrent retries.

mod common;

use std::collections::BTreeSet;

use common::{Center, NEIGHBOUR};
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::{self, CITY, COUNTY, PROVINCE};
use serde_json::{Value, json};

/// A command-center over Sichuan → Yibin → Gao and Gao's neighbour Cuiping.
async fn setup() -> Center {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env
}

/// A site in `division` with a gateway `{code}-gw` and a crack meter: (site, gateway, sensor).
async fn site_with_devices(env: &Center, code: &str, division: &str) -> (i64, i64, i32) {
    let site = registry::upsert_site(
        &env.store.pool,
        &NewSite {
            code,
            name: code,
            kind: SiteKind::Landslide,
            division_code: division,
            location: geo::Point::new(104.6, 28.8),
            threat_zone: None,
            scale_class: None,
            volume_m3: None,
            threatened_people: 3,
            threatened_property: 1.0,
        },
    )
    .await
    .unwrap();
    let gw_code = format!("{code}-gw");
    let gateway = registry::upsert_gateway(&env.store.pool, &gw_code, Some(site), &gw_code, None)
        .await
        .unwrap();
    let sensor = fixtures::register_crack_meter(&env.store, gateway, site, "crack-1").await;
    (site, gateway, sensor)
}

fn ids(list: &Value) -> BTreeSet<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_county_officer_reads_no_other_countys_site_warning_gateway_or_readings_by_id_or_list() {
    let env = setup().await;
    let (own_site, own_gw, own_sensor) = site_with_devices(&env, "GAO-1", COUNTY).await;
    let (other_site, other_gw, other_sensor) = site_with_devices(&env, "CP-1", NEIGHBOUR).await;
    let own_warning = env
        .raise_warning(own_site, WarningLevel::Yellow, 12.0)
        .await
        .id;
    let other_warning = env
        .raise_warning(other_site, WarningLevel::Yellow, 12.0)
        .await
        .id;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("yibin-viewer", CITY, Role::Viewer).await;
    let county = env.login("gao-duty").await;
    let city = env.login("yibin-viewer").await;

    // Lists hold only what is in scope.
    let (_, sites) = env.api.get(&county, "/sites").await;
    assert_eq!(ids(&sites), BTreeSet::from([own_site]));
    let (_, warnings) = env.api.get(&county, "/warnings?state=all").await;
    assert_eq!(ids(&warnings), BTreeSet::from([own_warning]));
    let (_, gateways) = env.api.get(&county, "/gateways").await;
    assert_eq!(ids(&gateways), BTreeSet::from([own_gw]));
    let (_, gateways) = env
        .api
        .get(&county, &format!("/gateways?site={other_site}"))
        .await;
    assert_eq!(ids(&gateways), BTreeSet::new());
    let (_, health) = env.api.get(&county, "/health").await;
    assert_eq!(ids(&health["gateways"]), BTreeSet::from([own_gw]));
    let silent: BTreeSet<i64> = health["silent_sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(silent, BTreeSet::from([i64::from(own_sensor)]));

    // By id, another county's object answers exactly like one that does not exist.
    for (theirs, missing) in [
        (format!("/sites/{other_site}"), "/sites/999999".to_owned()),
        (
            format!("/warnings/{other_warning}"),
            "/warnings/999999".to_owned(),
        ),
        (
            format!("/sensors/{other_sensor}/readings"),
            "/sensors/999999/readings".to_owned(),
        ),
    ] {
        let hidden = env.api.get(&county, &theirs).await;
        assert_eq!(hidden.0, StatusCode::NOT_FOUND, "{theirs}");
        assert_eq!(hidden, env.api.get(&county, &missing).await, "{theirs}");
    }
    for own in [
        format!("/sites/{own_site}"),
        format!("/warnings/{own_warning}"),
        format!("/sensors/{own_sensor}/readings"),
    ] {
        assert_eq!(env.api.get(&county, &own).await.0, StatusCode::OK, "{own}");
    }

    // The city above both sees both.
    let (_, gateways) = env.api.get(&city, "/gateways").await;
    assert_eq!(ids(&gateways), BTreeSet::from([own_gw, other_gw]));
    let (_, warnings) = env.api.get(&city, "/warnings").await;
    assert_eq!(ids(&warnings), BTreeSet::from([own_warning, other_warning]));
}

/// `(method, path)` of every `.route("/api/...", get(..).post(..))` in the command-center's
/// sources: the routes its router has.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let rest = &text[at + ".route(".len()..];
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let path = &rest[..rest.find('"').unwrap()];
            if !path.starts_with("/api/") {
                continue;
            }
            // The method router: up to the call's closing parenthesis.
            let args = &rest[path.len() + 1..];
            let mut depth = 1;
            let end = args
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            for method in ["get", "post", "put", "patch", "delete"] {
                let args = &args[..end];
                if args.contains(&format!("{method}(")) {
                    routes.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_is_served_parses_and_lists_exactly_the_routes_the_router_has() {
    let env = setup().await;
    let r = reqwest::get(env.api.url("/openapi.json")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).expect("JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                // One operation for each of the register's lists, routed by their own paths.
                for list in ["people", "gateways", "sensors"] {
                    documented.insert((method.clone(), path.replace("{list}", list)));
                }
            }
        }
    }
    let routed = routes_in_sources();
    assert!(routed.len() > 20, "{routed:?}");
    assert_eq!(documented, routed);
    // Every documented route reaches a handler, not the fallbacks.
    let http = reqwest::Client::new();
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "1")
            .replace("{gateway}", "gw")
            .replace("{camera}", "cam");
        let url = format!("http://{}{concrete}", env.api.addr());
        let r = match method.as_str() {
            "get" => http.get(url),
            "post" => http.post(url),
            "put" => http.put(url),
            "patch" => http.patch(url),
            "delete" => http.delete(url),
            other => panic!("untested method {other}"),
        }
        .send()
        .await
        .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(body["code"], "no_such_route", "{method} {path}");
    }
    // Schemas hold the domain's closed sets as enumerations.
    let site_kind = &doc["components"]["schemas"]["SiteKind"]["enum"];
    assert_eq!(
        site_kind,
        &json!([
            "landslide",
            "rockfall",
            "debris_flow",
            "subsidence",
            "fissure"
        ])
    );
}

#[tokio::test]
async fn every_error_answer_has_a_stable_code_beside_its_message() {
    let env = setup().await;
    let (site, _, _) = site_with_devices(&env, "GAO-1", COUNTY).await;
    let w = env.raise_warning(site, WarningLevel::Yellow, 12.0).await.id;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("gao-viewer", COUNTY, Role::Viewer).await;
    let duty = env.login("gao-duty").await;
    let viewer = env.login("gao-viewer").await;
    let http = reqwest::Client::new();
    let url = |p: &str| env.api.url(p);
    let ack = format!("/warnings/{w}/acknowledge");

    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "no session",
            http.get(url("/sites")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "bad token",
            http.get(url("/sites")).bearer_auth("nope"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "absent site",
            http.get(url("/sites/424242")).bearer_auth(&duty),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "no route",
            http.get(url("/nowhere")).bearer_auth(&duty),
            StatusCode::NOT_FOUND,
            "no_such_route",
        ),
        (
            "wrong method",
            http.delete(url("/sites")).bearer_auth(&duty),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "bad id",
            http.get(url("/sites/abc")).bearer_auth(&duty),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "bad filter",
            http.get(url("/sites?type=volcano")).bearer_auth(&duty),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "bad range",
            http.get(url(
                "/sensors/1/readings?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            ))
            .bearer_auth(&duty),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "not JSON",
            http.post(url(&ack))
                .bearer_auth(&duty)
                .header("content-type", "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "not a JSON body",
            http.post(url(&ack)).bearer_auth(&duty).body("x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "wrong body",
            http.post(url(&ack))
                .bearer_auth(&duty)
                .json(&json!({"note": 5})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "role",
            http.post(url(&ack)).bearer_auth(&viewer).json(&json!({})),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "audit",
            http.get(url("/audit")).bearer_auth(&duty),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "bad key",
            http.post(url(&ack))
                .bearer_auth(&duty)
                .header("idempotency-key", "")
                .json(&json!({})),
            StatusCode::BAD_REQUEST,
            "idempotency_key_invalid",
        ),
        (
            "wrong password",
            http.post(url("/login"))
                .json(&json!({"username": "gao-duty", "password": "wrong password"})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ];
    for (why, request, status, code) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{why}");
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{why}: not JSON: {e}"));
        assert!(body["error"].is_string(), "{why}: {body}");
        assert_eq!(body["code"], code, "{why}: {body}");
    }
    // A state conflict names itself.
    assert_eq!(env.api.post(&duty, &ack, json!({})).await.0, StatusCode::OK);
    let (status, body) = env.api.post(&duty, &ack, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "warning_not_open");
}

/// `POST` with an `Idempotency-Key`: the status and the JSON answer, and whether it was a replay.
async fn post_with_key(
    env: &Center,
    token: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value, bool) {
    let r = reqwest::Client::new()
        .post(env.api.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (r.status(), r.json().await.unwrap(), replayed)
}

#[tokio::test]
async fn an_acknowledgement_retried_at_once_with_its_idempotency_key_is_done_once_and_answered_alike()
 {
    let env = setup().await;
    let (site, _, _) = site_with_devices(&env, "GAO-1", COUNTY).await;
    let w = env.raise_warning(site, WarningLevel::Yellow, 12.0).await.id;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let duty = env.login("gao-duty").await;
    let ack = format!("/warnings/{w}/acknowledge");
    let body = json!({"note": "on my way / 正在前往"});

    // A phone on a bad link sends the same request eight times at once.
    let answers = futures::future::join_all(
        (0..8).map(|_| post_with_key(&env, &duty, &ack, "phone-1-ack-17", body.clone())),
    )
    .await;
    for (status, answer, _) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer, &answers[0].1);
    }
    assert_eq!(answers[0].1["state"], "acknowledged");
    assert_eq!(
        answers.iter().filter(|(_, _, replayed)| !replayed).count(),
        1
    );
    let acks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM warning_events WHERE warning_id = $1 AND transition = 'acknowledged'",
    )
    .bind(w)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(acks, 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'warning.acknowledge'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);

    // Later retries get the same answer; the same key with another request is refused.
    let (status, again, replayed) =
        post_with_key(&env, &duty, &ack, "phone-1-ack-17", body.clone()).await;
    assert_eq!(
        (status, &again, replayed),
        (StatusCode::OK, &answers[0].1, true)
    );
    let (status, refused, _) = post_with_key(
        &env,
        &duty,
        &ack,
        "phone-1-ack-17",
        json!({"note": "other"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["code"], "idempotency_key_reused");
    // Without a key, a repeat is a conflict, as before.
    assert_eq!(
        env.api.post(&duty, &ack, body).await.0,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn a_province_admin_reads_the_audit_log_of_every_county_a_county_admin_only_its_own() {
    let env = setup().await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    env.officer("cp-admin", NEIGHBOUR, Role::Admin).await;
    env.officer("sc-super", PROVINCE, Role::Supervisor).await;
    let gao = env.login("gao-admin").await;
    env.login("cp-admin").await;
    let province = env.login("sc-super").await;
    let divisions = |log: &Value| -> BTreeSet<String> {
        log.as_array()
            .unwrap()
            .iter()
            .map(|r| r["division_code"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (status, log) = env.api.get(&gao, "/audit?action=login").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(divisions(&log), BTreeSet::from([COUNTY.to_owned()]));
    let (_, log) = env.api.get(&province, "/audit?action=login").await;
    assert_eq!(
        divisions(&log),
        BTreeSet::from([COUNTY.to_owned(), NEIGHBOUR.to_owned(), PROVINCE.to_owned()])
    );
    let (status, body) = env.api.get(&gao, "/audit?action=reboot").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
