//! Metadata (key 3): this node as the only broker, leader of every partition, and the topics
//! asked for (all of them when the list is null), created on demand when auto-creation is on.

use crate::codes;
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::TopicMeta;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Metadata;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=12;

/// "Authorized operations not requested", as Kafka writes it.
const OPERATIONS_OMITTED: i32 = i32::MIN;

/// Every operation a topic supports, as Kafka reports them with no authorizer: READ (3),
/// WRITE (4), CREATE (5), DELETE (6), ALTER (7), DESCRIBE (8), DESCRIBE_CONFIGS (10) and
/// ALTER_CONFIGS (11), one bit each.
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Every operation the cluster resource supports: CREATE (5), ALTER (7), DESCRIBE (8),
/// CLUSTER_ACTION (9), DESCRIBE_CONFIGS (10), ALTER_CONFIGS (11), IDEMPOTENT_WRITE (12).
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

fn topic_response(
    ctx: &Ctx,
    meta: &TopicMeta,
    version: i16,
    operations: i32,
) -> MetadataResponseTopic {
    let node = BrokerId(ctx.server.node_id);
    let partitions = (0..meta.partitions)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(meta.name.clone()))))
        .with_topic_id(if version >= 10 {
            uuid::Uuid::from_bytes(meta.id)
        } else {
            uuid::Uuid::nil()
        })
        .with_partitions(partitions)
        .with_is_internal(meta.name.starts_with("__"))
        .with_topic_authorized_operations(operations)
}

fn topic_error(name: Option<TopicName>, id: uuid::Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(code)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

/// Handles a Metadata request.
pub async fn handle(ctx: &Ctx, version: i16, req: MetadataRequest) -> MetadataResponse {
    // v0 asks for every topic with an empty list; later versions with null.
    let requested = match req.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let allow_create = version < 4 || req.allow_auto_topic_creation;
    let operations = if version >= 8 && req.include_topic_authorized_operations {
        TOPIC_OPERATIONS_ALL
    } else {
        OPERATIONS_OMITTED
    };
    let topics = match requested {
        None => ctx
            .shard
            .catalog()
            .topics
            .values()
            .map(|m| topic_response(ctx, m, version, operations))
            .collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for t in list {
                // A topic id, when given, names the topic; the name may then be empty.
                let by_id = !t.topic_id.is_nil();
                match t.name.filter(|_| !by_id) {
                    Some(name) => match topics::get_or_create(ctx, &name.0, allow_create).await {
                        Ok(meta) => out.push(topic_response(ctx, &meta, version, operations)),
                        Err(code) => out.push(topic_error(Some(name), t.topic_id, code)),
                    },
                    None => match ctx.shard.catalog().topic_by_id(t.topic_id.as_bytes()) {
                        Some(meta) => out.push(topic_response(ctx, meta, version, operations)),
                        None => out.push(topic_error(None, t.topic_id, codes::UNKNOWN_TOPIC_ID)),
                    },
                }
            }
            out
        }
    };
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(ctx.server.node_id))
        .with_host(StrBytes::from_string(ctx.server.advertised_host.clone()))
        .with_port(ctx.server.advertised_port);
    let cluster_id = (version >= 2).then(|| StrBytes::from_string(ctx.server.cluster_id.clone()));
    let controller = if version >= 1 { ctx.server.node_id } else { -1 };
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(cluster_id)
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
        .with_cluster_authorized_operations(
            if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
                CLUSTER_OPERATIONS_ALL
            } else {
                OPERATIONS_OMITTED
            },
        )
}
