//! FindCoordinator (key 10): every group and transaction coordinator is this node (each
//! request is forwarded to the shard owning the key's `__consumer_offsets` or
//! `__transaction_state` partition).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::FindCoordinator;
/// Versions implemented (v4+ look up several keys at once).
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Key types: 0 group, 1 transaction.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Handles FindCoordinator.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let node = BrokerId(ctx.server.node_id);
    let host = StrBytes::from_string(ctx.server.advertised_host.clone());
    let port = ctx.server.advertised_port;
    let error = match req.key_type {
        KEY_TYPE_GROUP => codes::NONE,
        KEY_TYPE_TRANSACTION => codes::NONE,
        _ => codes::INVALID_REQUEST,
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key).with_error_code(error);
                if error == codes::NONE {
                    c.with_node_id(node).with_host(host.clone()).with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1)).with_port(-1)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if error != codes::NONE {
        return FindCoordinatorResponse::default()
            .with_error_code(error)
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    FindCoordinatorResponse::default()
        .with_node_id(node)
        .with_host(host)
        .with_port(port)
}
