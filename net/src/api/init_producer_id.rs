//! InitProducerId (key 22): producer ids for idempotent producers.
//!
//! Transactional producers (a transactional id) need the transaction coordinator, which does
//! not exist yet: they get COORDINATOR_NOT_AVAILABLE.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::InitProducerId;
/// Versions implemented (v3+ may bump the epoch of an existing id, KIP-360).
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Handles InitProducerId.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |code| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        return failed(codes::COORDINATOR_NOT_AVAILABLE);
    }
    // An idempotent producer that lost its sequence state asks for the next epoch of its id.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match ctx.shard.allocate_producer_id().await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("allocating a producer id: {e}");
            failed(codes::KAFKA_STORAGE_ERROR)
        }
    }
}
