//! ListGroups (key 16): every group every shard coordinates, optionally filtered by state.

use crate::group::coordinator::on_every_coordinator;
use crate::group::state::GroupState;
use crate::server::Ctx;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ListGroups;
/// Versions implemented (v4 adds the state filter).
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Handles ListGroups.
pub async fn handle(ctx: &Ctx, version: i16, req: ListGroupsRequest) -> ListGroupsResponse {
    let all = on_every_coordinator(&ctx.shard, |c| {
        let mut out: Vec<(String, String, &'static str)> = c
            .groups
            .borrow()
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                )
            })
            .collect();
        // Groups known only by committed offsets are listed as Empty with no protocol type,
        // as Kafka does.
        for id in c.offsets.borrow().keys() {
            if !c.groups.borrow().contains_key(id) {
                out.push((id.clone(), String::new(), GroupState::Empty.name()));
            }
        }
        out
    })
    .await;
    let filter: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    // DESCRIBE on the cluster lists every group; otherwise those the principal may describe.
    let every = ctx.cluster_authorized(operation::DESCRIBE);
    let groups = all
        .into_iter()
        .flatten()
        .filter(|(_, _, state)| filter.is_empty() || filter.contains(&state.to_lowercase()))
        .filter(|(id, _, _)| every || ctx.authorized(resource_type::GROUP, id, operation::DESCRIBE))
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            if version >= 4 {
                g.with_group_state(StrBytes::from_static_str(state))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
