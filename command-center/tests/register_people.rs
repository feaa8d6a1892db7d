//! The register's gateways and their keys, people and rosters, and officer accounts, through
//! the API against a real PostgreSQL and a real Mosquitto run with the shipped
//! `deploy/mosquitto.conf` and ACL: a key issued from the API works on the broker at once, a
//! rotated or revoked one is disconnected and refused at once (the same broker process
//! throughout); the people kept here are the ones a warning notifies; officers are created
//! only within one's own division; every route scoped by division, every change audited.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Center, NEIGHBOUR, PASSWORD};
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::broker::Broker;
use geohazard_testkit::fixtures::{CITY, COUNTY, PROVINCE, register_site};
use reqwest::Method;
use serde_json::{Value, json};

/// A command-center over Sichuan → Yibin → Gao and Gao's neighbour Cuiping, with an admin in
/// each county, a viewer and a duty officer in Gao, and a city admin.
async fn setup(broker: Option<&Broker>) -> Center {
    let env = common::start(|c| {
        if let Some(b) = broker {
            c.gateway_keys.mosquitto_passwd = Some(b.gateways_passwd().to_owned());
            c.gateway_keys.mosquitto_pid = b.pid_file();
        }
    })
    .await;
    env.add_neighbour().await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    env.officer("cp-admin", NEIGHBOUR, Role::Admin).await;
    env.officer("gao-viewer", COUNTY, Role::Viewer).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    env.officer("yibin-admin", CITY, Role::Admin).await;
    env
}

impl Center {
    /// [`Center::send`] without `If-Match`: the status and the JSON answer.
    async fn call(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let a = self.send(method, token, path, None, body).await;
        (a.status, a.body)
    }

