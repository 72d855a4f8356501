//! DescribeAcls (key 29): the ACLs of the metadata image that a filter selects, grouped by
//! resource pattern. Needs CLUSTER DESCRIBE; without an authorizer it answers
//! SECURITY_DISABLED, as Kafka does.

use crate::codes;
use crate::security::authz::CLUSTER_NAME;
use crate::server::Ctx;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{ApiKey, DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type, AclFilter};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeAcls;
/// Versions implemented (v0 is gone from Kafka 4, KIP-896).
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

/// Kafka's message when no authorizer is configured.
pub(crate) const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// Handles DescribeAcls.
pub async fn handle(ctx: &Ctx, _version: i16, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let error = |code: i16, message: &str| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message.to_string())))
    };
    if !ctx.server.authorizer.enabled {
        return error(codes::SECURITY_DISABLED, NO_AUTHORIZER);
    }
    if !ctx.authorized(resource_type::CLUSTER, CLUSTER_NAME, operation::DESCRIBE) {
        return error(
            codes::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        );
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|s| s.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|s| s.to_string()),
        host: req.host_filter.map(|s| s.to_string()),
        operation: req.operation,
        permission: req.permission_type,
    };
    if let Err(m) = filter.check() {
        return error(codes::INVALID_REQUEST, &m);
    }
    let image = ctx.shard.metadata();
    let mut by_pattern: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in image.security().acls.iter().filter(|b| filter.matches(b)) {
        by_pattern
            .entry((b.resource_type, b.resource_name.as_str(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(StrBytes::from_string(b.principal.clone()))
                    .with_host(StrBytes::from_string(b.host.clone()))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission),
            );
    }
    let resources = by_pattern
        .into_iter()
        .map(|((kind, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_pattern_type(pattern)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default()
        .with_error_code(codes::NONE)
        .with_resources(resources)
}
