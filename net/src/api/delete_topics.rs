//! DeleteTopics (key 20): by name (all versions) or by id (v6+); the data goes with them.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::types::TopicId;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DeleteTopics;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=6;

/// Handles a DeleteTopics request.
pub async fn handle(ctx: &Ctx, version: i16, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let image = ctx.shard.metadata();
        let may_delete = |n: &str| ctx.authorized(resource_type::TOPIC, n, operation::DELETE);
        if name.as_ref().is_some_and(|n| !may_delete(&n.0)) {
            responses.push(
                DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED),
            );
            continue;
        }
        let meta = match &name {
            Some(n) => image.topic(&n.0).cloned(),
            None => image.topic_by_id(TopicId(*id.as_bytes())).cloned(),
        };
        let Some(meta) = meta else {
            let code = if name.is_none() {
                codes::UNKNOWN_TOPIC_ID
            } else {
                codes::UNKNOWN_TOPIC_OR_PARTITION
            };
            responses.push(
                DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(code),
            );
            continue;
        };
        if !may_delete(&meta.name) {
            responses.push(
                DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED),
            );
            continue;
        }
        let result = DeletableTopicResult::default()
            .with_name(Some(TopicName(StrBytes::from_string(meta.name.clone()))))
            .with_topic_id(if version >= 6 {
                uuid::Uuid::from_bytes(meta.id.0)
            } else {
                uuid::Uuid::nil()
            });
        let request = ControllerRequest::DeleteTopics {
            names: vec![meta.name.clone()],
        };
        let code = match ctx.shard.controller(request).await {
            Ok(ControllerResponse::DeleteTopics(r)) => r
                .into_iter()
                .find_map(|(_, r)| r.err())
                .map_or(codes::NONE, |e| codes::controller(&e)),
            Ok(_) => codes::UNKNOWN_SERVER_ERROR,
            Err(e) => codes::controller(&e),
        };
        responses.push(result.with_error_code(code));
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
