//! Transaction markers: the control batch that ends a producer's transaction in one
//! partition, and writing it on the partition's leader. The coordinator writes markers for
//! partitions on this broker directly and sends WriteTxnMarkers to the brokers leading the
//! others; the WriteTxnMarkers handler lands here too.

use crate::codes;
use crate::internal_log::{self, append_committed, encode_batch, record};
use bytes::Bytes;
use myelin_shards::Shard;
use std::rc::Rc;

/// The control batch that ends a transaction for `producer_id` at `epoch` in one partition.
pub fn marker_batch(producer_id: i64, epoch: i16, commit: bool, now_ms: i64) -> Result<Bytes, i16> {
    let kind: i16 = if commit { 1 } else { 0 };
    let mut key = vec![0u8, 0];
    key.extend_from_slice(&kind.to_be_bytes());
    // Value: version 0, coordinator epoch 0.
    let value = Bytes::from_static(&[0, 0, 0, 0, 0, 0]);
    let flags = internal_log::RecordFlags {
        transactional: true,
        control: true,
        timestamp_ms: now_ms,
    };
    encode_batch(&[record(
        0,
        (producer_id, epoch),
        flags,
        Bytes::from(key),
        Some(value),
    )])
}

/// Writes a commit or abort marker for the producer to a partition this broker leads, on
/// the shard that owns it, and waits until it is committed. A marker on a
/// `__consumer_offsets` partition also makes that shard's group coordinator apply (or
/// drop) the offsets the producer committed in the transaction. Markers are safe to repeat:
/// a partition ignores one for a producer with no open transaction there.
pub async fn write_local(
    shard: &Rc<Shard>,
    topic: &str,
    partition: i32,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), i16> {
    let owner = shard.owner(topic, partition);
    let is_offsets = topic == crate::group::store::OFFSETS_TOPIC;
    let topic = topic.to_string();
    let r = shard
        .invoke_on(owner, move |s| async move {
            let target = s
                .partition(&topic, partition)
                .map_err(|e| codes::shard(&e))?;
            let marker = marker_batch(producer_id, epoch, commit, s.now_ms())?;
            append_committed(&target, marker).await?;
            if is_offsets {
                crate::group::coordinator::of(&s)?.complete_txn(producer_id, commit);
            }
            Ok::<(), i16>(())
        })
        .await;
    r.unwrap_or(Err(codes::COORDINATOR_NOT_AVAILABLE))
}
