//! The notifier against a local HTTP endpoint playing the SMS provider: who is told, once per
//! referral step; referral up the duty rosters when nobody acknowledges; retries with every
//! attempt stored; rate limits; delivery receipts; Aliyun's signed API.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use common::*;
use geohazard_analyzer::AnalyzerConfig;
use geohazard_analyzer::{AliyunConfig, GenericHttpConfig, SmsConfig, aliyun_signature};
use geohazard_store::registry::{self, SensorKind};
use geohazard_testkit::eventually;
use geohazard_testkit::fixtures;
use serde_json::{Value, json};

const MONITOR: &str = "13800000001";
const COUNTY_DUTY: &str = "13800000002";
const CITY_DUTY: &str = "13800000003";
const PROVINCE_DUTY: &str = "13800000004";

#[derive(Default)]
struct FakeProvider {
    /// Phone numbers of the accepted messages, in order.
    accepted: Mutex<Vec<String>>,
    /// Refuse this many requests with 503 first.
    fail_first: AtomicUsize,
    refused: AtomicUsize,
    bad_auth: AtomicUsize,
    bad_signatures: AtomicUsize,
    /// The texts the generic provider was asked to send, and Aliyun's template parameters.
    texts: Mutex<Vec<String>>,
}

impl FakeProvider {
    fn phones(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
    fn accept(&self, phone: String) -> usize {
        let mut a = self.accepted.lock().unwrap();
        a.push(phone);
        a.len()
    }
}

async fn generic_sms(
    State(p): State<Arc<FakeProvider>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer t0ken") {
        p.bad_auth.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "no".into());
    }
    if p.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        p.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
    }
    let v: Value = serde_json::from_str(&body).expect("the body template renders JSON");
    assert!(v["text"].as_str().unwrap().contains(SITE));
    p.texts
        .lock()
        .unwrap()
        .push(v["text"].as_str().unwrap().to_owned());
    let n = p.accept(v["to"].as_str().unwrap().to_owned());
    (StatusCode::OK, json!({"id": format!("m-{n}")}).to_string())
}

