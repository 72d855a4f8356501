//! InitProducerId (key 22): producer ids for idempotent producers, and for transactional
//! ones the id bound to their transactional id with a bumped epoch (which fences older
//! instances and aborts a transaction they left open).

use crate::codes;
use crate::server::Ctx;
use crate::txn::coordinator::{on_txn_coordinator, TXN_TIMEOUT_MS_MAX};
use crate::txn::state::TxnMeta;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::InitProducerId;
/// Versions implemented (v3+ may bump the epoch of an existing id, KIP-360).
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// `INVALID_TRANSACTION_TIMEOUT`.
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;

fn ok(id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

/// Handles InitProducerId.
pub async fn handle(ctx: &Ctx, version: i16, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let failed = |code| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let Some(txn_id) = req
        .transactional_id
        .as_ref()
        .map(|t| t.0.to_string())
        .filter(|t| !t.is_empty())
    else {
        // An idempotent producer needs IDEMPOTENT_WRITE on the cluster, or WRITE on some
        // topic (Kafka's rule since 2.8).
        if !ctx.cluster_authorized(operation::IDEMPOTENT_WRITE)
            && !ctx.authorized_any(resource_type::TOPIC, operation::WRITE)
        {
            return failed(codes::CLUSTER_AUTHORIZATION_FAILED);
        }
        // An idempotent producer that lost its sequence state asks for the next epoch.
        if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
            return ok(req.producer_id.0, req.producer_epoch + 1);
        }
        return match ctx.shard.allocate_producer_id().await {
            Ok(id) => ok(id, 0),
            Err(e) => {
                tracing::error!("allocating a producer id: {e}");
                failed(codes::KAFKA_STORAGE_ERROR)
            }
        };
    };
    if !ctx.authorized(resource_type::TRANSACTIONAL_ID, &txn_id, operation::WRITE) {
        return failed(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    let timeout = req.transaction_timeout_ms;
    if timeout <= 0 || timeout > TXN_TIMEOUT_MS_MAX {
        return failed(INVALID_TRANSACTION_TIMEOUT);
    }
    // KIP-360: a producer that names its current id and epoch asks for a bump; a stale pair
    // belongs to a fenced instance.
    let claimed = (req.producer_id.0 >= 0 && req.producer_epoch >= 0)
        .then_some((req.producer_id.0, req.producer_epoch));
    let fenced = if version >= 4 {
        codes::PRODUCER_FENCED
    } else {
        codes::INVALID_PRODUCER_EPOCH
    };
    let id = txn_id.clone();
    let result = on_txn_coordinator(
        &ctx.shard,
        &txn_id,
        move |coordinator, log, shard| async move {
            let current = coordinator.txns.borrow().get(&id).cloned();
            match (claimed, current.as_ref()) {
                (Some((pid, _)), Some(meta)) if pid != meta.producer_id => {
                    return Err(codes::INVALID_PRODUCER_ID_MAPPING)
                }
                (Some((_, epoch)), Some(meta)) if epoch != meta.epoch => return Err(fenced),
                (Some(_), None) => return Err(codes::INVALID_PRODUCER_ID_MAPPING),
                _ => {}
            }
            loop {
                let current = coordinator.txns.borrow().get(&id).cloned();
                let Some(mut meta) = current else {
                    let pid = shard
                        .allocate_producer_id()
                        .await
                        .map_err(|_| codes::KAFKA_STORAGE_ERROR)?;
                    let meta = TxnMeta::new(pid, timeout);
                    coordinator.save(&shard, &log, &id, meta).await?;
                    return Ok((pid, 0));
                };
                match meta.init(timeout)? {
                    (true, _) => {
                        // Abort what the previous instance left open, then try again.
                        coordinator.save(&shard, &log, &id, meta).await?;
                        coordinator.finish(&shard, &log, &id).await?;
                    }
                    (false, Some(epoch)) => {
                        let pid = meta.producer_id;
                        coordinator.save(&shard, &log, &id, meta).await?;
                        return Ok((pid, epoch));
                    }
                    (false, None) => {
                        // Epochs exhausted: a new producer id.
                        let pid = shard
                            .allocate_producer_id()
                            .await
                            .map_err(|_| codes::KAFKA_STORAGE_ERROR)?;
                        coordinator
                            .save(&shard, &log, &id, TxnMeta::new(pid, timeout))
                            .await?;
                        return Ok((pid, 0));
                    }
                }
            }
        },
    )
    .await;
    match result {
        Ok((pid, epoch)) => ok(pid, epoch),
        Err(code) => failed(code),
    }
}
