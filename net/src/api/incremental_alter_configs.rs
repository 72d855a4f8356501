//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on a topic's config
//! overrides, committed by the active controller; broker resources as in
//! [`crate::config_changes`].
//!
//! APPEND and SUBTRACT apply to list configs only (`cleanup.policy`), starting from the
//! topic's override or, without one, the broker default, as Kafka's controller does.

use crate::codes;
use crate::config_changes::{self, Outcome, RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::server::Ctx;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_shards::topic_config;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
/// Versions implemented (v1 is v0 in the flexible encoding), as Kafka 4.4.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Kafka's operation codes.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

fn op_name(op: i8) -> &'static str {
    match op {
        OP_APPEND => "APPEND",
        _ => "SUBTRACT",
    }
}

/// Handles an IncrementalAlterConfigs request: each resource on its own, in request order.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter(ctx: &Ctx, r: &AlterConfigsResource, validate_only: bool) -> Outcome {
    let op = myelin_replication::cluster::security::operation::ALTER_CONFIGS;
    if let Some(outcome) = config_changes::refused(ctx, r.resource_type, &r.resource_name, op) {
        return outcome;
    }
    let checked = config_changes::check_entries(r.configs.iter().map(|c| {
        (
            c.name.as_str(),
            c.config_operation != OP_DELETE && c.value.is_none(),
        )
    }));
    if let Err(outcome) = checked {
        return outcome;
    }
    if let Some(c) = r
        .configs
        .iter()
        .find(|c| !(OP_SET..=OP_SUBTRACT).contains(&c.config_operation))
    {
        return Outcome::error(
            codes::INVALID_REQUEST,
            format!(
                "Unknown config operation {} for {}",
                c.config_operation,
                c.name.as_str()
            ),
        );
    }
    match r.resource_type {
        RESOURCE_TOPIC => alter_topic(ctx, r, validate_only).await,
        RESOURCE_BROKER => {
            if let Err(outcome) = config_changes::check_broker_name(ctx, &r.resource_name) {
                return outcome;
            }
            config_changes::alter_broker(
                r.configs
                    .iter()
                    .filter(|c| c.config_operation != OP_DELETE)
                    .map(|c| c.name.as_str()),
            )
        }
        other => config_changes::unsupported_resource(other),
    }
}

async fn alter_topic(ctx: &Ctx, r: &AlterConfigsResource, validate_only: bool) -> Outcome {
    let name = r.resource_name.as_str();
    let image = ctx.shard.metadata();
    let current = image.topic(name).map(|t| &t.configs);
    let mut next: BTreeMap<String, String> = current.cloned().unwrap_or_default();
    for c in &r.configs {
        let key = c.name.to_string();
        let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        match c.config_operation {
            OP_SET => {
                next.insert(key, value);
            }
            OP_DELETE => {
                next.remove(&key);
            }
            op => {
                if !topic_config::is_list(&key) {
                    return Outcome::error(
                        codes::INVALID_CONFIG,
                        format!(
                            "Can't {} to key {key} because its type is not LIST.",
                            op_name(op)
                        ),
                    );
                }
                let base = next
                    .get(&key)
                    .cloned()
                    .or_else(|| topic_config::value_of(&ctx.shard.node.log_defaults, &key));
                let mut items: Vec<String> = base
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for v in value.split(',') {
                    if op == OP_APPEND {
                        if !items.iter().any(|i| i == v) {
                            items.push(v.to_string());
                        }
                    } else {
                        items.retain(|i| i != v);
                    }
                }
                next.insert(key, items.join(","));
            }
        }
    }
    config_changes::alter_topic(ctx, name, current, next, validate_only).await
}
