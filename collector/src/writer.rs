//! Writing a prepared batch in one transaction, and what to do when that fails.

use geohazard_store::{
    Failure, PartitionCache, QuarantineRow, Store, classify, quarantine, readings, registry,
};

use crate::batch::PreparedBatch;

/// Writes the batch: readings (de-duplicated), quarantine rows, gateway bookkeeping and status
/// changes, all or nothing. Returns how many readings were new.
pub async fn write(
    store: &Store,
    partitions: &mut PartitionCache,
    batch: &PreparedBatch,
) -> sqlx::Result<u64> {
    partitions
        .ensure_for(&store.pool, store.mode, &batch.readings.ts)
        .await?;
    let mut tx = store.pool.begin().await?;
    let inserted = readings::insert(&mut tx, &batch.readings).await?;
    quarantine::insert(&mut tx, &batch.quarantine).await?;
    let mut ids = Vec::with_capacity(batch.heard_from.len());
    let mut seen = Vec::with_capacity(batch.heard_from.len());
    let mut seqs = Vec::with_capacity(batch.heard_from.len());
    for (id, (at, seq)) in &batch.heard_from {
        ids.push(*id);
        seen.push(*at);
        seqs.push(*seq);
    }
    registry::touch_gateways(&mut tx, &ids, &seen, &seqs).await?;
    for (gateway_id, status, heard_at) in &batch.statuses {
        registry::apply_status(&mut tx, *gateway_id, status, *heard_at).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// When the store refuses a single message's data (a sensor deleted between lookup and insert,
/// say: never the database being away), its readings are quarantined as `store_rejected` with
/// the database's reason, so the rest of the stream goes on and nothing is lost.
pub fn quarantine_unstorable(batch: &mut PreparedBatch, error: &sqlx::Error) {
    let topic = batch
        .deliveries
        .first()
        .map(|d| d.topic().to_owned())
        .unwrap_or_default();
    debug_assert_eq!(classify(error), Failure::DataRefused);
    let detail = format!("the store refused the batch: {error}");
    for i in 0..batch.readings.len() {
        let raw = serde_json::json!({
            "sensor_id": batch.readings.sensor_ids[i],
            "ts": batch.readings.ts[i].timestamp_millis(),
            "value": batch.readings.values[i],
            "quality": batch.readings.quality[i],
        });
        batch.quarantine.push(QuarantineRow::new(
            &topic,
            None,
            geohazard_store::quarantine::QuarantineReason::StoreRejected,
            detail.clone(),
            Some(i),
            raw.to_string().as_bytes(),
        ));
    }
    batch.readings.clear();
    batch.statuses.clear();
}
