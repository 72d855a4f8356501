//! DescribeGroups (key 15): state, protocol and members of each group.

use crate::group::coordinator::on_coordinator;
use crate::group::state::GroupState;
use crate::server::Ctx;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeGroups;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// What is reported of one member.
type MemberView = (
    String,
    Option<String>,
    String,
    String,
    bytes::Bytes,
    bytes::Bytes,
);

/// Handles DescribeGroups.
pub async fn handle(ctx: &Ctx, version: i16, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(req.groups.len());
    // Refused groups come first, as Kafka answers them before asking the coordinator.
    let mut refused = Vec::new();
    for id in req.groups {
        let g = id.0.to_string();
        let operations = ctx.authorized_operations(
            version >= 3 && req.include_authorized_operations,
            resource_type::GROUP,
            &g,
        );
        if !ctx.authorized(resource_type::GROUP, &g, operation::DESCRIBE) {
            refused.push(
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(crate::codes::GROUP_AUTHORIZATION_FAILED)
                    .with_authorized_operations(i32::MIN),
            );
            continue;
        }
        let view = on_coordinator(
            &ctx.shard,
            &g.clone(),
            move |coordinator, _log| async move {
                let groups = coordinator.groups.borrow();
                let Some(grp) = groups.get(&g) else {
                    let state = if coordinator.offsets.borrow().contains_key(&g) {
                        GroupState::Empty
                    } else {
                        GroupState::Dead
                    };
                    return Ok((state.name(), String::new(), String::new(), Vec::new()));
                };
                let protocol = grp.protocol.clone();
                let members: Vec<MemberView> = grp
                    .members
                    .iter()
                    .map(|(mid, m)| {
                        (
                            mid.clone(),
                            m.instance_id.clone(),
                            m.client_id.clone(),
                            m.client_host.clone(),
                            m.metadata(protocol.as_deref()),
                            m.assignment.clone(),
                        )
                    })
                    .collect();
                Ok((
                    grp.state.name(),
                    grp.protocol_type.clone().unwrap_or_default(),
                    protocol.unwrap_or_default(),
                    members,
                ))
            },
        )
        .await;
        let base = DescribedGroup::default()
            .with_group_id(id)
            .with_authorized_operations(operations);
        match view {
            Ok((state, protocol_type, protocol, members)) => {
                let members = members
                    .into_iter()
                    .map(|(mid, instance, client, host, metadata, assignment)| {
                        DescribedGroupMember::default()
                            .with_member_id(StrBytes::from_string(mid))
                            .with_group_instance_id(if version >= 4 {
                                instance.map(StrBytes::from_string)
                            } else {
                                None
                            })
                            .with_client_id(StrBytes::from_string(client))
                            .with_client_host(StrBytes::from_string(host))
                            .with_member_metadata(metadata)
                            .with_member_assignment(assignment)
                    })
                    .collect();
                groups.push(
                    base.with_group_state(StrBytes::from_static_str(state))
                        .with_protocol_type(StrBytes::from_string(protocol_type))
                        .with_protocol_data(StrBytes::from_string(protocol))
                        .with_members(members),
                );
            }
            Err(code) => groups.push(base.with_error_code(code)),
        }
    }
    refused.extend(groups);
    DescribeGroupsResponse::default().with_groups(refused)
}
