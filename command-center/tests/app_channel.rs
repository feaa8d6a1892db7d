//! The app channel end to end: a notification for a person stays `pending` until a console
//! signed in as an officer linked to that person receives it over its live WebSocket and says
//! so (`delivered`, with the time), then confirms it; another officer cannot mark it. Real
//! command-center, database, broker and WebSocket clients.

mod common;

use chrono::{DateTime, Utc};
use common::Center;
use futures::SinkExt;
use geohazard_command_center::Role;
use geohazard_protocol::warning::{Warning, WarningLevel};
use geohazard_testkit::api::next_json;
use geohazard_testkit::eventually;
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_testkit::publish_warning;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An officer whose person is on Gao county's duty roster now: the one the county's warnings
/// go to. Returns the person's id.
async fn officer_on_duty(env: &Center, username: &str) -> i64 {
    let officer = env.officer(username, COUNTY, Role::DutyOfficer).await;
    let person: i64 = sqlx::query_scalar("SELECT person_id FROM officers WHERE id = $1")
        .bind(officer)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO duty_roster (division_code, person_id, starts_at, ends_at)
         VALUES ($1, $2, now() - interval '1 hour', now() + interval '1 hour')",
    )
    .bind(COUNTY)
    .bind(person)
    .execute(&env.store.pool)
    .await
    .unwrap();
    person
}

async fn raise(env: &Center, site_id: i64, source: &str) -> Warning {
    env.raise_warning_from(site_id, source, WarningLevel::Orange, 35.0)
        .await
}

/// (status, delivered_at, confirmed_at) of the app notifications of `person`, by id.
async fn app_rows(
    env: &Center,
    person: i64,
) -> Vec<(i64, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    sqlx::query_as(
        "SELECT id, status, delivered_at, confirmed_at FROM notifications
         WHERE person_id = $1 AND channel = 'app' ORDER BY id",
    )
    .bind(person)
    .fetch_all(&env.store.pool)
    .await
    .unwrap()
}

async fn live(env: &Center, username: &str) -> Socket {
    let token = env.login(username).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(env.api.ws_request("/live", &token))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "ready");
    ws
}

/// The next message of a type, skipping the warning feed's.
async fn next_of(ws: &mut Socket, kind: &str) -> Value {
    loop {
        let m = next_json(ws).await;
        if m["type"] == kind {
            return m;
        }
    }
}

