//! CreateAcls (key 30): bindings added to cluster metadata by the active controller, each
//! checked on its own. Needs CLUSTER ALTER; without an authorizer every creation answers
//! SECURITY_DISABLED, as Kafka does.

use crate::api::describe_acls::NO_AUTHORIZER;
use crate::codes;
use crate::security::authz::CLUSTER_NAME;
use crate::server::Ctx;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type, AclBinding};
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::CreateAcls;
/// Versions implemented (v0 is gone from Kafka 4, KIP-896).
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

/// Handles CreateAcls.
pub async fn handle(ctx: &Ctx, _version: i16, req: CreateAclsRequest) -> CreateAclsResponse {
    let all = |code: i16, message: &str| {
        let result = AclCreationResult::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message.to_string())));
        CreateAclsResponse::default().with_results(vec![result; req.creations.len()])
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
    let acls: Vec<AclBinding> = req
        .creations
        .iter()
        .map(|c| AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        })
        .collect();
    if acls.is_empty() {
        return CreateAclsResponse::default();
    }
    let results = match ctx
        .shard
        .controller(ControllerRequest::CreateAcls { acls })
        .await
    {
        Ok(ControllerResponse::CreateAcls(r)) if r.len() == req.creations.len() => r,
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
            Ok(()) => AclCreationResult::default(),
            Err(e) => AclCreationResult::default()
                .with_error_code(codes::controller(&e))
                .with_error_message(Some(StrBytes::from_string(message(&e)))),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// The text of a controller refusal, without our own prefix where Kafka has none.
pub(crate) fn message(e: &ControllerError) -> String {
    match e {
        ControllerError::InvalidRequest(m) => m.clone(),
        other => other.to_string(),
    }
}
