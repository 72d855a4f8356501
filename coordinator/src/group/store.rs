//! Committed offsets as records of `__consumer_offsets`: the rkyv-archived key and value of
//! each record, writing a commit durably, and reading a partition back on start-up.
//!
//! A record's key names a (group, topic, partition); its value is the committed offset, or
//! null for a deletion (a tombstone). The last record for a key wins.

use crate::codes;
use crate::internal_log::{self, decode, encode};
use bytes::Bytes;
use myelin_replication::Partition;
use myelin_storage::{batch, records};
use rkyv::{Archive, Deserialize, Serialize};
use std::rc::Rc;

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Which partition of `__consumer_offsets` a group belongs to: Kafka's choice, the absolute
/// Java `String.hashCode` of the group id modulo the partition count, so tools that compute
/// it agree.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    // Kafka's Utils.abs maps i32::MIN to 0.
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// The key of an offsets record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Archive, Serialize, Deserialize)]
pub struct OffsetKey {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct Committed {
    /// Next offset the group will read.
    pub offset: i64,
    /// Leader epoch of the committed record, or -1.
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: String,
    /// When it was committed (ms since the epoch), for offset retention.
    pub commit_ms: i64,
}

/// What one partition of an OffsetCommit or TxnOffsetCommit asks to store, or why it is
/// refused (metadata longer than `offset.metadata.max.bytes`).
pub fn commit_entry(
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&str>,
    now: i64,
) -> Result<(OffsetKey, Committed), i16> {
    let metadata = metadata.unwrap_or_default();
    if metadata.len() > crate::group::limits::OFFSET_METADATA_BYTES_MAX {
        return Err(codes::OFFSET_METADATA_TOO_LARGE);
    }
    Ok((
        OffsetKey {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        },
        Committed {
            offset,
            leader_epoch,
            metadata: metadata.to_string(),
            commit_ms: now,
        },
    ))
}

/// The record key and value of an offset (a `None` value deletes).
pub fn encode_entry(
    key: &OffsetKey,
    value: Option<&Committed>,
) -> Result<(Bytes, Option<Bytes>), i16> {
    Ok((encode(key)?, value.map(encode).transpose()?))
}

/// Appends offset records (a `None` value deletes) and waits until they are durable.
pub async fn write(
    partition: &Rc<Partition>,
    entries: &[(OffsetKey, Option<Committed>)],
    now_ms: i64,
) -> Result<(), i16> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut recs = Vec::with_capacity(entries.len());
    for (i, (key, value)) in entries.iter().enumerate() {
        let (key, value) = encode_entry(key, value.as_ref())?;
        recs.push(internal_log::record(
            i as i64,
            (-1, -1),
            internal_log::RecordFlags::plain(now_ms),
            key,
            value,
        ));
    }
    internal_log::append_committed(partition, internal_log::encode_batch(&recs)?).await
}

/// What replaying an offsets partition finds, in order.
pub enum Replayed {
    /// An offset record; `txn` names the producer of a transactional commit, which only
    /// counts once its commit marker follows.
    Offset {
        /// The key.
        key: OffsetKey,
        /// The value, `None` for a deletion.
        value: Option<Committed>,
        /// Producer id for a transactional commit.
        txn: Option<i64>,
    },
    /// A transaction marker for a producer.
    Marker {
        /// The producer.
        producer_id: i64,
        /// Commit (or abort).
        commit: bool,
    },
}

/// Reads a whole offsets partition, calling `apply` for each record and marker in order.
pub async fn replay(partition: &Rc<Partition>, mut apply: impl FnMut(Replayed)) -> Result<(), i16> {
    internal_log::replay(partition, |header, b| {
        let marker = batch::control_type(header, b);
        if marker != myelin_storage::txn::MARKER_NONE {
            apply(Replayed::Marker {
                producer_id: header.producer_id,
                commit: marker == myelin_storage::txn::MARKER_COMMIT,
            });
            return Ok(());
        }
        let txn =
            (header.attributes & batch::ATTR_TRANSACTIONAL != 0).then_some(header.producer_id);
        records::for_each(header, records::records_section(b), |r| {
            if let Some(key) = r.key.and_then(decode::<OffsetKey>) {
                apply(Replayed::Offset {
                    key,
                    value: r.value.and_then(decode::<Committed>),
                    txn,
                });
            }
            true
        })
        .map_err(|e| codes::storage(&e))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_kafkas_choice() {
        // Java: Math.abs("payments-app".hashCode()) % 50, and "" hashes to 0.
        assert_eq!(partition_for("", 50), 0);
        let h = "payments-app"
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32));
        assert_eq!(partition_for("payments-app", 50), h.abs() % 50);
        assert!((0..50).contains(&partition_for("any group at all", 50)));
    }

    #[test]
    fn keys_and_values_round_trip_and_reject_garbage() {
        let k = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let v = Committed {
            offset: 42,
            leader_epoch: 0,
            metadata: "m".into(),
            commit_ms: 7,
        };
        assert_eq!(decode::<OffsetKey>(&encode(&k).unwrap()), Some(k));
        assert_eq!(decode::<Committed>(&encode(&v).unwrap()), Some(v));
        assert_eq!(decode::<Committed>(b"\x01garbage"), None);
        assert_eq!(decode::<Committed>(b""), None);
    }
}
