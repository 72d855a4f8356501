//! DeleteAcls (key 31): every binding each filter matches is removed by the active
//! controller, and reported per filter. Needs CLUSTER ALTER; without an authorizer every
//! filter answers SECURITY_DISABLED, as Kafka does.

use crate::api::create_acls::message;
use crate::api::describe_acls::NO_AUTHORIZER;
use crate::codes;
use crate::security::authz::CLUSTER_NAME;
use crate::server::Ctx;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{ApiKey, DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type, AclFilter};
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DeleteAcls;
/// Versions implemented (v0 is gone from Kafka 4, KIP-896).
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

/// Handles DeleteAcls.
pub async fn handle(ctx: &Ctx, _version: i16, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let all = |code: i16, message: &str| {
        let result = DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message.to_string())));
        DeleteAclsResponse::default().with_filter_results(vec![result; req.filters.len()])
    };
    if !ctx.server.authorizer.enabled {
        return all(codes::SECURITY_DISABLED, NO_AUTHORIZER);
    }
    if !ctx.authorized(resource_type::CLUSTER, CLUSTER_NAME, operation::ALTER) {
        return all(
            codes::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        );
    }
    let filters: Vec<AclFilter> = req
        .filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_ref().map(|s| s.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.as_ref().map(|s| s.to_string()),
            host: f.host_filter.as_ref().map(|s| s.to_string()),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    if filters.is_empty() {
        return DeleteAclsResponse::default();
    }
    let request = ControllerRequest::DeleteAcls { filters };
    let results = match ctx.shard.controller(request).await {
        Ok(ControllerResponse::DeleteAcls(r)) if r.len() == req.filters.len() => r,
        Ok(other) => {
            return all(
                codes::UNKNOWN_SERVER_ERROR,
                &format!("unexpected controller answer {other:?}"),
            )
        }
        Err(e) => return all(codes::controller(&e), &e.to_string()),
    };
    let results = results
        .into_iter()
        .map(|r| match r {
            Ok(bindings) => DeleteAclsFilterResult::default().with_matching_acls(
                bindings
                    .into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type)
                            .with_resource_name(StrBytes::from_string(b.resource_name))
                            .with_pattern_type(b.pattern_type)
                            .with_principal(StrBytes::from_string(b.principal))
                            .with_host(StrBytes::from_string(b.host))
                            .with_operation(b.operation)
                            .with_permission_type(b.permission)
                    })
                    .collect(),
            ),
            Err(e) => DeleteAclsFilterResult::default()
                .with_error_code(codes::controller(&e))
                .with_error_message(Some(StrBytes::from_string(message(&e)))),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
