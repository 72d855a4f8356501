//! LeaveGroup (key 13): members leave (one by member id before v3, a batch after).

use crate::codes;
use crate::group::coordinator::on_coordinator;
use crate::server::Ctx;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::LeaveGroup;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// Handles LeaveGroup.
pub async fn handle(ctx: &Ctx, version: i16, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let group = req.group_id.0.to_string();
    if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        return LeaveGroupResponse::default().with_error_code(codes::GROUP_AUTHORIZATION_FAILED);
    }
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let asked = leaving.clone();
    let g = group.clone();
    let result = on_coordinator(&ctx.shard, &group, move |coordinator, _log| async move {
        let now = coordinator.now_ms();
        let (codes_out, replies) = coordinator
            .with_group(&g, false, |grp| grp.leave(&leaving, now))
            .map_err(|_| codes::UNKNOWN_MEMBER_ID)?;
        coordinator.deliver(&g, replies);
        Ok(codes_out)
    })
    .await;
    let per_member = match result {
        Ok(c) => c,
        Err(e) => {
            return LeaveGroupResponse::default().with_error_code(e);
        }
    };
    if version < 3 {
        return LeaveGroupResponse::default()
            .with_error_code(per_member.first().copied().unwrap_or(codes::NONE));
    }
    let members = asked
        .into_iter()
        .zip(per_member)
        .map(|((id, instance), code)| {
            MemberResponse::default()
                .with_member_id(StrBytes::from_string(id))
                .with_group_instance_id(instance.map(StrBytes::from_string))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
