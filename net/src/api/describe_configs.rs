//! DescribeConfigs (key 32): the topic configs Myelin supports, for topics and for the broker
//! (whose values are the topic defaults, under Kafka's broker names).

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_shards::topic_config::{self, TOPIC_CONFIGS};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeConfigs;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Resource type codes.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Config sources.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// Kafka's broker-level name for each topic config.
fn broker_name(topic_name: &str) -> &'static str {
    match topic_name {
        "cleanup.policy" => "log.cleanup.policy",
        "retention.ms" => "log.retention.ms",
        "retention.bytes" => "log.retention.bytes",
        "segment.bytes" => "log.segment.bytes",
        "segment.ms" => "log.roll.ms",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "flush.messages" => "log.flush.interval.messages",
        "flush.ms" => "log.flush.interval.ms",
        "min.insync.replicas" => "min.insync.replicas",
        "unclean.leader.election.enable" => "unclean.leader.election.enable",
        _ => "myelin.flush.bytes",
    }
}

/// How an entry is rendered: the request's version and whether it asked for documentation.
#[derive(Clone, Copy)]
struct Render {
    version: i16,
    documentation: bool,
    synonyms: bool,
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(value.map(StrBytes::from_string))
        .with_source(source)
}

fn entry(
    name: &str,
    value: Option<String>,
    source: i8,
    kind: i8,
    doc: &str,
    render: Render,
) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(value.map(StrBytes::from_string));
    // v0 says only whether a value is the default; v1+ says where it came from.
    r = if render.version == 0 {
        r.with_is_default(source == SOURCE_DEFAULT)
    } else {
        r.with_config_source(source)
    };
    if render.version >= 3 {
        r = r.with_config_type(kind);
        if render.documentation {
            r = r.with_documentation(Some(StrBytes::from_string(doc.to_string())));
        }
    }
    r
}

/// Handles a DescribeConfigs request.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = ctx.shard.metadata();
    let defaults = &ctx.shard.node.log_defaults;
    let render = Render {
        version,
        documentation: req.include_documentation,
        synonyms: version >= 1 && req.include_synonyms,
    };
    let mut results = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        // No keys, or an empty list, asks for every config, as with Kafka.
        let keep = |name: &str| {
            r.configuration_keys
                .as_ref()
                .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
        };
        let base = DescribeConfigsResult::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let op = myelin_replication::cluster::security::operation::DESCRIBE_CONFIGS;
        if let Some(o) = crate::config_changes::refused(ctx, r.resource_type, &r.resource_name, op)
        {
            results.push(
                base.with_error_code(o.code)
                    .with_error_message(o.message.map(StrBytes::from_string)),
            );
            continue;
        }
        match r.resource_type {
            RESOURCE_TOPIC => {
                let Some(meta) = image.topic(&r.resource_name) else {
                    results.push(base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION));
                    continue;
                };
                let Ok(log) = ctx.shard.topic_log_config(meta) else {
                    results.push(base.with_error_code(codes::INVALID_CONFIG));
                    continue;
                };
                let configs = TOPIC_CONFIGS
                    .iter()
                    .filter(|d| keep(d.name))
                    .map(|d| {
                        let source = if meta.configs.contains_key(d.name) {
                            SOURCE_TOPIC
                        } else {
                            SOURCE_DEFAULT
                        };
                        let value = topic_config::value_of(&log, d.name);
                        let e = entry(d.name, value.clone(), source, d.kind, d.doc, render);
                        if !render.synonyms {
                            return e;
                        }
                        // As Kafka lists them: the topic's override, then the broker's.
                        let mut synonyms = Vec::with_capacity(2);
                        if source == SOURCE_TOPIC {
                            synonyms.push(synonym(d.name, value, SOURCE_TOPIC));
                        }
                        synonyms.push(synonym(
                            broker_name(d.name),
                            topic_config::value_of(defaults, d.name),
                            SOURCE_STATIC_BROKER,
                        ));
                        e.with_synonyms(synonyms)
                    })
                    .collect();
                results.push(base.with_configs(configs));
            }
            RESOURCE_BROKER => {
                let mut configs: Vec<_> = TOPIC_CONFIGS
                    .iter()
                    .filter(|d| keep(broker_name(d.name)))
                    .map(|d| {
                        entry(
                            broker_name(d.name),
                            topic_config::value_of(defaults, d.name),
                            SOURCE_STATIC_BROKER,
                            d.kind,
                            d.doc,
                            render,
                        )
                    })
                    .collect();
                let node = &ctx.shard.node;
                // Config types: 3 = INT, 1 = BOOLEAN.
                for (name, value, kind, doc) in [
                    (
                        "num.partitions",
                        node.default_partitions.to_string(),
                        3,
                        "partitions of an automatically created topic",
                    ),
                    (
                        "auto.create.topics.enable",
                        node.auto_create_topics.to_string(),
                        1,
                        "create unknown topics on first use",
                    ),
                ] {
                    if keep(name) {
                        configs.push(entry(
                            name,
                            Some(value),
                            SOURCE_STATIC_BROKER,
                            kind,
                            doc,
                            render,
                        ));
                    }
                }
                results.push(base.with_configs(configs));
            }
            _ => results.push(
                base.with_error_code(codes::INVALID_REQUEST)
                    .with_error_message(Some(StrBytes::from_static_str(
                        "only topic and broker resources are described",
                    ))),
            ),
        }
    }
    DescribeConfigsResponse::default().with_results(results)
}
