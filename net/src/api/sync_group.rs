//! SyncGroup (key 14): the leader hands out assignments; every member receives its own.

use crate::group::coordinator::on_coordinator;
use crate::group::state::{Disposition, SyncOutcome};
use crate::server::Ctx;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::SyncGroup;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Handles SyncGroup.
pub async fn handle(ctx: &Ctx, version: i16, req: SyncGroupRequest) -> SyncGroupResponse {
    let group = req.group_id.0.to_string();
    if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        return SyncGroupResponse::default()
            .with_error_code(crate::codes::GROUP_AUTHORIZATION_FAILED);
    }
    let member = req.member_id.to_string();
    let instance = req.group_instance_id.map(|i| i.to_string());
    let generation = req.generation_id;
    let assignments: Vec<(String, bytes::Bytes)> = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let g = group.clone();
    let result = on_coordinator(&ctx.shard, &group, move |coordinator, _log| async move {
        let now = coordinator.now_ms();
        let (disposition, replies) = coordinator
            .with_group(&g, false, |grp| {
                grp.sync(&member, instance.as_deref(), generation, assignments, now)
            })
            .map_err(|_| crate::codes::UNKNOWN_MEMBER_ID)?;
        let waiting = match disposition {
            Disposition::Now(out) => {
                coordinator.deliver(&g, replies);
                return Ok(out);
            }
            Disposition::Wait(member) => coordinator.park_sync(&g, &member),
        };
        coordinator.deliver(&g, replies);
        waiting
            .await
            .map_err(|_| crate::codes::REBALANCE_IN_PROGRESS)
    })
    .await;
    let out = result.unwrap_or_else(|error| SyncOutcome {
        error,
        ..SyncOutcome::default()
    });
    let mut r = SyncGroupResponse::default()
        .with_error_code(out.error)
        .with_assignment(out.assignment);
    if version >= 5 {
        r = r
            .with_protocol_type(out.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(out.protocol_name.map(StrBytes::from_string));
    }
    r
}
