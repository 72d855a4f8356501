//! Heartbeat (key 12): keeps a member's session alive and tells it when to rejoin.

use crate::group::coordinator::on_coordinator;
use crate::server::Ctx;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Heartbeat;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Handles Heartbeat.
pub async fn handle(ctx: &Ctx, _version: i16, req: HeartbeatRequest) -> HeartbeatResponse {
    let group = req.group_id.0.to_string();
    if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        return HeartbeatResponse::default()
            .with_error_code(crate::codes::GROUP_AUTHORIZATION_FAILED);
    }
    let member = req.member_id.to_string();
    let instance = req.group_instance_id.map(|i| i.to_string());
    let generation = req.generation_id;
    let g = group.clone();
    let code = on_coordinator(&ctx.shard, &group, move |coordinator, _log| async move {
        let now = coordinator.now_ms();
        coordinator
            .with_group(&g, false, |grp| {
                grp.heartbeat(&member, instance.as_deref(), generation, now)
            })
            .map_err(|_| crate::codes::UNKNOWN_MEMBER_ID)
    })
    .await;
    HeartbeatResponse::default().with_error_code(code.unwrap_or_else(|e| e))
}
