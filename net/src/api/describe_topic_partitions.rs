//! DescribeTopicPartitions (key 75, KIP-966): topics and their partitions with leaders,
//! epochs, replicas, ISR, eligible leader replicas, last known ELR and offline replicas,
//! paged: at most `response_partition_limit` partitions per answer, from the cursor on, topics
//! in name order (all of them when none are named).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::image::{MetadataImage, TopicImage};
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::NodeId;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeTopicPartitions;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Most partitions one answer carries, whatever the client asks (Kafka's
/// `max.request.partition.size.limit` default).
const PARTITIONS_PER_RESPONSE_MAX: i32 = 2_000;

fn ids(nodes: &[NodeId]) -> Vec<BrokerId> {
    nodes.iter().map(|n| BrokerId(n.0)).collect()
}

fn partitions_of(
    image: &MetadataImage,
    t: &TopicImage,
    from: usize,
    room: usize,
) -> Vec<DescribeTopicPartitionsResponsePartition> {
    t.partitions
        .iter()
        .enumerate()
        .skip(from)
        .take(room)
        .map(|(i, p)| {
            let offline: Vec<NodeId> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !image.is_live(*r))
                .collect();
            let leader = if p.leader.is_some() && image.is_live(p.leader) {
                p.leader.0
            } else {
                -1
            };
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(p.leader_epoch.0)
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                .with_eligible_leader_replicas(Some(ids(&p.elr)))
                .with_last_known_elr(Some(ids(&p.last_known_elr)))
                .with_offline_replicas(ids(&offline))
        })
        .collect()
}

/// Handles DescribeTopicPartitions.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = ctx.shard.metadata();
    let describe = |name: &str| ctx.authorized(resource_type::TOPIC, name, operation::DESCRIBE);
    // Every topic the principal may describe, when none are named.
    let mut names: Vec<String> = if req.topics.is_empty() {
        image
            .topics()
            .filter(|t| describe(&t.name))
            .map(|t| t.name.clone())
            .collect()
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (
            Some(c.topic_name.0.to_string()),
            c.partition_index.max(0) as usize,
        ),
        None => (None, 0),
    };
    let limit = req
        .response_partition_limit
        .clamp(1, PARTITIONS_PER_RESPONSE_MAX) as usize;
    let mut room = limit;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.iter().filter(|n| {
        start_topic
            .as_ref()
            .is_none_or(|s| n.as_str() >= s.as_str())
    }) {
        let from = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let topic_name = TopicName(StrBytes::from_string(name.clone()));
        if !describe(name) {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
                    .with_name(Some(topic_name))
                    .with_topic_authorized_operations(i32::MIN),
            );
            continue;
        }
        let Some(t) = image.topic(name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION)
                    .with_name(Some(topic_name))
                    .with_topic_authorized_operations(i32::MIN),
            );
            continue;
        };
        if room == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name)
                    .with_partition_index(from as i32),
            );
            break;
        }
        let partitions = partitions_of(&image, t, from, room);
        room -= partitions.len();
        let end = from + partitions.len();
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name.clone()))
                .with_topic_id(uuid::Uuid::from_bytes(t.id.0))
                .with_is_internal(name.starts_with("__"))
                .with_partitions(partitions)
                .with_topic_authorized_operations(ctx.authorized_operations(
                    true,
                    resource_type::TOPIC,
                    name,
                )),
        );
        if end < t.partitions.len() {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name)
                    .with_partition_index(end as i32),
            );
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}
