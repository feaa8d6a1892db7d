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
/// a status text jsonb cannot hold, say: never the database being away), it is quarantined as
/// `store_rejected` with the database's reason, so the rest of the stream goes on and nothing
/// is lost: its readings one by one, a status whole. A refused message does not count as the
/// gateway being heard from.
pub fn quarantine_unstorable(batch: &mut PreparedBatch, error: &sqlx::Error) {
    debug_assert_eq!(classify(error), Failure::DataRefused);
    let Some(delivery) = batch.deliveries.first().cloned() else {
        return;
    };
    let topic = delivery.topic();
    let gateway = geohazard_protocol::Topic::parse(topic)
        .ok()
        .and_then(|t| t.gateway().map(str::to_owned));
    let detail = format!("the store refused the message: {error}");
    for i in 0..batch.readings.len() {
        let raw = serde_json::json!({
            "sensor_id": batch.readings.sensor_ids[i],
            "ts": batch.readings.ts[i].timestamp_millis(),
            "value": batch.readings.values[i],
            "quality": batch.readings.quality[i],
        });
        batch.quarantine.push(QuarantineRow::new(
            topic,
            gateway.as_deref(),
            geohazard_store::quarantine::QuarantineReason::StoreRejected,
            detail.clone(),
            Some(i),
            raw.to_string().as_bytes(),
        ));
    }
    if !batch.statuses.is_empty() {
        batch.quarantine.push(QuarantineRow::new(
            topic,
            gateway.as_deref(),
            geohazard_store::quarantine::QuarantineReason::StoreRejected,
            detail,
            None,
            delivery.payload(),
        ));
    }
    batch.readings.clear();
    batch.statuses.clear();
    batch.heard_from.clear();
}
