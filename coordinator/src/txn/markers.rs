//! Transaction markers: the control batch that ends a producer's transaction in one
//! partition, and writing it on the partition's leader. The coordinator writes markers for
//! partitions on this broker directly and sends WriteTxnMarkers to the brokers leading the
//! others; the WriteTxnMarkers handler lands here too.

use crate::codes;
use crate::internal_log::{self, append_committed, encode_batch, record};
use crate::peer::PeerClient;
use bytes::Bytes;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::image::MetadataImage;
use myelin_replication::partition::producer::MARKER_COORDINATOR_EPOCH;
use myelin_replication::NodeId;
use myelin_shards::Shard;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The WriteTxnMarkers version brokers send each other (the first flexible one, which
/// every Kafka 4 broker takes).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;

/// The control batch that ends a transaction for `producer_id` at `epoch` in one partition.
pub fn marker_batch(producer_id: i64, epoch: i16, commit: bool, now_ms: i64) -> Result<Bytes, i16> {
    let kind: i16 = if commit { 1 } else { 0 };
    let mut key = vec![0u8, 0];
    key.extend_from_slice(&kind.to_be_bytes());
    // Value: version 0, then the coordinator epoch, which partitions report back in
    // DescribeProducers without reading it.
    let mut value = vec![0u8, 0];
    value.extend_from_slice(&MARKER_COORDINATOR_EPOCH.to_be_bytes());
    let value = Bytes::from(value);
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

/// Writes markers for the producer to partitions `leader` leads, with one WriteTxnMarkers
/// request to it. Every partition must succeed (a deleted one counts as done); anything
/// else fails the whole call, so the coordinator retries it later.
pub async fn write_remote(
    shard: &Rc<Shard>,
    image: &MetadataImage,
    leader: NodeId,
    partitions: &[(String, i32)],
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), i16> {
    let broker = image.broker(leader).filter(|b| !b.fenced);
    let Some(endpoint) = broker.and_then(|b| b.listeners.first()) else {
        return Err(codes::NOT_LEADER_OR_FOLLOWER);
    };
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                .with_partition_indexes(ps)
        })
        .collect();
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_topics(topics)
        .with_coordinator_epoch(MARKER_COORDINATOR_EPOCH)]);
    let client = peers(shard);
    let resp: WriteTxnMarkersResponse = client
        .request(
            &addr,
            ApiKey::WriteTxnMarkers,
            WRITE_TXN_MARKERS_VERSION,
            &req,
        )
        .await
        .map_err(|e| {
            tracing::debug!(leader = leader.0, "WriteTxnMarkers failed: {e}");
            codes::COORDINATOR_NOT_AVAILABLE
        })?;
    for m in &resp.markers {
        for t in &m.topics {
            for p in &t.partitions {
                if p.error_code != codes::NONE && p.error_code != codes::UNKNOWN_TOPIC_OR_PARTITION
                {
                    return Err(p.error_code);
                }
            }
        }
    }
    Ok(())
}

/// This shard's connections to other brokers.
fn peers(shard: &Rc<Shard>) -> Rc<PeerClient> {
    if let Some(c) = shard.service::<PeerClient>() {
        return c;
    }
    let c = Rc::new(PeerClient::default());
    shard.install(c.clone());
    c
}
