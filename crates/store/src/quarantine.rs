//! The quarantine: every refused message or reading, with its reason, kept for inspection.

pub use geohazard_domain::QuarantineReason;
use sqlx::PgConnection;

/// Longest payload kept for one quarantine row; the original size is stored beside it.
pub const MAX_KEPT_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct QuarantineRow {
    pub topic: String,
    pub gateway_code: Option<String>,
    pub reason: QuarantineReason,
    pub detail: String,
    pub reading_index: Option<i32>,
    pub payload: Vec<u8>,
}

impl QuarantineRow {
    pub fn new(
        topic: &str,
        gateway_code: Option<&str>,
        reason: QuarantineReason,
        detail: impl Into<String>,
        reading_index: Option<usize>,
        payload: &[u8],
    ) -> QuarantineRow {
        QuarantineRow {
            topic: topic.to_owned(),
            gateway_code: gateway_code.map(str::to_owned),
            reason,
            detail: detail.into(),
            reading_index: reading_index.map(|i| i as i32),
            payload: payload.to_vec(),
        }
    }
}

/// Inserts quarantine rows in one statement. A refusal already on record (same topic, device,
/// reason, position, kept bytes and real size) counts as a repeat of it.
pub async fn insert(conn: &mut PgConnection, rows: &[QuarantineRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Identical refusals within one statement must be merged first: ON CONFLICT DO UPDATE may
    // touch a row only once per statement.
    let mut merged: Vec<(&QuarantineRow, i32)> = Vec::with_capacity(rows.len());
    let mut seen: std::collections::HashMap<_, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let key = (
            &r.topic,
            r.gateway_code.as_deref().map(|g| clean_text(g, 128)),
            r.reason,
            r.reading_index,
            kept(&r.payload),
            r.payload.len(),
        );
        match seen.get(&key) {
            Some(&i) => merged[i].1 += 1,
            None => {
                seen.insert(key, merged.len());
                merged.push((r, 1));
            }
        }
    }
    let rows = merged;
    let mut topics = Vec::with_capacity(rows.len());
    let mut gateways = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    let mut details = Vec::with_capacity(rows.len());
    let mut indexes = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    let mut sizes = Vec::with_capacity(rows.len());
    let mut repeats = Vec::with_capacity(rows.len());
    for (r, n) in rows {
        // Topics and details may quote hostile input: keep them bounded and free of NUL, which
        // PostgreSQL text cannot hold.
        topics.push(clean_text(&r.topic, 512));
        gateways.push(r.gateway_code.as_deref().map(|g| clean_text(g, 128)));
        reasons.push(r.reason);
        details.push(clean_text(&r.detail, 2048));
        indexes.push(r.reading_index);
        payloads.push(kept(&r.payload));
        sizes.push(r.payload.len() as i32);
        repeats.push(n);
    }
    sqlx::query(
        "INSERT INTO quarantine AS q (topic, gateway_code, reason, detail, reading_index, payload, payload_size, repeats)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::bytea[], $7::int4[], $8::int4[])
         ON CONFLICT (topic, coalesce(gateway_code, ''), reason, coalesce(reading_index, -1), md5(payload), payload_size) DO UPDATE
         SET repeats = q.repeats + EXCLUDED.repeats, last_received_at = now()",
    )
    .bind(&topics)
    .bind(&gateways)
    .bind(&reasons)
    .bind(&details)
    .bind(&indexes)
    .bind(&payloads)
    .bind(&sizes)
    .bind(&repeats)
    .execute(conn)
    .await?;
    Ok(())
}

fn kept(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().min(MAX_KEPT_PAYLOAD)]
}

fn clean_text(s: &str, max_chars: usize) -> String {
    s.chars().filter(|c| *c != '\0').take(max_chars).collect()
}
