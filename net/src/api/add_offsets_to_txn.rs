//! AddOffsetsToTxn (key 25): a group's offsets will be committed by this transaction.

use crate::codes;
use crate::group::store::{partition_for, OFFSETS_TOPIC};
use crate::server::Ctx;
use crate::txn::coordinator::on_txn_coordinator;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// Handles AddOffsetsToTxn.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let txn_id = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    if !ctx.authorized(resource_type::TRANSACTIONAL_ID, &txn_id, operation::WRITE) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(codes::GROUP_AUTHORIZATION_FAILED);
    }
    let offsets_partition = (
        OFFSETS_TOPIC.to_string(),
        partition_for(&group, ctx.server.coordinator.offsets_partitions),
    );
    let id = txn_id.clone();
    let r = on_txn_coordinator(
        &ctx.shard,
        &txn_id,
        move |coordinator, log, shard| async move {
            let Some(mut meta) = coordinator.txns.borrow().get(&id).cloned() else {
                return Err(codes::INVALID_PRODUCER_ID_MAPPING);
            };
            if meta.add_group(pid, epoch, &group, offsets_partition, shard.now_ms())? {
                coordinator.save(&shard, &log, &id, meta).await?;
            }
            Ok(())
        },
    )
    .await;
    AddOffsetsToTxnResponse::default().with_error_code(r.err().unwrap_or(codes::NONE))
}
