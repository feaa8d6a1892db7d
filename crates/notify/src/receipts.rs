//! SMS delivery receipts: what a provider's callback says about a message it accepted, checked
//! by the HMAC-SHA256 of the request body under a secret shared with the provider, and stored
//! with the message it belongs to. The HTTP endpoint is the command-center's; the rules are here.

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

/// The PostgreSQL channel that says a warning's deliveries changed (a receipt, a client's
/// delivered or confirmed, a send or its failure): `{division}:{warning id}`, sent when the
/// writer's transaction commits. It only says that: listeners read the deliveries from the store.
pub const CHANGED_CHANNEL: &str = "geohazard_delivery";

/// Announces on [`CHANGED_CHANNEL`] that the deliveries of notification `id`'s warning changed
/// (nothing for a notification of no warning), when the caller's transaction commits.
pub async fn announce<'e>(db: impl sqlx::PgExecutor<'e>, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "SELECT pg_notify($2, h.division_code || ':' || n.warning_id::text)
           FROM notifications n JOIN warnings w ON w.id = n.warning_id
           JOIN hazard_sites h ON h.id = w.site_id
          WHERE n.id = $1",
    )
    .bind(id)
    .bind(CHANGED_CHANNEL)
    .execute(db)
    .await?;
    Ok(())
}

/// The header that carries the body's signature: `sha256=` and the HMAC-SHA256 in hex.
pub const SIGNATURE_HEADER: &str = "x-geohazard-signature";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The signature of `body` under `secret`, as the header carries it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `signature` (the header's value) is the signature of `body` under `secret`,
/// compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature.strip_prefix("sha256=").and_then(from_hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// One receipt of a callback: the provider's id of the message (as it answered the send),
/// whether it arrived, the provider's status code, and when it says so.
#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    pub message_id: String,
    pub delivered: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
}

/// A callback's body: one receipt or a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Receipts {
    One(Receipt),
    Batch(Vec<Receipt>),
}

impl Receipts {
    pub fn into_vec(self) -> Vec<Receipt> {
        match self {
            Receipts::One(r) => vec![r],
            Receipts::Batch(b) => b,
        }
    }
}

/// Stores a provider's delivery receipt and marks the message delivered (or failed). Returns
/// the notification it belongs to, if it is known.
pub async fn record_receipt(
    pool: &PgPool,
    provider: &str,
    provider_message_id: &str,
    delivered: bool,
    status_code: &str,
    reported_at: Option<DateTime<Utc>>,
    raw: Option<Value>,
) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE notifications SET
             status = CASE WHEN $3 THEN 'delivered' ELSE 'failed' END,
             delivered_at = CASE WHEN $3 THEN COALESCE($4, now()) ELSE delivered_at END
         WHERE provider = $1 AND provider_message_id = $2 AND status IN ('sent', 'delivered', 'failed')
         RETURNING id",
    )
    .bind(provider)
    .bind(provider_message_id)
    .bind(delivered)
    .bind(reported_at)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO notification_receipts (notification_id, provider, provider_message_id, delivered,
             status_code, reported_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(provider)
    .bind(provider_message_id)
    .bind(delivered)
    .bind(status_code)
    .bind(reported_at)
    .bind(raw)
    .execute(&mut *tx)
    .await?;
    if let Some(id) = id {
        announce(&mut *tx, id).await?;
    }
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_own_body_and_secret() {
        let sig = sign(b"s3cret", br#"{"message_id":"m-1","delivered":true}"#);
        assert!(verify(
            b"s3cret",
            br#"{"message_id":"m-1","delivered":true}"#,
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            br#"{"message_id":"m-2","delivered":true}"#,
            &sig
        ));
        assert!(!verify(
            b"other",
            br#"{"message_id":"m-1","delivered":true}"#,
            &sig
        ));
        assert!(!verify(b"s3cret", b"", "sha256=zz"));
        assert!(!verify(b"s3cret", b"", ""));
    }

    #[test]
    fn a_callback_carries_one_receipt_or_a_batch() {
        let one: Receipts =
            serde_json::from_str(r#"{"message_id":"m-1","delivered":true}"#).unwrap();
        assert_eq!(one.into_vec().len(), 1);
        let two: Receipts = serde_json::from_str(
            r#"[{"message_id":"m-1","delivered":true,"status":"DELIVRD"},{"message_id":"m-2","delivered":false}]"#,
        )
        .unwrap();
        assert_eq!(two.into_vec()[1].message_id, "m-2");
    }
}
