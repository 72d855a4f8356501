//! CreatePartitions (key 37): grow a topic's partition count, through the controller.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::controller::{ControllerRequest, ControllerResponse, NewPartitions};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::CreatePartitions;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// Handles a CreatePartitions request.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    // Growing a topic needs ALTER on it; the refused topics never reach the controller.
    let (allowed, refused): (Vec<_>, Vec<_>) = req
        .topics
        .iter()
        .partition(|t| ctx.authorized(resource_type::TOPIC, &t.name, operation::ALTER));
    let mut results: Vec<CreatePartitionsTopicResult> = refused
        .iter()
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
        })
        .collect();
    if allowed.is_empty() {
        return CreatePartitionsResponse::default().with_results(results);
    }
    let names: Vec<_> = allowed.iter().map(|t| t.name.clone()).collect();
    let request = ControllerRequest::CreatePartitions {
        topics: allowed
            .iter()
            .map(|t| NewPartitions {
                name: t.name.0.to_string(),
                count: t.count,
            })
            .collect(),
        validate_only: req.validate_only,
    };
    let answer = ctx.shard.controller(request).await;
    let decided: Vec<CreatePartitionsTopicResult> = match answer {
        Ok(ControllerResponse::CreatePartitions(per_topic)) => names
            .into_iter()
            .zip(per_topic)
            .map(|(name, (_, r))| {
                let base = CreatePartitionsTopicResult::default().with_name(name);
                match r {
                    Ok(()) => base,
                    Err(e) => base
                        .with_error_code(codes::controller(&e))
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                }
            })
            .collect(),
        other => {
            let (code, text) = match other {
                Err(e) => (codes::controller(&e), e.to_string()),
                Ok(_) => (codes::UNKNOWN_SERVER_ERROR, "unexpected answer".to_string()),
            };
            names
                .into_iter()
                .map(|name| {
                    CreatePartitionsTopicResult::default()
                        .with_name(name)
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_string(text.clone())))
                })
                .collect()
        }
    };
    results.extend(decided);
    CreatePartitionsResponse::default().with_results(results)
}
