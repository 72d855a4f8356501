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
    if let Err((code, message)) = may_change_acls(ctx) {
        return all(code, message);
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
    let request = ControllerRequest::CreateAcls { acls };
    let answer = crate::api::controller::results(ctx, request, req.creations.len(), |r| match r {
        ControllerResponse::CreateAcls(r) => Ok(r),
        other => Err(other),
    });
    let results = match answer.await {
        Ok(results) => results,
        Err((code, message)) => return all(code, &message),
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

/// Whether this connection may change ACLs: an authorizer is on and the principal has CLUSTER
/// ALTER. Otherwise the error code and message every item of the request gets.
pub(crate) fn may_change_acls(ctx: &Ctx) -> Result<(), (i16, &'static str)> {
    if !ctx.server.authorizer.enabled {
        return Err((codes::SECURITY_DISABLED, NO_AUTHORIZER));
    }
    if !ctx.authorized(resource_type::CLUSTER, CLUSTER_NAME, operation::ALTER) {
        return Err((
            codes::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        ));
    }
    Ok(())
}

/// The text of a controller refusal, without our own prefix where Kafka has none.
pub(crate) fn message(e: &ControllerError) -> String {
    match e {
        ControllerError::InvalidRequest(m) => m.clone(),
        other => other.to_string(),
    }
}
