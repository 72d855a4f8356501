//! FindCoordinator (key 10): the broker leading the key's partition of
//! `__consumer_offsets` (groups) or `__transaction_state` (transactional ids), whose shard
//! there runs the coordinator. The internal topic is created on first use, as Kafka does.

use crate::codes;
use crate::group::store::{partition_for, OFFSETS_TOPIC};
use crate::server::Ctx;
use crate::topics;
use crate::txn::coordinator::TXN_TOPIC;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::FindCoordinator;
/// Versions implemented (v4+ look up several keys at once).
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Key types: 0 group, 1 transaction.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where a key's coordinator is: (node id, host, port), or the error to answer.
async fn locate(ctx: &Ctx, key_type: i8, key: &str) -> Result<(i32, String, i32), i16> {
    let config = ctx.server.coordinator;
    // Finding a coordinator needs DESCRIBE on the group or the transactional id.
    match key_type {
        KEY_TYPE_GROUP if !ctx.authorized(resource_type::GROUP, key, operation::DESCRIBE) => {
            return Err(codes::GROUP_AUTHORIZATION_FAILED)
        }
        KEY_TYPE_TRANSACTION
            if !ctx.authorized(resource_type::TRANSACTIONAL_ID, key, operation::DESCRIBE) =>
        {
            return Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        }
        _ => {}
    }
    let (topic, partitions, rf, min_isr) = match key_type {
        KEY_TYPE_GROUP => (
            OFFSETS_TOPIC,
            config.offsets_partitions,
            ctx.server.offsets_replication_factor,
            None,
        ),
        KEY_TYPE_TRANSACTION => (
            TXN_TOPIC,
            config.txn_partitions,
            ctx.server.transaction_state_replication_factor,
            Some(ctx.server.transaction_state_min_isr),
        ),
        _ => return Err(codes::INVALID_REQUEST),
    };
    topics::ensure_internal(&ctx.shard, topic, partitions, rf, min_isr).await?;
    let image = ctx.shard.metadata();
    let t = image.topic(topic).ok_or(codes::COORDINATOR_NOT_AVAILABLE)?;
    let index = partition_for(key, t.partitions.len() as i32);
    let leader = t
        .partitions
        .get(index as usize)
        .map(|p| p.leader)
        .filter(|l| image.is_live(*l))
        .ok_or(codes::COORDINATOR_NOT_AVAILABLE)?;
    crate::api::metadata::live_brokers(ctx, &image)
        .into_iter()
        .find(|(id, ..)| *id == leader.0)
        .map(|(id, host, port, _)| (id, host, i32::from(port)))
        .ok_or(codes::COORDINATOR_NOT_AVAILABLE)
}

/// Handles FindCoordinator.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let mut coordinators = Vec::with_capacity(req.coordinator_keys.len());
        for key in req.coordinator_keys {
            let c = Coordinator::default().with_key(key.clone());
            coordinators.push(match locate(ctx, req.key_type, &key).await {
                Ok((id, host, port)) => c
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port),
                Err(code) => c
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(ctx, req.key_type, &req.key).await {
        Ok((id, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(id))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}
