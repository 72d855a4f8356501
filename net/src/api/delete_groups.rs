//! DeleteGroups (key 42): removes groups without members, with their committed offsets.

use crate::codes;
use crate::group::coordinator::on_coordinator;
use crate::group::store::{self, OffsetKey};
use crate::server::Ctx;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DeleteGroups;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Handles DeleteGroups.
pub async fn handle(ctx: &Ctx, _version: i16, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let g = id.0.to_string();
        if !ctx.authorized(resource_type::GROUP, &g, operation::DELETE) {
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(codes::GROUP_AUTHORIZATION_FAILED),
            );
            continue;
        }
        let code = on_coordinator(&ctx.shard, &g.clone(), move |coordinator, log| async move {
            let has_members = coordinator
                .groups
                .borrow()
                .get(&g)
                .is_some_and(|grp| !grp.members.is_empty());
            if has_members {
                return Err(codes::NON_EMPTY_GROUP);
            }
            let known = coordinator.groups.borrow().contains_key(&g)
                || coordinator.offsets.borrow().contains_key(&g);
            if !known {
                return Err(codes::GROUP_ID_NOT_FOUND);
            }
            let keys: Vec<OffsetKey> = coordinator
                .offsets
                .borrow()
                .get(&g)
                .map(|o| {
                    o.keys()
                        .map(|(t, p)| OffsetKey {
                            group: g.clone(),
                            topic: t.clone(),
                            partition: *p,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let tombstones: Vec<_> = keys.iter().map(|k| (k.clone(), None)).collect();
            store::write(&log, &tombstones, coordinator.now_ms()).await?;
            for k in keys {
                coordinator.apply(k, None);
            }
            if let Some(mut grp) = coordinator.groups.borrow_mut().remove(&g) {
                grp.kill();
            }
            Ok(())
        })
        .await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code.err().unwrap_or(codes::NONE)),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
