//! DeleteAcls (key 31): every binding each filter matches is removed by the active
//! controller, and reported per filter. Needs CLUSTER ALTER; without an authorizer every
//! filter answers SECURITY_DISABLED, as Kafka does.

use crate::api::create_acls::{may_change_acls, message};
use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{ApiKey, DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::AclFilter;
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
    if let Err((code, message)) = may_change_acls(ctx) {
        return all(code, message);
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
    let answer = crate::api::controller::results(ctx, request, req.filters.len(), |r| match r {
        ControllerResponse::DeleteAcls(r) => Ok(r),
        other => Err(other),
    });
    let results = match answer.await {
        Ok(results) => results,
        Err((code, message)) => return all(code, &message),
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
