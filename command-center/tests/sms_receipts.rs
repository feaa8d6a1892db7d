//! The SMS provider's delivery receipt callback on a real command-center and database: a body
//! signed with the shared secret marks the message delivered at the time the provider reports;
//! a bad or missing signature is refused and stores nothing.

mod common;

use geohazard_notify::receipts::{SIGNATURE_HEADER, sign};
use geohazard_protocol::warning::WarningLevel;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::{self, COUNTY};
use serde_json::{Value, json};

const SECRET: &str = "shared-with-the-provider";

/// An SMS the provider accepted as `m-1` (as the delivery worker stores it), and its id.
async fn sent_sms(env: &common::Center) -> i64 {
    let site_id = fixtures::register_site(&env.store, "GAO-1").await;
    fixtures::on_duty_now(&env.store, "Duty officer", "13800000002", COUNTY).await;
    env.raise_warning_from(site_id, "threshold:mud-1", WarningLevel::Red, 52.0)
        .await;
    sqlx::query_scalar(
        "UPDATE notifications SET status = 'sent', sent_at = now(), provider = 'generic',
             provider_message_id = 'm-1'
         WHERE channel = 'sms' RETURNING id",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap()
}

async fn post(env: &common::Center, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let mut r = env
        .api
        .http
        .post(env.api.url("/sms/receipts/generic"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        r = r.header(SIGNATURE_HEADER, s);
    }
    let r = r.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn state(
    env: &common::Center,
    id: i64,
) -> (String, Option<chrono::DateTime<chrono::Utc>>, i64) {
    let (status, at): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT status, delivered_at FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_receipts")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    (status, at, receipts)
}

#[tokio::test]
async fn a_receipt_callback_with_a_bad_or_missing_signature_is_refused_and_a_signed_one_marks_delivery()
 {
    let env = common::start(|c| c.sms_receipts.secret = Some(SECRET.into())).await;
    let id = sent_sms(&env).await;
    let body = r#"{"message_id":"m-1","delivered":true,"status":"DELIVRD","reported_at":"2026-12-07T04:00:00Z"}"#;

    for signature in [
        None,
        Some("sha256=00".to_owned()),
        Some(sign(b"a guessed secret", body.as_bytes())),
        // Signed, but for another body.
        Some(sign(
            SECRET.as_bytes(),
            br#"{"message_id":"m-1","delivered":false}"#,
        )),
    ] {
        let (status, answer) = post(&env, body, signature.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{signature:?}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("signature"),
            "{answer}"
        );
    }
    assert_eq!(
        state(&env, id).await,
        ("sent".to_owned(), None, 0),
        "nothing stored"
    );

    let (status, answer) = post(&env, body, Some(sign(SECRET.as_bytes(), body.as_bytes()))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"received": 1, "matched": 1}));
    let (status, at, receipts) = state(&env, id).await;
    assert_eq!(status, "delivered");
    assert_eq!(at, Some("2026-12-07T04:00:00Z".parse().unwrap()));
    assert_eq!(receipts, 1);

    // A signed body that is not a receipt is a clear 400.
    let junk = r#"{"delivered":"yes"}"#;
    let (status, _) = post(&env, junk, Some(sign(SECRET.as_bytes(), junk.as_bytes()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_a_shared_secret_the_receipt_endpoint_does_not_exist() {
    let env = common::start(|_| {}).await;
    let body = r#"{"message_id":"m-1","delivered":true}"#;
    let (status, _) = post(&env, body, Some(sign(b"", body.as_bytes()))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
