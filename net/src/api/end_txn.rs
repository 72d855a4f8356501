//! EndTxn (key 26): commit or abort; the answer comes once every marker is written.

use crate::codes;
use crate::server::Ctx;
use crate::txn::coordinator::on_txn_coordinator;
use crate::txn::state::EndAction;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::EndTxn;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// Handles EndTxn.
pub async fn handle(ctx: &Ctx, _version: i16, req: EndTxnRequest) -> EndTxnResponse {
    let txn_id = req.transactional_id.0.to_string();
    if !ctx.authorized(resource_type::TRANSACTIONAL_ID, &txn_id, operation::WRITE) {
        return EndTxnResponse::default()
            .with_error_code(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    let (pid, epoch, commit) = (req.producer_id.0, req.producer_epoch, req.committed);
    let id = txn_id.clone();
    let r = on_txn_coordinator(
        &ctx.shard,
        &txn_id,
        move |coordinator, log, shard| async move {
            let Some(mut meta) = coordinator.txns.borrow().get(&id).cloned() else {
                return Err(codes::INVALID_PRODUCER_ID_MAPPING);
            };
            match meta.end(pid, epoch, commit)? {
                EndAction::AlreadyDone => Ok(()),
                EndAction::WriteMarkers { .. } => {
                    coordinator.save(&shard, &log, &id, meta).await?;
                    coordinator.finish(&shard, &log, &id).await
                }
            }
        },
    )
    .await;
    EndTxnResponse::default().with_error_code(r.err().unwrap_or(codes::NONE))
}
