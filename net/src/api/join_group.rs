//! JoinGroup (key 11): joins (or rejoins) a group; the answer comes when the rebalance
//! completes.

use crate::group::coordinator::on_coordinator;
use crate::group::state::{Disposition, JoinOutcome, JoinRequest};
use crate::server::Ctx;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::JoinGroup;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=9;

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

fn response(out: JoinOutcome, version: i16) -> JoinGroupResponse {
    let members = out
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_group_instance_id(if version >= 5 { instance.map(s) } else { None })
                .with_metadata(metadata)
        })
        .collect();
    let mut r = JoinGroupResponse::default()
        .with_error_code(out.error)
        .with_generation_id(out.generation)
        .with_leader(s(out.leader))
        .with_member_id(s(out.member_id))
        .with_members(members);
    if version >= 7 {
        r = r.with_protocol_type(out.protocol_type.map(s));
    }
    if version >= 9 {
        r = r.with_skip_assignment(out.skip_assignment);
    }
    r.with_protocol_name(out.protocol_name.map(s))
}

/// Handles JoinGroup. `client_id` comes from the request header.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: JoinGroupRequest,
    client_id: String,
) -> JoinGroupResponse {
    let group = req.group_id.0.to_string();
    if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        return JoinGroupResponse::default()
            .with_error_code(crate::codes::GROUP_AUTHORIZATION_FAILED)
            .with_generation_id(-1);
    }
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|i| i.to_string()),
        client_id,
        client_host: ctx.peer.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = join.member_id.clone();
    let g = group.clone();
    let result = on_coordinator(&ctx.shard, &group, move |coordinator, _log| async move {
        let config = coordinator.config().group;
        let now = coordinator.now_ms();
        let (disposition, replies) =
            coordinator.with_group(&g, true, |grp| grp.join(join, now, &config))?;
        let waiting = match disposition {
            Disposition::Now(out) => {
                coordinator.deliver(&g, replies);
                return Ok(out);
            }
            Disposition::Wait(member) => coordinator.park_join(&g, &member),
        };
        coordinator.deliver(&g, replies);
        waiting
            .await
            .map_err(|_| crate::codes::REBALANCE_IN_PROGRESS)
    })
    .await;
    let out = result.unwrap_or_else(|error| JoinOutcome {
        error,
        generation: -1,
        member_id,
        ..JoinOutcome::default()
    });
    response(out, version)
}
