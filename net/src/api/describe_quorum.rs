//! DescribeQuorum (key 55): the metadata quorum as its leader sees it: leader, epoch (term),
//! high watermark (commit index), and each voter's log end and last contact. Any broker
//! answers, asking the active controller, which alone knows every voter's progress.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::operation;
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeQuorum;
/// Versions implemented (v1 adds timestamps, v2 directory ids, error messages and nodes).
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// The name Kafka gives the metadata log; DescribeQuorum asks for its partition 0.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Handles DescribeQuorum.
pub async fn handle(ctx: &Ctx, version: i16, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    if !ctx.cluster_authorized(operation::DESCRIBE) {
        return DescribeQuorumResponse::default()
            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let asks_metadata_log = req.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    });
    if !asks_metadata_log {
        return DescribeQuorumResponse::default().with_error_code(codes::INVALID_REQUEST);
    }
    let view = match ctx
        .shard
        .controller(ControllerRequest::DescribeQuorum)
        .await
    {
        Ok(ControllerResponse::Quorum(v)) => v,
        Ok(_) => {
            return DescribeQuorumResponse::default().with_error_code(codes::UNKNOWN_SERVER_ERROR)
        }
        Err(e) => {
            return DescribeQuorumResponse::default()
                .with_error_code(codes::controller(&e))
                .with_error_message((version >= 2).then(|| StrBytes::from_string(e.to_string())))
        }
    };
    let now = ctx.shard.now_ms();
    let voters = view
        .voters
        .iter()
        .map(|(node, log_end, contact)| {
            let leader = *node == view.leader;
            // The leader is in contact with itself now; a voter the leader never heard from
            // reports -1, as Kafka does.
            let fetched = if leader {
                now
            } else {
                contact.map_or(-1, |c| i64::try_from(c).unwrap_or(-1))
            };
            let caught_up = if leader || *log_end >= view.high_watermark {
                fetched
            } else {
                -1
            };
            ReplicaState::default()
                .with_replica_id(BrokerId(node.0))
                .with_log_end_offset(i64::try_from(*log_end).unwrap_or(-1))
                .with_last_fetch_timestamp(fetched)
                .with_last_caught_up_timestamp(caught_up)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(view.leader.0))
        .with_leader_epoch(i32::try_from(view.term).unwrap_or(i32::MAX))
        .with_high_watermark(i64::try_from(view.high_watermark).unwrap_or(-1))
        .with_current_voters(voters);
    let nodes = if version >= 2 {
        ctx.shard
            .node
            .cluster
            .voters
            .iter()
            .map(|v| {
                Node::default()
                    .with_node_id(BrokerId(v.id))
                    .with_listeners(vec![Listener::default()
                        .with_name(StrBytes::from_static_str("CONTROLLER"))
                        .with_host(StrBytes::from_string(v.host.clone()))
                        .with_port(v.port)])
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![partition])])
        .with_nodes(nodes)
}