async fn say(ws: &mut Socket, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_app_notification_is_pending_until_the_persons_console_receives_it_then_delivered_and_confirmed()
 {
    // Only the warning feed or the socket's opening may bring a notification here in time.
    let env = common::start(|c| c.api.app_notification_poll_ms = 600_000).await;
    let site_id = fixtures::register_site(&env.store, "GAO-1").await;
    let person = officer_on_duty(&env, "gao-duty").await;
    env.officer("gao-other", COUNTY, Role::DutyOfficer).await;

    let w = raise(&env, site_id, "threshold:mud-1").await;
    let rows = app_rows(&env, person).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (id, status, delivered_at, _) = rows[0].clone();
    assert_eq!(
        (status.as_str(), delivered_at),
        ("pending", None),
        "nothing has delivered it yet"
    );

    // Another officer's console neither gets it nor can mark it.
    let mut other = live(&env, "gao-other").await;
    say(&mut other, json!({"type": "delivered", "id": id})).await;
    let refused = next_of(&mut other, "error").await;
    assert!(
        refused["message"].as_str().unwrap().contains("not yours"),
        "{refused}"
    );
    assert_eq!(app_rows(&env, person).await[0].1, "pending");

    // The person's console gets it when it connects, exactly as the wire contract says.
    let mut console = live(&env, "gao-duty").await;
    let n = next_of(&mut console, "notification").await;
    assert_eq!(n["id"], id);
    assert_eq!(n["warning_id"], w.id);
    assert_eq!(n["level"], "orange");
    let zh = n["text_zh"].as_str().unwrap();
    assert!(zh.contains("橙色预警") && zh.contains("GAO-1"), "{zh}");
    assert!(
        n["text_en"].as_str().unwrap().contains("Orange warning"),
        "{n}"
    );
    n["created_at"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .expect("created_at is RFC 3339");
    assert_eq!(
        app_rows(&env, person).await[0].1,
        "pending",
        "shown is not yet received"
    );

    say(&mut console, json!({"type": "delivered", "id": id})).await;
    let row = eventually(Duration::from_secs(10), "the receipt stored", || async {
        let rows = app_rows(&env, person).await;
        (rows[0].1 == "delivered").then(|| rows[0].clone())
    })
    .await;
    let delivered_at = row.2.expect("the delivery time is stored");
    assert_eq!(row.3, None, "received is not confirmed");

    say(&mut console, json!({"type": "confirmed", "id": id})).await;
    let row = eventually(
        Duration::from_secs(10),
        "the confirmation stored",
        || async {
            let rows = app_rows(&env, person).await;
            rows[0].3.is_some().then(|| rows[0].clone())
        },
    )
    .await;
    assert_eq!((row.1.as_str(), row.2), ("delivered", Some(delivered_at)));

    // A new warning while the console is open: the feed's announcement brings its
    // notification at once (the poll is ten minutes away).
    let second = raise(&env, site_id, "threshold:mud-2").await;
    let bus = env.publisher("test-analyzer").await;
    publish_warning(&bus, &second).await;
    let n = next_of(&mut console, "notification").await;
    assert_eq!(n["warning_id"], second.id);
    assert_ne!(n["id"], id, "a delivered notification is not pushed again");
    bus.shutdown().await;
}

/// A live socket of `username`'s that names `feeds` (`/live?feeds=...`), past its `ready`;
/// returns the feeds the `ready` says it carries too.
async fn live_with_feeds(env: &Center, username: &str, feeds: &str) -> (Socket, Value) {
    let token = env.login(username).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(
        env.api.ws_request(&format!("/live?feeds={feeds}"), &token),
    )
    .await
    .unwrap();
    let ready = next_json(&mut ws).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    (ws, ready["feeds"].clone())
}

#[tokio::test]
async fn a_field_app_socket_gets_its_persons_notifications_but_not_the_warning_changes_a_console_socket_gets()
 {
    // Only the warning feed or the socket's opening may bring a notification here in time.
    let env = common::start(|c| c.api.app_notification_poll_ms = 600_000).await;
    let site_id = fixtures::register_site(&env.store, "GAO-1").await;
    let person = officer_on_duty(&env, "gao-duty").await;

    // The field app names its feeds (`web/app/app.js`); the console names every feed.
    let (mut field, feeds) = live_with_feeds(&env, "gao-duty", "notifications,incidents").await;
    assert_eq!(feeds, json!(["incidents", "notifications"]));
    let (mut console, feeds) = live_with_feeds(
        &env,
        "gao-duty",
        "warnings,incidents,deliveries,field_reports,patrols,readings,notifications",
    )
    .await;
    assert_eq!(feeds.as_array().unwrap().len(), 7, "{feeds}");

    // Two warnings of the person's own division, one after the other, each notifying the
    // person on duty.
    let bus = env.publisher("test-analyzer").await;
    let first = raise(&env, site_id, "threshold:mud-1").await;
    publish_warning(&bus, &first).await;
    let w = next_of(&mut console, "warning").await;
    assert_eq!(w["warning"]["id"], first.id);
    assert_eq!(w["warning"]["division"], COUNTY);
    let second = raise(&env, site_id, "threshold:mud-2").await;
    publish_warning(&bus, &second).await;
    let w = next_of(&mut console, "warning").await;
    assert_eq!(w["warning"]["id"], second.id);

    // The field app's socket gets both notifications, and nothing of the warning changes the
    // console got before the second notification existed.
    let mut got = Vec::new();
    loop {
        let m = next_json(&mut field).await;
        assert_ne!(
            m["type"], "warning",
            "a warning change on the field app's socket: {m}"
        );
        let done = m["type"] == "notification" && m["warning_id"] == second.id;
        got.push(m);
        if done {
            break;
        }
    }
    let notified: Vec<&Value> = got
        .iter()
        .filter(|m| m["type"] == "notification")
        .map(|m| &m["warning_id"])
        .collect();
    assert_eq!(notified, [&json!(first.id), &json!(second.id)], "{got:?}");
    let ids: Vec<i64> = app_rows(&env, person).await.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");

    // It still takes the person's receipts; a feed it does not carry it refuses, reading nothing.
    say(&mut field, json!({"type": "delivered", "id": ids[0]})).await;
    eventually(Duration::from_secs(10), "the receipt stored", || async {
        (app_rows(&env, person).await[0].1 == "delivered").then_some(())
    })
    .await;
    say(&mut field, json!({"type": "watch", "sensors": [1]})).await;
    let refused = next_of(&mut field, "error").await;
    assert!(
        refused["message"].as_str().unwrap().contains("`readings`"),
        "{refused}"
    );
    bus.shutdown().await;
}
