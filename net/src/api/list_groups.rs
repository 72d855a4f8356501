//! ListGroups (key 16): every group every shard coordinates, optionally filtered by state
//! (v4) and by group type (v5, KIP-848).
//!
//! Every group Myelin coordinates is a classic group (JoinGroup/SyncGroup, or offsets
//! committed outside any membership, which Kafka also keeps as an empty classic group), so
//! v5 answers `group_type` "classic" for each, and a type filter keeps them all or none.

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
/// Versions implemented (v4 adds the state filter, v5 the type filter and `group_type`).
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// The type of every group here, as Kafka names it (`GroupType.CLASSIC`).
const CLASSIC: &str = "classic";

/// Whether a v5 type filter keeps classic groups: an empty filter keeps every type; names
/// are compared case-insensitively (untrimmed, unlike states) and names Kafka does not know
/// match nothing, as in Kafka's `GroupType.parse`.
fn keeps_classic(types_filter: &[StrBytes]) -> bool {
    types_filter.is_empty() || types_filter.iter().any(|t| t.eq_ignore_ascii_case(CLASSIC))
}

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
    let filter: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.trim().to_lowercase())
        .collect();
    let types_kept = version < 5 || keeps_classic(&req.types_filter);
    // DESCRIBE on the cluster lists every group; otherwise those the principal may describe.
    let every = ctx.cluster_authorized(operation::DESCRIBE);
    let groups = all
        .into_iter()
        .flatten()
        .filter(|_| types_kept)
        .filter(|(_, _, state)| filter.is_empty() || filter.contains(&state.to_lowercase()))
        .filter(|(id, _, _)| every || ctx.authorized(resource_type::GROUP, id, operation::DESCRIBE))
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            let g = if version >= 4 {
                g.with_group_state(StrBytes::from_static_str(state))
            } else {
                g
            };
            if version >= 5 {
                g.with_group_type(StrBytes::from_static_str(CLASSIC))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filter_matches_classic_only() {
        let f = |names: &[&'static str]| {
            keeps_classic(
                &names
                    .iter()
                    .map(|n| StrBytes::from_static_str(n))
                    .collect::<Vec<_>>(),
            )
        };
        assert!(f(&[]));
        assert!(f(&["classic"]));
        assert!(f(&["Classic"]));
        assert!(!f(&[" classic"]));
        assert!(f(&["consumer", "CLASSIC"]));
        assert!(!f(&["consumer"]));
        assert!(!f(&["share", "streams"]));
        assert!(!f(&["bogus"]));
    }
}
