//! CreateTopics (key 19): topics with partition counts and config overrides. A single node
//! takes replication factor 1 (or -1, the default).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_shards::{topic_config, CatalogChange, ShardError};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::CreateTopics;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=7;

/// Handles a CreateTopics request.
pub async fn handle(ctx: &Ctx, version: i16, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let base = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if !matches!(t.replication_factor, -1 | 1) {
            results.push(
                base.with_error_code(codes::INVALID_REPLICATION_FACTOR)
                    .with_error_message(
                        (version >= 1)
                            .then(|| StrBytes::from_static_str("a single node keeps one replica")),
                    ),
            );
            continue;
        }
        if !t.assignments.is_empty() && t.num_partitions != -1 {
            results.push(base.with_error_code(codes::INVALID_REQUEST));
            continue;
        }
        let partitions = if t.assignments.is_empty() {
            t.num_partitions
        } else {
            t.assignments.len() as i32
        };
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        let change = CatalogChange::CreateTopic {
            name: t.name.0.to_string(),
            partitions,
            configs,
            validate_only: req.validate_only,
        };
        match ctx.shard.change_catalog(change).await {
            Ok(Some(meta)) => {
                let log = ctx.shard.topic_log_config(&meta).ok();
                let configs = topic_config::TOPIC_CONFIGS
                    .iter()
                    .map(|d| {
                        let value = log.as_ref().and_then(|l| topic_config::value_of(l, d.name));
                        let source = if meta.configs.contains_key(d.name) {
                            1
                        } else {
                            5
                        };
                        CreatableTopicConfigs::default()
                            .with_name(StrBytes::from_static_str(d.name))
                            .with_value(value.map(StrBytes::from_string))
                            .with_config_source(source)
                    })
                    .collect();
                let mut r = base;
                if version >= 5 {
                    r = r
                        .with_num_partitions(meta.partitions)
                        .with_replication_factor(1)
                        .with_configs(Some(configs));
                }
                if version >= 7 {
                    r = r.with_topic_id(uuid::Uuid::from_bytes(meta.id));
                }
                results.push(r);
            }
            Ok(None) => results.push(base.with_error_code(codes::UNKNOWN_SERVER_ERROR)),
            Err(e) => {
                // Error messages exist from v1 on.
                let message = match &e {
                    ShardError::Metadata(m) if version >= 1 => {
                        Some(StrBytes::from_string(m.to_string()))
                    }
                    _ => None,
                };
                results.push(
                    base.with_error_code(codes::shard(&e))
                        .with_error_message(message),
                );
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
