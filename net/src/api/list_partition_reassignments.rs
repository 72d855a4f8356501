//! ListPartitionReassignments (key 46): the reassignments running, from the metadata image
//! (`kafka-reassign-partitions.sh --verify`, `Admin.listPartitionReassignments`). Unknown
//! topics and partitions, and partitions not moving, are left out, as Kafka does.

use crate::server::Ctx;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use myelin_replication::cluster::image::TopicImage;
use myelin_replication::cluster::security::operation;
use myelin_replication::NodeId;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ListPartitionReassignments;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

fn brokers(ids: &[NodeId]) -> Vec<BrokerId> {
    ids.iter().map(|n| BrokerId(n.0)).collect()
}

/// The running reassignments of `topic` among `partitions` (all when `None`).
fn ongoing(topic: &TopicImage, partitions: Option<&[i32]>) -> Option<OngoingTopicReassignment> {
    let moving: Vec<OngoingPartitionReassignment> = topic
        .partitions
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            p.reassigning() && partitions.is_none_or(|asked| asked.contains(&(*i as i32)))
        })
        .map(|(i, p)| {
            OngoingPartitionReassignment::default()
                .with_partition_index(i as i32)
                .with_replicas(brokers(&p.replicas))
                .with_adding_replicas(brokers(&p.adding))
                .with_removing_replicas(brokers(&p.removing))
        })
        .collect();
    (!moving.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_string(topic.name.clone()),
            ))
            .with_partitions(moving)
    })
}

/// Handles ListPartitionReassignments.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !ctx.cluster_authorized(operation::DESCRIBE) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let image = ctx.shard.metadata();
    let topics = match &req.topics {
        None => image.topics().filter_map(|t| ongoing(t, None)).collect(),
        Some(asked) => asked
            .iter()
            .filter_map(|a| {
                let t = image.topic(&a.name.0)?;
                ongoing(t, Some(&a.partition_indexes))
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