    /// A person of Gao added through the API: the answer.
    async fn person(&self, token: &str, name: &str, phone: &str) -> Value {
        let (status, person) = self
            .call(
                Method::POST,
                token,
                "/register/people",
                Some(json!({"name": name, "phone": phone, "division_code": COUNTY})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{person}");
        person
    }

    /// The audit rows of `action`, oldest first: (target, detail).
    async fn audited(&self, action: &str) -> Vec<(String, Value)> {
        sqlx::query_as(
            "SELECT coalesce(target, ''), detail FROM audit_log WHERE action = $1 ORDER BY id",
        )
        .bind(action)
        .fetch_all(&self.store.pool)
        .await
        .unwrap()
    }
}

/// Whether the gateways' listener takes `user` with `key`: a real client connects and
/// publishes under its own subtree.
fn connects(broker: &Broker, user: &str, key: &str) -> bool {
    std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-u", user, "-P", key, "-i", user, "-q", "1"])
        .args(["-t", &format!("gh/v1/gw/{user}/status"), "-m", "{}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub runs (package mosquitto-clients)")
        .success()
}

/// A gateway's long-lived connection (a subscriber to its commands), connected when this
/// returns.
async fn stay_connected(broker: &Broker, user: &str, key: &str) -> tokio::process::Child {
    let child = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-u", user, "-P", key, "-i", user, "-q", "1", "-c"])
        .args(["-t", &format!("gh/v1/gw/{user}/cmd")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub runs");
    let connected = format!("as {user} (");
    geohazard_testkit::eventually(
        Duration::from_secs(10),
        "the gateway's connection",
        || async { broker.log().contains(&connected).then_some(()) },
    )
    .await;
    child
}

/// Waits until the connection is closed by the broker (the client exits); panics after 10 s.
async fn closed_within_10s(child: &mut tokio::process::Child, what: &str) {
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        panic!("{what}: still connected 10 s after the change");
    }
}

fn pid_of(broker: &Broker) -> String {
    std::fs::read_to_string(broker.pid_file()).unwrap()
}

#[tokio::test]
async fn a_key_issued_from_the_api_works_on_the_shipped_broker_at_once_and_a_rotated_or_revoked_key_is_disconnected_and_refused()
 {
    let broker = Broker::start_as_shipped(&[], &[]).await;
    let pid = pid_of(&broker);
    let env = setup(Some(&broker)).await;
    let site = register_site(&env.store, "GAO-001").await;
    let admin = env.login("gao-admin").await;

    let (status, gw) = env
        .call(
            Method::POST,
            &admin,
            "/register/gateways",
            Some(json!({"code": "gw-k1", "name": "北坡网关", "site_id": site})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{gw}");
    assert_eq!(gw["has_key"], false);
    assert_eq!(gw["division_code"], COUNTY);
    assert!(
        !connects(&broker, "gw-k1", "anything"),
        "no key, no connection"
    );

    // Issued: works at once, without a restart.
    let (status, issued) = env
        .call(Method::POST, &admin, "/register/gateways/gw-k1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["broker"], "reloaded");
    assert_eq!(issued["gateway"]["has_key"], true);
    let first = issued["key"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 24);
    assert!(connects(&broker, "gw-k1", &first), "{}", broker.log());
    assert!(!connects(&broker, "gw-k1", "not-the-key"));
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM gateways WHERE code = 'gw-k1'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains(&first),
        "stored as an argon2 hash"
    );
    assert!(
        geohazard_store::registry::verify_gateway_password(&env.store.pool, "gw-k1", &first)
            .await
            .unwrap()
    );

    // Rotated: the gateway on the old key is disconnected and the old key refused.
    let mut on_first = stay_connected(&broker, "gw-k1", &first).await;
    let (status, rotated) = env
        .call(Method::POST, &admin, "/register/gateways/gw-k1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    closed_within_10s(&mut on_first, "the gateway on the replaced key").await;
    assert!(
        !connects(&broker, "gw-k1", &first),
        "the replaced key is refused"
    );
    assert!(connects(&broker, "gw-k1", &second));

    // Revoked: disconnected and refused; the store holds no key.
    let mut on_second = stay_connected(&broker, "gw-k1", &second).await;
    let (status, revoked) = env
        .call(Method::DELETE, &admin, "/register/gateways/gw-k1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["has_key"], false);
    assert!(revoked["key_revoked_at"].is_string());
    closed_within_10s(&mut on_second, "the gateway on the revoked key").await;
    assert!(
        !connects(&broker, "gw-k1", &second),
        "the revoked key is refused"
    );
    assert!(
        !geohazard_store::registry::verify_gateway_password(&env.store.pool, "gw-k1", &second)
            .await
            .unwrap()
    );
    assert_eq!(pid_of(&broker), pid, "the same broker process throughout");

    // Audited with before and after, and no key anywhere in the log.
    let issue = env.audited("gateway.key_issue").await;
    let rotate = env.audited("gateway.key_rotate").await;
    let revoke = env.audited("gateway.key_revoke").await;
    assert_eq!((issue.len(), rotate.len(), revoke.len()), (1, 1, 1));
    assert_eq!(issue[0].0, "gateway:gw-k1");
    assert_eq!(issue[0].1["before"]["has_key"], false);
    assert_eq!(issue[0].1["after"]["has_key"], true);
    assert_eq!(revoke[0].1["after"]["has_key"], false);
    assert_eq!(env.audited("gateway.register").await.len(), 1);
    let log: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&env.store.pool)
        .await
        .unwrap();
    assert!(
        log.iter()
            .all(|d| !d.contains(&first) && !d.contains(&second)),
        "no key in the audit log"
    );
}

#[tokio::test]
async fn gateways_and_their_keys_are_out_of_reach_of_another_county_and_of_non_admins() {
    let broker = Broker::start_as_shipped(&[], &[]).await;
    let env = setup(Some(&broker)).await;
    let site = register_site(&env.store, "GAO-001").await;
    let admin = env.login("gao-admin").await;
    let (status, _) = env
        .call(
            Method::POST,
            &admin,
            "/register/gateways",
            Some(json!({"code": "gw-k2", "site_id": site})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let neighbour = env.login("cp-admin").await;
    let (status, list) = env
        .call(Method::GET, &neighbour, "/register/gateways", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([]),
        "another county sees none of Gao's gateways"
    );
    for method in [Method::POST, Method::DELETE] {
        let (status, _) = env
            .call(
                method.clone(),
                &neighbour,
                "/register/gateways/gw-k2/key",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} by another county");
    }
    // Registering at another county's site, or taking over its gateway's code.
    let (status, body) = env
        .call(
            Method::POST,
            &neighbour,
            "/register/gateways",
            Some(json!({"code": "gw-cp", "site_id": site})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "site_id");
    let cp_site: i64 = sqlx::query_scalar(
        "INSERT INTO hazard_sites (code, name, kind, division_code, longitude, latitude)
         VALUES ('CP-001', '翠屏滑坡', 'landslide', $1, 104.6, 28.8) RETURNING id",
    )
    .bind(NEIGHBOUR)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    let (status, body) = env
        .call(
            Method::POST,
            &neighbour,
            "/register/gateways",
            Some(json!({"code": "gw-k2", "site_id": cp_site})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["reason"], "duplicate_code");

    for who in ["gao-viewer", "gao-duty"] {
        let token = env.login(who).await;
        let (status, _) = env
            .call(Method::POST, &token, "/register/gateways/gw-k2/key", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    let (status, _) = env
        .call(
            Method::POST,
            &admin,
            "/register/gateways/gw-nobody/key",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM gateways WHERE password_hash IS NOT NULL")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(keys, 0, "no refused call issued a key");
    assert!(
        std::fs::read_to_string(broker.gateways_passwd())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_people_and_roster_kept_in_the_register_are_who_a_warning_notifies_with_phones_checked()
{
    let env = setup(None).await;
    let site = register_site(&env.store, "GAO-001").await;
    let admin = env.login("gao-admin").await;

    // A phone that is not one is refused by field, in Chinese by default.
    let (status, body) = env
        .call(
            Method::POST,
            &admin,
            "/register/people",
            Some(json!({"name": "王监测", "phone": "139-abc", "division_code": COUNTY})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "phone");
    assert_eq!(body["problems"][0]["reason"], "bad_phone");
    assert_eq!(body["error"], "联系电话: 电话号码格式错误");

    let (status, monitor) = env
        .call(
            Method::POST,
            &admin,
            "/register/people",
            Some(json!({"name": "王监测", "phone": "139 0000 1111", "division_code": COUNTY})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    assert_eq!(monitor["phone"], "13900001111");
    let official = env.person(&admin, "李乡长", "13900002222").await;
    let on_duty = env.person(&admin, "赵值班", "13900003333").await;

    let (status, people) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/sites/{site}/people"),
            Some(json!({"people": [
                  {"person_id": monitor["id"], "role": "monitor"},
                  {"person_id": official["id"], "role": "township_official"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{people}");
    assert_eq!(people.as_array().unwrap().len(), 2);
    assert_eq!(people[0]["role"], "monitor");
    let (status, body) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/sites/{site}/people"),
            Some(json!({"people": [{"person_id": monitor["id"], "role": "boss"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["reason"], "unknown_role");

    // The roster: the end must be after the start.
    let (status, body) = env
        .call(
            Method::POST,
            &admin,
            "/register/roster",
            Some(json!({"division_code": COUNTY, "person_id": on_duty["id"],
                          "starts_at": "2026-12-07T08:00:00+08:00",
                          "ends_at": "2026-12-07T07:00:00+08:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "ends_at");
    assert_eq!(body["problems"][0]["reason"], "ends_before_start");
    let now = chrono::Utc::now();
    let (status, entry) = env
        .call(
            Method::POST,
            &admin,
            "/register/roster",
            Some(json!({"division_code": COUNTY, "person_id": on_duty["id"],
                          "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                          "ends_at": (now + chrono::Duration::hours(8)).to_rfc3339(),
                          "role": "带班领导"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let (_, roster) = env
        .call(Method::GET, &admin, "/register/roster", None)
        .await;
    assert_eq!(roster.as_array().unwrap().len(), 1);
    assert_eq!(roster[0]["person_name"], "赵值班");

    // A warning at the site: the site's people and the county's person on duty are told,
    // by SMS at their phones, through the notification queue.
    env.raise_warning(site, WarningLevel::Yellow, 25.0).await;
    let mut told: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT p.name, n.phone FROM notifications n JOIN people p ON p.id = n.person_id
         WHERE n.channel = 'sms' ORDER BY p.name",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    told.sort();
    let mut want = vec![
        ("王监测".to_owned(), Some("13900001111".to_owned())),
        ("李乡长".to_owned(), Some("13900002222".to_owned())),
        ("赵值班".to_owned(), Some("13900003333".to_owned())),
    ];
    want.sort();
    assert_eq!(told, want);

    // Off the roster and off the site: nobody is told of the next warning.
    let (status, _) = env
        .call(
            Method::DELETE,
            &admin,
            &format!("/register/roster/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/sites/{site}/people"),
            Some(json!({"people": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    env.raise_warning(site, WarningLevel::Orange, 35.0).await;
    let orange: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE channel = 'sms' AND reason LIKE 'orange%'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(orange, 0);

    // A person changed: audited with before and after.
    let (status, changed) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/register/people/{}", monitor["id"]),
            Some(json!({"name": "王监测", "phone": "13900009999", "division_code": COUNTY})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["phone"], "13900009999");
    let updates = env.audited("person.update").await;
    assert_eq!(updates[0].1["before"]["phone"], "13900001111");
    assert_eq!(updates[0].1["after"]["phone"], "13900009999");
    assert_eq!(env.audited("person.create").await.len(), 3);
    let site_people = env.audited("site.people").await;
    assert_eq!(site_people.len(), 2);
    assert_eq!(site_people[1].1["before"].as_array().unwrap().len(), 2);
    assert_eq!(env.audited("roster.add").await.len(), 1);
    assert_eq!(env.audited("roster.remove").await.len(), 1);
}

#[tokio::test]
async fn another_countys_people_sites_and_roster_are_out_of_reach_and_viewers_change_nothing() {
    let env = setup(None).await;
    let site = register_site(&env.store, "GAO-001").await;
    let admin = env.login("gao-admin").await;
    let gao_person = env.person(&admin, "王监测", "13900001111").await;
    let now = chrono::Utc::now();
    let (_, entry) = env
        .call(
            Method::POST,
            &admin,
            "/register/roster",
            Some(
                json!({"division_code": COUNTY, "person_id": gao_person["id"],
                          "starts_at": now.to_rfc3339(),
                          "ends_at": (now + chrono::Duration::hours(8)).to_rfc3339()}),
            ),
        )
        .await;

    let cp = env.login("cp-admin").await;
    let (_, people) = env.call(Method::GET, &cp, "/register/people", None).await;
    assert!(
        people
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["division_code"] == NEIGHBOUR),
        "{people}"
    );
    let (_, roster) = env.call(Method::GET, &cp, "/register/roster", None).await;
    assert_eq!(roster, json!([]));
    let pid = gao_person["id"].as_i64().unwrap();
    let checks = [
        (
            Method::PUT,
            format!("/register/people/{pid}"),
            Some(json!({"name": "x", "division_code": NEIGHBOUR})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("/sites/{site}/people"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            format!("/sites/{site}/people"),
            Some(json!({"people": []})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            format!("/register/roster/{}", entry["id"]),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/register/people".to_owned(),
            Some(json!({"name": "x", "division_code": COUNTY})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/register/roster".to_owned(),
            Some(json!({"division_code": NEIGHBOUR, "person_id": pid,
                     "starts_at": now.to_rfc3339(),
                     "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, body, want) in checks {
        let (status, answer) = env.call(method.clone(), &cp, &path, body).await;
        assert_eq!(status, want, "{method} {path} by another county: {answer}");
    }
    // The Gao person put on Cuiping's roster is named as unknown.
    let (_, answer) = env
        .call(
            Method::POST,
            &cp,
            "/register/roster",
            Some(json!({"division_code": NEIGHBOUR, "person_id": pid,
                          "starts_at": now.to_rfc3339(),
                          "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()})),
        )
        .await;
    assert_eq!(answer["field"], "person_id");
    assert_eq!(answer["problems"][0]["reason"], "unknown_person");

    let viewer = env.login("gao-viewer").await;
    let (status, _) = env
        .call(
            Method::POST,
            &viewer,
            "/register/people",
            Some(json!({"name": "x", "division_code": COUNTY})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .call(
            Method::DELETE,
            &viewer,
            &format!("/register/roster/{}", entry["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .call(Method::GET, &viewer, "/register/people", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "viewers read the people of their county"
    );
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM duty_roster")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(still, 1);
    let (_, unchanged) = env
        .call(Method::GET, &admin, "/register/people", None)
        .await;
    assert!(
        unchanged
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "王监测")
    );
}

#[tokio::test]
async fn officers_are_created_only_within_ones_own_division_with_a_password_shown_once_and_nobody_raises_themselves()
 {
    let env = setup(None).await;
    let admin = env.login("gao-admin").await;

    let (status, created) = env
        .call(
            Method::POST,
            &admin,
            "/officers",
            Some(json!({"username": "gao-duty2", "display_name": "张值班",
                          "division_code": COUNTY, "role": "duty_officer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let password = created["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 10);
    let id = created["officer"]["id"].as_i64().unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM officers WHERE id = $1")
        .bind(id)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let token = env.api.token("gao-duty2", &password).await;
    let (status, _) = env.api.get(&token, "/warnings").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new officer signs in with the password shown"
    );

    // Above or beside one's division: refused by field; a taken name too.
    for (division, username) in [(PROVINCE, "prov-x"), (CITY, "city-x"), (NEIGHBOUR, "cp-x")] {
        let (status, body) = env
            .call(
                Method::POST,
                &admin,
                "/officers",
                Some(json!({"username": username, "division_code": division, "role": "viewer"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{division}: {body}"
        );
        assert_eq!(body["field"], "division_code");
        assert_eq!(body["problems"][0]["reason"], "unknown_division");
    }
    let (_, body) = env
        .call(
            Method::POST,
            &admin,
            "/officers",
            Some(json!({"username": "gao-viewer", "division_code": COUNTY, "role": "viewer"})),
        )
        .await;
    assert_eq!(body["problems"][0]["reason"], "username_taken");
    // A city admin reaches the county below.
    let city = env.login("yibin-admin").await;
    let (status, _) = env
        .call(
            Method::POST,
            &city,
            "/officers",
            Some(json!({"username": "gao-admin3", "division_code": COUNTY, "role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The list and the changes stop at one's division.
    let (_, list) = env.call(Method::GET, &admin, "/officers", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"gao-duty2")
            && !names.contains(&"yibin-admin")
            && !names.contains(&"cp-admin"),
        "{names:?}"
    );
    let yibin_id: i64 =
        sqlx::query_scalar("SELECT id FROM officers WHERE username = 'yibin-admin'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    let (status, _) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/officers/{yibin_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env
        .call(
            Method::POST,
            &admin,
            &format!("/officers/{yibin_id}/password"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nobody changes their own role, division or state.
    let me: i64 = sqlx::query_scalar("SELECT id FROM officers WHERE username = 'gao-admin'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    for body in [json!({"role": "viewer"}), json!({"disabled": true})] {
        let (status, answer) = env
            .call(
                Method::PUT,
                &admin,
                &format!("/officers/{me}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer["problems"][0]["reason"], "own_account");
    }
    // A duty officer may not raise themselves (nor anyone) by this route.
    let duty = env.login("gao-duty").await;
    let duty_id: i64 = sqlx::query_scalar("SELECT id FROM officers WHERE username = 'gao-duty'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    let (status, _) = env
        .call(
            Method::PUT,
            &duty,
            &format!("/officers/{duty_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .call(
            Method::POST,
            &duty,
            "/officers",
            Some(json!({"username": "x1", "division_code": COUNTY, "role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Disabled: signed out at once and refused at sign-in.
    let (status, disabled) = env
        .call(
            Method::PUT,
            &admin,
            &format!("/officers/{id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert_eq!(disabled["disabled"], true);
    let (status, _) = env.api.get(&token, "/warnings").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = env.api.try_login("gao-duty2", &password).await;
    assert_ne!(status, StatusCode::OK);

    // A password reset: shown once; the old one no longer signs in.
    env.call(
        Method::PUT,
        &admin,
        &format!("/officers/{id}"),
        Some(json!({"disabled": false})),
    )
    .await;
    let (status, reset) = env
        .call(
            Method::POST,
            &admin,
            &format!("/officers/{id}/password"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_password = reset["password"].as_str().unwrap();
    assert_ne!(new_password, password);
    let (status, _) = env.api.try_login("gao-duty2", &password).await;
    assert_ne!(status, StatusCode::OK);
    env.api.token("gao-duty2", new_password).await;

    // Audited with before and after; no password in the log.
    assert_eq!(env.audited("officer.create").await.len(), 2);
    let updates = env.audited("officer.update").await;
    assert_eq!(updates[0].1["before"]["disabled"], false);
    assert_eq!(updates[0].1["after"]["disabled"], true);
    assert_eq!(env.audited("officer.password").await.len(), 1);
    let log: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&env.store.pool)
        .await
        .unwrap();
    assert!(
        log.iter()
            .all(|d| !d.contains(&password) && !d.contains(new_password) && !d.contains(PASSWORD))
    );
}
