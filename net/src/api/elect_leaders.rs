//! ElectLeaders (key 43): preferred-replica and unclean leader elections, decided by the
//! controller (`kafka-leader-election.sh`, `Admin.electLeaders`). With no partitions named,
//! every partition is considered and only those an election changed, or could not, are
//! answered, as Kafka does.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::operation;
use myelin_replication::controller::{ControllerRequest, ControllerResponse, ElectionType};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ElectLeaders;
/// Versions implemented (v1 adds the election type and a top-level error, v2 is flexible).
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Partitions one request may name.
const PARTITIONS_MAX: usize = 100_000;

/// Handles ElectLeaders.
pub async fn handle(ctx: &Ctx, version: i16, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if !ctx.cluster_authorized(operation::ALTER) {
        return ElectLeadersResponse::default()
            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let election = match (version, req.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        _ => return ElectLeadersResponse::default().with_error_code(codes::INVALID_REQUEST),
    };
    let partitions: Option<Vec<(String, i32)>> = req.topic_partitions.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
            .collect()
    });
    if partitions
        .as_ref()
        .is_some_and(|p| p.len() > PARTITIONS_MAX)
    {
        return ElectLeadersResponse::default().with_error_code(codes::INVALID_REQUEST);
    }
    let answer = ctx
        .shard
        .controller(ControllerRequest::ElectLeaders {
            election,
            partitions: partitions.clone(),
        })
        .await;
    let outcomes: Vec<(String, i32, i16, Option<String>)> = match answer {
        Ok(ControllerResponse::ElectLeaders(results)) => results
            .into_iter()
            .map(|(topic, partition, r)| match r {
                Ok(()) => (topic, partition, codes::NONE, None),
                Err(e) => (topic, partition, codes::controller(&e), Some(e.to_string())),
            })
            .collect(),
        other => {
            let (code, text) = match other {
                Err(e) => (codes::controller(&e), e.to_string()),
                Ok(_) => (codes::UNKNOWN_SERVER_ERROR, "unexpected answer".to_string()),
            };
            match partitions {
                // Nothing named: the failure is the whole request's.
                None => return ElectLeadersResponse::default().with_error_code(code),
                Some(named) => named
                    .into_iter()
                    .map(|(t, p)| (t, p, code, Some(text.clone())))
                    .collect(),
            }
        }
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for (topic, partition, code, text) in outcomes {
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message(text.map(StrBytes::from_string)),
        );
    }
    let results = by_topic
        .into_iter()
        .map(|(topic, partition_result)| {
            ReplicaElectionResult::default()
                .with_topic(TopicName(StrBytes::from_string(topic)))
                .with_partition_result(partition_result)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
