//! Idempotent POSTs: the answer of the first request with an officer's `Idempotency-Key`, kept
//! so a retry is answered the same without the action being done again.

use sqlx::PgConnection;

/// What a key says about a request about to be done.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// New: do it, then `complete` in the same transaction.
    Fresh,
    /// Done before with the same request: answer this.
    Done {
        status: u16,
        answer: serde_json::Value,
    },
    /// Used before with another request.
    Mismatch,
}

/// Claims `key` for `officer` in the caller's transaction. A concurrent request with the same
/// key waits here until the first commits (then reads its answer) or rolls back (then does it).
pub async fn claim(
    tx: &mut PgConnection,
    officer: i64,
    key: &str,
    fingerprint: &[u8],
) -> sqlx::Result<Claim> {
    // Inserted as a placeholder answer the same transaction overwrites; never seen by others.
    let fresh = sqlx::query(
        "INSERT INTO idempotency_keys (officer_id, key, fingerprint, status, answer)
         VALUES ($1, $2, $3, 500, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(officer)
    .bind(key)
    .bind(fingerprint)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if fresh {
        return Ok(Claim::Fresh);
    }
    let (stored, status, answer): (Vec<u8>, i16, serde_json::Value) = sqlx::query_as(
        "SELECT fingerprint, status, answer FROM idempotency_keys WHERE officer_id = $1 AND key = $2",
    )
    .bind(officer)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    Ok(if stored == fingerprint {
        Claim::Done {
            status: status as u16,
            answer,
        }
    } else {
        Claim::Mismatch
    })
}

/// Keeps the answer of a request claimed `Fresh`, in its transaction.
pub async fn complete(
    tx: &mut PgConnection,
    officer: i64,
    key: &str,
    status: u16,
    answer: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, answer = $4 WHERE officer_id = $1 AND key = $2",
    )
    .bind(officer)
    .bind(key)
    .bind(status as i16)
    .bind(answer)
    .execute(tx)
    .await?;
    Ok(())
}

/// Forgets keys older than `days` (a phone retries for minutes, not weeks).
pub async fn sweep(pool: &sqlx::PgPool, days: i32) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)",
    )
    .bind(days)
    .execute(pool)
    .await?
    .rows_affected())
}
