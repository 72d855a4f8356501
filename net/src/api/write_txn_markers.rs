//! WriteTxnMarkers (key 27): a transaction coordinator on another broker asks this one to end
//! a producer's transaction in the partitions it leads, with commit or abort markers.

use crate::server::Ctx;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ApiKey, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use myelin_coordinator::txn::markers;
use myelin_replication::cluster::security::operation;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::WriteTxnMarkers;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Handles WriteTxnMarkers: every partition of every marker is written concurrently, each on
/// its owner, and answered with its own error code.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    // Markers come from transaction coordinators: CLUSTER_ACTION only.
    let refused = !ctx.cluster_authorized(operation::CLUSTER_ACTION);
    let results = req.markers.into_iter().map(|m| async move {
        let (pid, epoch, commit) = (m.producer_id, m.producer_epoch, m.transaction_result);
        let topics = m.topics.into_iter().map(|t| async move {
            let partitions = t.partition_indexes.iter().map(|&p| {
                let topic = t.name.0.to_string();
                async move {
                    if refused {
                        return WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(p)
                            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
                    }
                    let code = markers::write_local(&ctx.shard, &topic, p, pid.0, epoch, commit)
                        .await
                        .err()
                        .unwrap_or(crate::codes::NONE);
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                }
            });
            WritableTxnMarkerTopicResult::default()
                .with_partitions(futures::future::join_all(partitions).await)
                .with_name(t.name)
        });
        WritableTxnMarkerResult::default()
            .with_producer_id(pid)
            .with_topics(futures::future::join_all(topics).await)
    });
    WriteTxnMarkersResponse::default().with_markers(futures::future::join_all(results).await)
}