/// Aliyun's SendSms, checking the signature with the shared secret as Aliyun does.
async fn aliyun_sms(
    State(p): State<Arc<FakeProvider>>,
    Query(mut q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let sig = q.remove("Signature").unwrap_or_default();
    let pairs: Vec<(String, String)> = q.clone().into_iter().collect();
    if aliyun_signature("GET", &pairs, "test-secret") != sig || q["AccessKeyId"] != "test-key" {
        p.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return axum::Json(json!({"Code": "SignatureDoesNotMatch", "Message": "bad signature"}));
    }
    p.texts.lock().unwrap().push(q["TemplateParam"].clone());
    let n = p.accept(q["PhoneNumbers"].clone());
    axum::Json(
        json!({"Code": "OK", "Message": "OK", "BizId": format!("biz-{n}"), "RequestId": "r"}),
    )
}

async fn start_provider(p: Arc<FakeProvider>) -> String {
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(generic_sms))
        .route("/", axum::routing::get(aliyun_sms))
        .with_state(p);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn generic(url: &str) -> SmsConfig {
    SmsConfig::Generic(GenericHttpConfig {
        url: format!("{url}/sms"),
        auth_header: Some("Authorization".into()),
        auth_value: Some("Bearer t0ken".into()),
        body_template: r#"{"to":"{phone}","text":"{text}","ref":"{id}"}"#.into(),
        content_type: "application/json".into(),
        message_id_pointer: Some("/id".into()),
    })
}

/// The site's monitor, and one duty officer on each of the county, city and province rosters.
async fn people(w: &World) -> i64 {
    let pool = &w.store.pool;
    let monitor = registry::add_responsible(
        pool,
        w.site_id,
        "Village monitor",
        MONITOR,
        COUNTY,
        "monitor",
    )
    .await
    .unwrap();
    for (division, phone) in [
        (COUNTY, COUNTY_DUTY),
        (CITY, CITY_DUTY),
        (PROVINCE, PROVINCE_DUTY),
    ] {
        fixtures::on_duty_now(&w.store, "Duty officer", phone, division).await;
    }
    // Someone on another county's roster is never told.
    monitor
}

/// A piezometer whose red line is 7 m, reached on one reading.
async fn red_piezometer(w: &World, channel: &str) {
    let id = w.sensor(channel, SensorKind::Piezometer, "m", 600).await;
    w.sensor_rule(
        id,
        "threshold",
        json!({"levels": {"yellow": 5.0, "orange": 6.0, "red": 7.0}, "persistence": {"readings": 1}}),
    )
    .await;
}

fn config(w: &World, client: &str, sms: SmsConfig, red_deadline_s: Option<f64>) -> AnalyzerConfig {
    let mut c = w.config(client);
    c.notifier.sms = sms;
    c.notifier.ack_deadlines.red = red_deadline_s;
    c.notifier.retry_base_ms = 200;
    c
}

async fn sms_rows(w: &World) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "SELECT phone, status, attempts FROM notifications WHERE channel = 'sms' ORDER BY id",
    )
    .fetch_all(&w.store.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_red_goes_to_the_city_then_the_province_with_one_sms_per_recipient_per_step()
 {
    let w = World::new().await;
    people(&w).await;
    red_piezometer(&w, "p-1").await;
    let provider = Arc::new(FakeProvider::default());
    let url = start_provider(provider.clone()).await;
    let analyzer = w
        .start(config(&w, "analyzer-refer", generic(&url), Some(1.0)))
        .await;
    let watcher = w.warning_watcher().await;
    let publisher = w.publisher().await;
    let t0 = now_ms() - HOUR;
    let mut sent = publisher.replay("p-1", &[(t0, 7.4)], 1).await;

    let phones = eventually(Duration::from_secs(15), "four SMS", || {
        let p = provider.phones();
        async move { (p.len() >= 4).then_some(p) }
    })
    .await;
    let mut first_step = phones[..2].to_vec();
    first_step.sort();
    assert_eq!(
        first_step,
        [MONITOR, COUNTY_DUTY],
        "the site's people and the county first"
    );
    assert_eq!(
        phones[2..],
        [CITY_DUTY, PROVINCE_DUTY],
        "then the city, then the province"
    );

    // The red line is crossed again and again; nobody is told twice.
    for i in 1..6 {
        sent += publisher
            .replay("p-1", &[(t0 + i * MIN, 7.0 + i as f64 * 0.1)], 1)
            .await;
    }
    // A crossing's notifications are queued in the transaction that stores it, before its
    // message counts as handled; past the province no further referral is due.
    analyzer.handled(sent).await;
    let (step, due): (i32, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT escalation_step, escalation_due_at FROM warnings")
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
    assert_eq!((step, due), (2, None));
    assert_eq!(sms_rows(&w).await.len(), 4);
    assert_eq!(provider.phones().len(), 4, "{:?}", provider.phones());
    assert_eq!(provider.bad_auth.load(Ordering::SeqCst), 0);
    // Field staff read Chinese: the whole text is, the summary included.
    for text in provider.texts.lock().unwrap().iter() {
        assert!(
            text.contains("红色预警：测值 7.4 m ≥ 红色阈值 7 m"),
            "{text}"
        );
        assert!(
            !text.contains("threshold") && !text.contains("value"),
            "{text}"
        );
    }

    let transitions: Vec<(String, Value)> = w
        .events("threshold:gw-01/p-1")
        .await
        .into_iter()
        .map(|(t, _, e)| (t, e))
        .collect();
    let names: Vec<&str> = transitions.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["raised", "referred", "referred"]);
    assert_eq!(transitions[1].1["referred_to"], "city");
    assert_eq!(transitions[2].1["referred_to"], "province");
    assert!(sms_rows(&w).await.iter().all(|r| r.1 == "sent" && r.2 == 1));
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notification_attempts WHERE outcome = 'sent'")
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 4);
    // Everyone also got an app notification.
    let app: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE channel = 'app'")
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    assert_eq!(app, 4);
    let referred = watcher
        .warnings()
        .into_iter()
        .filter(|m| m.transition == geohazard_protocol::warning::WarningTransition::Referred)
        .count();
    assert_eq!(referred, 2);
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_warning_is_not_referred() {
    let w = World::new().await;
    let monitor = people(&w).await;
    red_piezometer(&w, "p-1").await;
    let provider = Arc::new(FakeProvider::default());
    let url = start_provider(provider.clone()).await;
    let analyzer = w
        .start(config(&w, "analyzer-ack", generic(&url), Some(1.5)))
        .await;
    let publisher = w.publisher().await;
    let n = publisher.replay("p-1", &[(now_ms() - HOUR, 7.4)], 1).await;
    analyzer.handled(n).await;
    let (id, due): (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT id, escalation_due_at FROM warnings")
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
    let ack = w
        .acknowledge(id, monitor)
        .await
        .expect("an open warning can be acknowledged");
    assert_eq!(
        ack.state,
        geohazard_protocol::warning::WarningState::Acknowledged
    );
    // Once its deadline has passed, a referral pass (the analyzer's own) leaves it alone.
    eventually(Duration::from_secs(10), "the deadline to pass", || async {
        let passed: bool = sqlx::query_scalar("SELECT now() > $1")
            .bind(due)
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
        passed.then_some(())
    })
    .await;
    let referred = geohazard_warnings::Lifecycle::default()
        .refer_overdue(&w.store.pool)
        .await
        .unwrap();
    assert_eq!(referred, []);
    eventually(Duration::from_secs(10), "the raise's two SMS", || async {
        (provider.phones().len() >= 2).then_some(())
    })
    .await;
    let names: Vec<String> = w
        .events("threshold:gw-01/p-1")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, ["raised", "acknowledged"]);
    let mut phones = provider.phones();
    phones.sort();
    assert_eq!(phones, [MONITOR, COUNTY_DUTY]);
    let actor: (String, Option<i64>) = sqlx::query_as(
        "SELECT actor, person_id FROM warning_events WHERE transition = 'acknowledged'",
    )
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert_eq!(actor, ("person".to_owned(), Some(monitor)));
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sms_are_retried_every_attempt_is_stored_and_receipts_mark_delivery() {
    let w = World::new().await;
    people(&w).await;
    red_piezometer(&w, "p-1").await;
    let provider = Arc::new(FakeProvider::default());
    provider.fail_first.store(3, Ordering::SeqCst);
    let url = start_provider(provider.clone()).await;
    let analyzer = w
        .start(config(&w, "analyzer-retry", generic(&url), None))
        .await;
    let publisher = w.publisher().await;
    publisher.replay("p-1", &[(now_ms() - HOUR, 7.4)], 1).await;
    let rows = eventually(
        Duration::from_secs(15),
        "both SMS sent after retries",
        || async {
            let rows = sms_rows(&w).await;
            (rows.len() == 2 && rows.iter().all(|r| r.1 == "sent")).then_some(rows)
        },
    )
    .await;
    assert_eq!(provider.refused.load(Ordering::SeqCst), 3);
    assert_eq!(
        rows.iter().map(|r| r.2).sum::<i32>(),
        5,
        "3 refused + 2 accepted attempts"
    );
    let attempts: Vec<(String, Option<i32>)> =
        sqlx::query_as("SELECT outcome, http_status FROM notification_attempts ORDER BY id")
            .fetch_all(&w.store.pool)
            .await
            .unwrap();
    assert_eq!(attempts.len(), 5);
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a.0 == "retry" && a.1 == Some(503))
            .count(),
        3
    );
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a.0 == "sent" && a.1 == Some(200))
            .count(),
        2
    );

    // The provider's receipt for its message m-1 marks that message delivered.
    let id = geohazard_analyzer::record_receipt(
        &w.store.pool,
        "generic",
        "m-1",
        true,
        "DELIVRD",
        None,
        Some(json!({"status": "DELIVRD"})),
    )
    .await
    .unwrap()
    .expect("the receipt matches a message");
    let status: String = sqlx::query_scalar("SELECT status FROM notifications WHERE id = $1")
        .bind(id)
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
    // An unknown one is kept for the record and matches nothing.
    let none = geohazard_analyzer::record_receipt(
        &w.store.pool,
        "generic",
        "m-99",
        false,
        "UNDELIV",
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(none, None);
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_receipts")
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    assert_eq!(receipts, 2);
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_gets_no_more_sms_than_the_rate_limit_allows() {
    let w = World::new().await;
    people(&w).await;
    red_piezometer(&w, "p-1").await;
    red_piezometer(&w, "p-2").await;
    let provider = Arc::new(FakeProvider::default());
    let url = start_provider(provider.clone()).await;
    let mut c = config(&w, "analyzer-limit", generic(&url), None);
    c.notifier.rate_limit_count = 1;
    let analyzer = w.start(c).await;
    let publisher = w.publisher().await;
    publisher.replay("p-1", &[(now_ms() - HOUR, 7.4)], 1).await;
    eventually(
        Duration::from_secs(10),
        "the first warning's SMS",
        || async { (provider.phones().len() == 2).then_some(()) },
    )
    .await;
    publisher.replay("p-2", &[(now_ms() - HOUR, 7.4)], 1).await;
    let rows = eventually(
        Duration::from_secs(10),
        "the second warning's SMS held back",
        || async {
            let rows = sms_rows(&w).await;
            (rows.iter().filter(|r| r.1 == "rate_limited").count() == 2).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows.len(), 4);
    assert_eq!(provider.phones().len(), 2);
    analyzer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliyun_requests_carry_a_signature_the_far_end_verifies() {
    let w = World::new().await;
    people(&w).await;
    red_piezometer(&w, "p-1").await;
    let provider = Arc::new(FakeProvider::default());
    let url = start_provider(provider.clone()).await;
    let sms = SmsConfig::Aliyun(AliyunConfig {
        endpoint: format!("{url}/"),
        access_key_id: "test-key".into(),
        access_key_secret: "test-secret".into(),
        sign_name: "地灾监测".into(),
        template_code: "SMS_0001".into(),
        region_id: "cn-hangzhou".into(),
    });
    let analyzer = w.start(config(&w, "analyzer-aliyun", sms, None)).await;
    let publisher = w.publisher().await;
    publisher.replay("p-1", &[(now_ms() - HOUR, 7.4)], 1).await;
    let ids: Vec<(String, Option<String>)> = eventually(Duration::from_secs(10), "two SMS via Aliyun", || async {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT status, provider_message_id FROM notifications WHERE channel = 'sms' AND status = 'sent'",
        )
        .fetch_all(&w.store.pool)
        .await
        .unwrap();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert!(
        ids.iter()
            .all(|r| r.1.as_deref().is_some_and(|b| b.starts_with("biz-")))
    );
    assert_eq!(provider.bad_signatures.load(Ordering::SeqCst), 0);
    // The template is Chinese, and so are the values filled into it.
    for params in provider.texts.lock().unwrap().iter() {
        let params: Value = serde_json::from_str(params).unwrap();
        assert_eq!(params["level"], "红色", "{params}");
        assert_eq!(params["summary"], "测值 7.4 m ≥ 红色阈值 7 m", "{params}");
    }
    analyzer.stop().await;
}

/// (person, status, created_at) of the app notifications, and (phone, reason) of the SMS.
async fn app_rows(w: &World) -> Vec<(i64, String, chrono::DateTime<chrono::Utc>)> {
    sqlx::query_as(
        "SELECT person_id, status, created_at FROM notifications WHERE channel = 'app' ORDER BY id",
    )
    .fetch_all(&w.store.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_notification_no_client_receives_goes_out_by_sms_after_the_delay() {
    let w = World::new().await;
    let monitor = people(&w).await;
    let id = w.sensor("p-1", SensorKind::Piezometer, "m", 600).await;
    w.sensor_rule(
        id,
        "threshold",
        json!({"levels": {"yellow": 5.0, "orange": 6.0, "red": 7.0}, "persistence": {"readings": 1}}),
    )
    .await;
    let provider = Arc::new(FakeProvider::default());
    let url = start_provider(provider.clone()).await;
    // A yellow warning: below the SMS level, so the people hear of it in the app only.
    let mut c = config(&w, "analyzer-fallback", generic(&url), None);
    c.notifier.sms_min_level = geohazard_protocol::WarningLevel::Red;
    c.notifier.app_fallback_s = None;
    let analyzer = w.start(c.clone()).await;
    let publisher = w.publisher().await;
    let n = publisher.replay("p-1", &[(now_ms() - HOUR, 5.5)], 1).await;
    analyzer.handled(n).await;
    analyzer.stop().await;
    let apps = app_rows(&w).await;
    assert_eq!(apps.len(), 2, "the monitor's and the county duty officer's");
    assert!(
        apps.iter().all(|a| a.1 == "pending"),
        "nobody's client has it yet: {apps:?}"
    );
    assert_eq!(sms_rows(&w).await, []);

    // The county duty officer's console received theirs; the monitor has no client.
    let duty: i64 = sqlx::query_scalar("SELECT id FROM people WHERE phone = $1")
        .bind(COUNTY_DUTY)
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    let duty_note: i64 =
        sqlx::query_scalar("SELECT id FROM notifications WHERE channel = 'app' AND person_id = $1")
            .bind(duty)
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
    geohazard_notify::app::receive(
        &w.store.pool,
        geohazard_domain::PersonId(duty),
        geohazard_notify::app::ClientReceipt::Delivered {
            id: geohazard_domain::NotificationId(duty_note),
        },
    )
    .await
    .unwrap()
    .expect("the duty officer's own notification");

    // The delivery worker, run on its own, falls back to SMS for the monitor only.
    c.notifier.app_fallback_s = Some(0.5);
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        geohazard_notify::Delivery::new(c.notifier.clone())
            .unwrap()
            .run(
                w.store.pool.clone(),
                geohazard_notify::Queued::default(),
                stop.clone(),
            ),
    );
    let phones = eventually(Duration::from_secs(15), "the fallback SMS", || async {
        let rows = sms_rows(&w).await;
        (rows.len() == 1 && rows[0].1 == "sent").then(|| provider.phones())
    })
    .await;
    assert_eq!(phones, [MONITOR]);
    let (sms_person, reason, waited): (i64, String, f64) = sqlx::query_as(
        "SELECT s.person_id, s.reason, extract(epoch FROM s.created_at - a.created_at)::float8
         FROM notifications s JOIN notifications a
           ON a.warning_id = s.warning_id AND a.person_id = s.person_id AND a.channel = 'app'
         WHERE s.channel = 'sms'",
    )
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert_eq!(sms_person, monitor);
    assert!(reason.starts_with("yellow@"), "{reason}");
    assert!(
        waited >= 0.5,
        "queued {waited} s after the app notification"
    );
    assert!(provider.texts.lock().unwrap()[0].contains("黄色预警"));
    // The app notification stays pending: a client that connects later still gets it.
    let apps = app_rows(&w).await;
    let statuses: Vec<(i64, &str)> = apps.iter().map(|a| (a.0, a.1.as_str())).collect();
    assert!(statuses.contains(&(monitor, "pending")) && statuses.contains(&(duty, "delivered")));
    stop.cancel();
    worker.await.unwrap();
}
