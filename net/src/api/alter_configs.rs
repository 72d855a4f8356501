//! AlterConfigs (key 33), the older whole-set form: a topic's overrides become exactly the
//! entries given (those left out are removed), committed by the active controller; broker
//! resources as in [`crate::config_changes`].

use crate::config_changes::{self, Outcome, RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::server::Ctx;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AlterConfigs;
/// Versions implemented (v2 is v1 in the flexible encoding), as Kafka 4.4.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Handles an AlterConfigs request: each resource on its own, in request order.
pub async fn handle(ctx: &Ctx, _version: i16, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let outcomes = config_changes::each_resource(
        &req.resources,
        |r| (r.resource_type, r.resource_name.as_str()),
        |r| alter(ctx, r, req.validate_only),
    )
    .await;
    let responses = req
        .resources
        .iter()
        .zip(outcomes)
        .map(|(r, outcome)| {
            AlterConfigsResourceResponse::default()
                .with_error_code(outcome.code)
                .with_error_message(outcome.message.map(StrBytes::from_string))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

async fn alter(ctx: &Ctx, r: &AlterConfigsResource, validate_only: bool) -> Outcome {
    let op = myelin_replication::cluster::security::operation::ALTER_CONFIGS;
    if let Some(outcome) = config_changes::refused(ctx, r.resource_type, &r.resource_name, op) {
        return outcome;
    }
    let checked = config_changes::check_entries(
        r.configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.is_none())),
    );
    if let Err(outcome) = checked {
        return outcome;
    }
    match r.resource_type {
        RESOURCE_TOPIC => {
            let name = r.resource_name.as_str();
            let image = ctx.shard.metadata();
            let current = image.topic(name).map(|t| &t.configs);
            let next: BTreeMap<String, String> = r
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            config_changes::alter_topic(ctx, name, current, next, validate_only).await
        }
        RESOURCE_BROKER => {
            if let Err(outcome) = config_changes::check_broker_name(ctx, &r.resource_name) {
                return outcome;
            }
            config_changes::alter_broker(r.configs.iter().map(|c| c.name.as_str()))
        }
        other => config_changes::unsupported_resource(other),
    }
}
