//! AlterPartitionReassignments (key 45): move partitions to new replica sets, or cancel a
//! move, through the controller (`kafka-reassign-partitions.sh --execute`,
//! `Admin.alterPartitionReassignments`). The answer comes once the move has started; it
//! completes as the new replicas catch up (ListPartitionReassignments shows what runs).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::operation;
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::NodeId;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AlterPartitionReassignments;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Partitions one request may name.
const PARTITIONS_MAX: usize = 100_000;

/// Handles AlterPartitionReassignments.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !ctx.cluster_authorized(operation::ALTER) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let reassignments: Vec<(String, i32, Option<Vec<NodeId>>)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let replicas = p
                    .replicas
                    .as_ref()
                    .map(|ids| ids.iter().map(|b| NodeId(b.0)).collect());
                (t.name.0.to_string(), p.partition_index, replicas)
            })
        })
        .collect();
    if reassignments.len() > PARTITIONS_MAX {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(codes::INVALID_REQUEST);
    }
    let asked: Vec<(String, i32)> = reassignments
        .iter()
        .map(|(t, p, _)| (t.clone(), *p))
        .collect();
    let answer = ctx
        .shard
        .controller(ControllerRequest::AlterReassignments { reassignments })
        .await;
    let outcomes: Vec<(String, i32, i16, Option<String>)> = match answer {
        Ok(ControllerResponse::AlterReassignments(results)) => results
            .into_iter()
            .map(|(t, p, r)| match r {
                Ok(()) => (t, p, codes::NONE, None),
                Err(e) => (t, p, codes::controller(&e), Some(e.to_string())),
            })
            .collect(),
        other => {
            let (code, text) = match other {
                Err(e) => (codes::controller(&e), e.to_string()),
                Ok(_) => (codes::UNKNOWN_SERVER_ERROR, "unexpected answer".to_string()),
            };
            asked
                .into_iter()
                .map(|(t, p)| (t, p, code, Some(text.clone())))
                .collect()
        }
    };
    let mut by_topic: BTreeMap<String, Vec<ReassignablePartitionResponse>> = BTreeMap::new();
    for (topic, partition, code, text) in outcomes {
        by_topic.entry(topic).or_default().push(
            ReassignablePartitionResponse::default()
                .with_partition_index(partition)
                .with_error_code(code)
                .with_error_message(text.map(StrBytes::from_string)),
        );
    }
    let responses = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            ReassignableTopicResponse::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}
