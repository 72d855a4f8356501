//! OffsetForLeaderEpoch (key 23): where a leader epoch ends in the leader's log. Clients
//! (librdkafka, the Java consumer) ask it after a leader change to validate their position:
//! a position past the end of its epoch means the log they read was truncated (KIP-320).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::OffsetForLeaderEpoch;
/// Versions implemented (v1 answers the epoch, v2 checks the client's current epoch, v3
/// names the replica asking, v4 is flexible).
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Handles OffsetForLeaderEpoch.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.shard.metadata();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.topic.0.to_string();
        let known = crate::topics::partition_count(&image, &name);
        // A follower (replica id >= 0) needs CLUSTER_ACTION; a client, DESCRIBE on the topic.
        let refused = if req.replica_id.0 >= 0 {
            !ctx.cluster_authorized(operation::CLUSTER_ACTION)
        } else {
            !ctx.authorized(resource_type::TOPIC, &name, operation::DESCRIBE)
        };
        let futs = t.partitions.iter().map(|p| {
            let name = name.as_str();
            async move {
                let base = EpochEndOffset::default().with_partition(p.partition);
                if refused {
                    return base
                        .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                }
                if !known.is_some_and(|n| (0..n).contains(&p.partition)) {
                    return base
                        .with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                }
                let current = if version >= 2 {
                    p.current_leader_epoch
                } else {
                    -1
                };
                let found = ctx
                    .shard
                    .offset_for_leader_epoch(name, p.partition, current, p.leader_epoch)
                    .await;
                match found {
                    Ok((epoch, end)) => base
                        .with_leader_epoch(if version >= 1 { epoch } else { -1 })
                        .with_end_offset(end),
                    Err(e) => base
                        .with_error_code(codes::shard(&e))
                        .with_leader_epoch(-1)
                        .with_end_offset(-1),
                }
            }
        });
        let partitions = futures::future::join_all(futs).await;
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
