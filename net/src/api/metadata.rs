//! Metadata (key 3): the live brokers, and the topics asked for (all of them when the list is
//! null) with each partition's leader, epoch, replicas, ISR and offline replicas, from this
//! broker's metadata image; topics are created on demand when auto-creation is on.

use crate::codes;
use crate::security::authz::{CLUSTER_NAME, OPERATIONS_OMITTED};
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::image::{MetadataImage, TopicImage};
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::types::TopicId;
use myelin_replication::NodeId;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Metadata;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=12;

/// Topics Kafka reports as internal.
const INTERNAL_TOPICS: [&str; 2] = [
    crate::group::store::OFFSETS_TOPIC,
    crate::txn::coordinator::TXN_TOPIC,
];

/// The cluster id as clients see it (32 hex digits, as this node has always written it).
pub fn cluster_id_text(image: &MetadataImage) -> String {
    image
        .cluster_id()
        .map(|id| uuid::Uuid::from_bytes(id).simple().to_string())
        .unwrap_or_default()
}

fn topic_response(
    image: &MetadataImage,
    topic: &TopicImage,
    version: i16,
    operations: i32,
) -> MetadataResponseTopic {
    let ids = |nodes: &[NodeId]| nodes.iter().map(|n| BrokerId(n.0)).collect::<Vec<_>>();
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(p, a)| {
            let offline: Vec<NodeId> = a
                .replicas
                .iter()
                .copied()
                .filter(|r| !image.is_live(*r))
                .collect();
            let leader_live = a.leader.is_some() && image.is_live(a.leader);
            let error = if leader_live {
                codes::NONE
            } else {
                codes::LEADER_NOT_AVAILABLE
            };
            let mut out = MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p as i32)
                .with_leader_id(BrokerId(if leader_live { a.leader.0 } else { -1 }))
                .with_leader_epoch(if version >= 7 { a.leader_epoch.0 } else { -1 })
                .with_replica_nodes(ids(&a.replicas))
                .with_isr_nodes(ids(&a.isr));
            if version >= 5 {
                out = out.with_offline_replicas(ids(&offline));
            }
            out
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(if version >= 10 {
            uuid::Uuid::from_bytes(topic.id.0)
        } else {
            uuid::Uuid::nil()
        })
        .with_partitions(partitions)
        .with_is_internal(INTERNAL_TOPICS.contains(&topic.name.as_str()))
        .with_topic_authorized_operations(operations)
}

/// The brokers clients may use: the live (registered, unfenced) ones, each at the listener
/// of the name this broker serves clients on.
pub fn live_brokers(ctx: &Ctx, image: &MetadataImage) -> Vec<(i32, String, u16, Option<String>)> {
    image
        .live_brokers()
        .filter_map(|b| {
            let e = b
                .listeners
                .iter()
                .find(|e| e.name == ctx.server.listener_name)
                .or_else(|| b.listeners.first())?;
            Some((b.id.0, e.host.clone(), e.port, b.rack.clone()))
        })
        .collect()
}

/// The controller id clients are told: the active controller when it is a live broker (a
/// combined node), otherwise the lowest live broker, which forwards.
pub fn controller_id(ctx: &Ctx, image: &MetadataImage) -> i32 {
    let leader = ctx.shard.controller_leader();
    if leader.is_some() && image.is_live(leader) {
        return leader.0;
    }
    image.live_brokers().map(|b| b.id.0).min().unwrap_or(-1)
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
    let want_operations = version >= 8 && req.include_topic_authorized_operations;
    let operations =
        |name: &str| ctx.authorized_operations(want_operations, resource_type::TOPIC, name);
    let describe = |name: &str| ctx.authorized(resource_type::TOPIC, name, operation::DESCRIBE);
    let image = ctx.shard.metadata();
    let topics = match requested {
        // Every topic the principal may describe; the others are left out.
        None => image
            .topics()
            .filter(|m| describe(&m.name))
            .map(|m| topic_response(&image, m, version, operations(&m.name)))
            .collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for t in list {
                // A topic id, when given, names the topic; the name may then be empty.
                let by_id = !t.topic_id.is_nil();
                match t.name.filter(|_| !by_id) {
                    Some(name) if !describe(&name.0) => out.push(topic_error(
                        Some(name),
                        t.topic_id,
                        codes::TOPIC_AUTHORIZATION_FAILED,
                    )),
                    Some(name) => {
                        // Creating a missing topic needs CREATE on the cluster or the topic.
                        let creates = allow_create
                            && ctx.shard.node.auto_create_topics
                            && image.topic(&name.0).is_none();
                        if creates
                            && !ctx.authorized(
                                resource_type::CLUSTER,
                                CLUSTER_NAME,
                                operation::CREATE,
                            )
                            && !ctx.authorized(resource_type::TOPIC, &name.0, operation::CREATE)
                        {
                            out.push(topic_error(
                                Some(name),
                                t.topic_id,
                                codes::TOPIC_AUTHORIZATION_FAILED,
                            ));
                            continue;
                        }
                        match topics::get_or_create(&ctx.shard, &name.0, allow_create).await {
                            Ok(meta) => {
                                let image = ctx.shard.metadata();
                                let ops = operations(&meta.name);
                                out.push(topic_response(&image, &meta, version, ops))
                            }
                            Err(code) => out.push(topic_error(Some(name), t.topic_id, code)),
                        }
                    }
                    None => match image.topic_by_id(TopicId(*t.topic_id.as_bytes())) {
                        Some(meta) if !describe(&meta.name) => out.push(topic_error(
                            None,
                            t.topic_id,
                            codes::TOPIC_AUTHORIZATION_FAILED,
                        )),
                        Some(meta) => {
                            let ops = operations(&meta.name);
                            out.push(topic_response(&image, meta, version, ops))
                        }
                        None => out.push(topic_error(None, t.topic_id, codes::UNKNOWN_TOPIC_ID)),
                    },
                }
            }
            out
        }
    };
    let image = ctx.shard.metadata();
    let brokers = live_brokers(ctx, &image)
        .into_iter()
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
                .with_rack(if version >= 1 {
                    rack.map(StrBytes::from_string)
                } else {
                    None
                })
        })
        .collect();
    let cluster_id = (version >= 2).then(|| StrBytes::from_string(cluster_id_text(&image)));
    let controller = if version >= 1 {
        controller_id(ctx, &image)
    } else {
        -1
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(cluster_id)
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
        .with_cluster_authorized_operations(ctx.authorized_operations(
            (8..=10).contains(&version) && req.include_cluster_authorized_operations,
            resource_type::CLUSTER,
            CLUSTER_NAME,
        ))
}
