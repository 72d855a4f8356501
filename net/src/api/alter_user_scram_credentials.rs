//! AlterUserScramCredentials (key 51): sets and removes users' SCRAM credentials in cluster
//! metadata. The client sends the salted password; the broker keeps only `StoredKey` and
//! `ServerKey` (RFC 5802), so neither the password nor the salted password is stored.

use crate::codes;
use crate::security::sasl::credential_from_salted;
use crate::server::Ctx;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, ScramCredential};
use myelin_replication::controller::request::{ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AlterUserScramCredentials;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Kafka's message for a refused change: the reason alone, without our prefix.
pub(crate) fn controller_message(e: &ControllerError) -> String {
    match e {
        ControllerError::DuplicateResource(m)
        | ControllerError::ResourceNotFound(m)
        | ControllerError::UnacceptableCredential(m)
        | ControllerError::UnsupportedSaslMechanism(m)
        | ControllerError::InvalidRequest(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A wire mechanism code as ours; anything else becomes 0, which the controller refuses.
fn mechanism(code: i8) -> u8 {
    u8::try_from(code).unwrap_or(0)
}

/// Handles AlterUserScramCredentials.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<(String, u8)> = req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), mechanism(d.mechanism)))
        .collect();
    let upsertions: Vec<(String, u8, ScramCredential)> = req
        .upsertions
        .iter()
        .map(|u| {
            let m = mechanism(u.mechanism);
            let credential = if u.salted_password.is_empty() {
                None
            } else {
                credential_from_salted(m, u.salt.to_vec(), &u.salted_password, u.iterations)
            };
            let credential = credential.unwrap_or(ScramCredential {
                salt: u.salt.to_vec(),
                iterations: u.iterations,
                stored_key: Vec::new(),
                server_key: Vec::new(),
            });
            (u.name.to_string(), m, credential)
        })
        .collect();
    let users: Vec<String> = {
        let mut seen: Vec<String> = Vec::new();
        for u in deletions
            .iter()
            .map(|(u, _)| u)
            .chain(upsertions.iter().map(|(u, _, _)| u))
        {
            if !seen.contains(u) {
                seen.push(u.clone());
            }
        }
        seen
    };
    let result = |user: &str, code: i16, message: Option<String>| {
        AlterUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(user.to_string()))
            .with_error_code(code)
            .with_error_message(message.map(StrBytes::from_string))
    };
    // Changing credentials takes ALTER on the cluster, as in Kafka.
    if !ctx.cluster_authorized(operation::ALTER) {
        let results = users
            .iter()
            .map(|u| result(u, codes::CLUSTER_AUTHORIZATION_FAILED, None))
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let request = ControllerRequest::AlterScramCredentials {
        deletions,
        upsertions,
    };
    let results = match ctx.shard.controller(request).await {
        Ok(ControllerResponse::AlterScramCredentials(per_user)) => per_user
            .iter()
            .map(|(user, r)| match r {
                Ok(()) => result(user, codes::NONE, None),
                Err(e) => result(user, codes::controller(e), Some(controller_message(e))),
            })
            .collect(),
        other => {
            let (code, message) = match other {
                Err(e) => (codes::controller(&e), e.to_string()),
                Ok(_) => (codes::UNKNOWN_SERVER_ERROR, "unexpected answer".to_string()),
            };
            users
                .iter()
                .map(|u| result(u, code, Some(message.clone())))
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
