//! The quarantine against a real PostgreSQL: repeats are counted, different refusals are not.

use geohazard_store::quarantine::{self, MAX_KEPT_PAYLOAD, QuarantineReason};
use geohazard_store::{QuarantineRow, Store};
use geohazard_testkit::TestDb;

fn oversized(size: usize) -> QuarantineRow {
    QuarantineRow::new(
        "gh/v1/gw/gw-1/telemetry",
        Some("gw-1"),
        QuarantineReason::OversizedPayload,
        format!("payload is {size} bytes"),
        None,
        &vec![b'x'; size],
    )
}

#[tokio::test]
async fn oversized_messages_sharing_their_kept_bytes_keep_their_own_rows_and_real_sizes() {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    let (small, large) = (MAX_KEPT_PAYLOAD + 10, MAX_KEPT_PAYLOAD + 500_000);
    let mut conn = store.pool.acquire().await.unwrap();
    // In one statement, and again in a later one: a repeat is counted, a different size is not.
    quarantine::insert(&mut conn, &[oversized(small), oversized(large)])
        .await
        .unwrap();
    quarantine::insert(&mut conn, &[oversized(large)])
        .await
        .unwrap();
    let rows: Vec<(i32, i32)> =
        sqlx::query_as("SELECT payload_size, repeats FROM quarantine ORDER BY payload_size")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(rows, vec![(small as i32, 1), (large as i32, 2)]);
}

#[tokio::test]
async fn rows_under_the_old_misspelled_reasons_are_rewritten_and_merged_into_their_members() {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    // As the video consumer wrote them before migration 0250, beside a row of the same
    // refusal under its right name.
    sqlx::raw_sql(
        "INSERT INTO quarantine (topic, reason, detail, payload, payload_size, repeats) VALUES
           ('gh/v1/x', 'bad_topic', 'not a video topic', 'p', 1, 2),
           ('gh/v1/x', 'invalid_topic', 'not a video topic', 'p', 1, 3),
           ('gh/v1/gw/g/video/c/1', 'bad_timestamp', 'not a time', 'q', 1, 1)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    sqlx::raw_sql(include_str!(
        "../migrations/0250_quarantine_reason_spellings.sql"
    ))
    .execute(&store.pool)
    .await
    .unwrap();
    let rows: Vec<(QuarantineReason, i32)> =
        sqlx::query_as("SELECT reason, repeats FROM quarantine ORDER BY reason")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (QuarantineReason::InvalidTimestamp, 1),
            (QuarantineReason::InvalidTopic, 5)
        ]
    );
}
