//! DescribeUserScramCredentials (key 50): which SCRAM mechanisms each user has credentials
//! for, and their iterations; never the credentials themselves.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    ApiKey, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::operation;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Handles DescribeUserScramCredentials: no users (null or empty) describes every user.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Reading which users have credentials takes DESCRIBE on the cluster, as in Kafka.
    if !ctx.cluster_authorized(operation::DESCRIBE) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let image = ctx.shard.metadata();
    let scram = &image.security().scram;
    let named: Vec<String> = req
        .users
        .unwrap_or_default()
        .iter()
        .map(|u| u.name.to_string())
        .collect();
    let wanted: Vec<String> = if named.is_empty() {
        scram.keys().cloned().collect()
    } else {
        named.clone()
    };
    let mut results = Vec::new();
    let mut done: Vec<&String> = Vec::new();
    for user in &wanted {
        if done.contains(&user) {
            continue;
        }
        done.push(user);
        let base = DescribeUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(user.clone()));
        let result = if named.iter().filter(|n| *n == user).count() > 1 {
            base.with_error_code(codes::DUPLICATE_RESOURCE)
                .with_error_message(Some(StrBytes::from_string(format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single \
                     request: {user}"
                ))))
        } else {
            match scram.get(user) {
                Some(creds) => base.with_credential_infos(
                    creds
                        .iter()
                        .map(|(m, c)| {
                            CredentialInfo::default()
                                .with_mechanism(*m as i8)
                                .with_iterations(c.iterations)
                        })
                        .collect(),
                ),
                None => base
                    .with_error_code(codes::RESOURCE_NOT_FOUND)
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )))),
            }
        };
        results.push(result);
    }
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
