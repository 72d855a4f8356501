//! CreateTopics (key 19): topics with partition counts, replication factors and config
//! overrides, decided by the active controller (which spreads partitions over the live
//! brokers, rack-aware) and answered once this broker serves them.

use crate::codes;
use crate::limits;
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::controller::NewTopic;
use myelin_shards::topic_config;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::CreateTopics;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=7;

/// Handles a CreateTopics request.
pub async fn handle(ctx: &Ctx, version: i16, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let message = |m: String| (version >= 1).then(|| StrBytes::from_string(m));
    let mut results: Vec<Option<CreatableTopicResult>> = Vec::with_capacity(req.topics.len());
    let mut asked = Vec::new();
    let cluster_create = ctx.cluster_authorized(operation::CREATE);
    for t in &req.topics {
        let base = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if !cluster_create && !ctx.authorized(resource_type::TOPIC, &t.name.0, operation::CREATE) {
            results.push(Some(
                base.with_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(message("Authorization failed.".into())),
            ));
            continue;
        }
        if t.replication_factor > limits::REPLICATION_FACTOR_MAX {
            results.push(Some(
                base.with_error_code(codes::INVALID_REPLICATION_FACTOR)
                    .with_error_message(message(format!(
                        "replication factor {} is above {}",
                        t.replication_factor,
                        limits::REPLICATION_FACTOR_MAX
                    ))),
            ));
            continue;
        }
        if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
            results.push(Some(base.with_error_code(codes::INVALID_REQUEST)));
            continue;
        }
        if !t.assignments.is_empty() {
            // Manual replica assignments are not taken (the controller places partitions).
            results.push(Some(
                base.with_error_code(codes::INVALID_REQUEST)
                    .with_error_message(message(
                        "manual replica assignments are not supported".into(),
                    )),
            ));
            continue;
        }
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        if let Err(e) = topic_config::log_config(&ctx.shard.node.log_defaults, &configs) {
            results.push(Some(
                base.with_error_code(codes::metadata(&e))
                    .with_error_message(message(e.to_string())),
            ));
            continue;
        }
        asked.push(NewTopic {
            name: t.name.0.to_string(),
            partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            configs,
        });
        results.push(None);
    }
    let decided = if asked.is_empty() {
        Ok(Vec::new())
    } else {
        topics::create(&ctx.shard, asked, req.validate_only).await
    };
    let mut decided = match decided {
        Ok(d) => d.into_iter(),
        Err(e) => {
            let code = codes::controller(&e);
            let text = e.to_string();
            return CreateTopicsResponse::default().with_topics(
                req.topics
                    .iter()
                    .zip(results)
                    .map(|(t, r)| {
                        r.unwrap_or_else(|| {
                            CreatableTopicResult::default()
                                .with_name(t.name.clone())
                                .with_num_partitions(-1)
                                .with_replication_factor(-1)
                                .with_error_code(code)
                                .with_error_message(message(text.clone()))
                        })
                    })
                    .collect(),
            );
        }
    };
    let image = ctx.shard.metadata();
    let out = req
        .topics
        .iter()
        .zip(results)
        .map(|(t, r)| {
            if let Some(r) = r {
                return r;
            }
            let base = CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            match decided.next() {
                Some((_, Ok(()))) if req.validate_only => base,
                Some((_, Ok(()))) => match image.topic(&t.name.0) {
                    Some(topic) => created(ctx, version, base, topic),
                    None => base.with_error_code(codes::UNKNOWN_SERVER_ERROR),
                },
                Some((_, Err(e))) => base
                    .with_error_code(codes::controller(&e))
                    .with_error_message(message(e.to_string())),
                None => base.with_error_code(codes::UNKNOWN_SERVER_ERROR),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(out)
}

/// The answer for a created topic: v5+ report its partitions, replication factor and
/// configs, v7+ its id.
fn created(
    ctx: &Ctx,
    version: i16,
    base: CreatableTopicResult,
    topic: &myelin_replication::cluster::image::TopicImage,
) -> CreatableTopicResult {
    let log = ctx.shard.topic_log_config(topic).ok();
    let configs = topic_config::TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let value = log.as_ref().and_then(|l| topic_config::value_of(l, d.name));
            let source = if topic.configs.contains_key(d.name) {
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
    // The configs are shown only to a principal that may describe them, as in Kafka.
    let configs_refused = !ctx.authorized(
        resource_type::TOPIC,
        &topic.name,
        operation::DESCRIBE_CONFIGS,
    );
    if version >= 5 && configs_refused {
        r =
            r.with_num_partitions(topic.partitions.len() as i32)
                .with_replication_factor(
                    topic.partitions.first().map_or(0, |p| p.replicas.len()) as i16
                )
                .with_topic_config_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
                .with_configs(None);
    } else if version >= 5 {
        let rf = topic.partitions.first().map_or(0, |p| p.replicas.len()) as i16;
        r = r
            .with_num_partitions(topic.partitions.len() as i32)
            .with_replication_factor(rf)
            .with_configs(Some(configs));
    }
    if version >= 7 {
        r = r.with_topic_id(uuid::Uuid::from_bytes(topic.id.0));
    }
    r
}
