//! `/v1/topics`: every topic in this broker's metadata image (id, effective configs, each
//! partition's leader, replicas and ISR), joined with the offsets and sizes of the replicas
//! this broker holds (from the shards' reports, gathered on shard 0). A partition without a
//! replica here has `"local": null`; its leader's console has its offsets.

use super::report::{NodeReport, PartitionReport};
use myelin_replication::cluster::image::TopicImage;
use myelin_shards::topic_config::{value_of, TOPIC_CONFIGS};
use myelin_shards::Shard;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The topics as JSON, by name.
pub fn topics_json(shard: &Shard, node: &NodeReport) -> Value {
    let local: HashMap<(&str, i32), &PartitionReport> = node
        .shards
        .iter()
        .flat_map(|s| &s.partitions)
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let image = shard.metadata();
    let topics: Vec<Value> = image
        .topics()
        .map(|t| topic_json(shard, t, &local))
        .collect();
    json!({
        "node_id": node.node_id,
        "topics": topics,
    })
}

fn topic_json(
    shard: &Shard,
    t: &TopicImage,
    local: &HashMap<(&str, i32), &PartitionReport>,
) -> Value {
    let mut size_bytes = 0u64;
    let partitions: Vec<Value> = t
        .partitions
        .iter()
        .zip(0i32..)
        .map(|(a, index)| {
            let here = local.get(&(t.name.as_str(), index)).map(|p| {
                size_bytes += p.size_bytes;
                json!({
                    "leader": p.leader,
                    "log_start_offset": p.log_start,
                    "log_end_offset": p.log_end,
                    "high_watermark": p.high_watermark,
                    "last_stable_offset": p.last_stable,
                    "size_bytes": p.size_bytes,
                })
            });
            json!({
                "partition": index,
                "leader": a.leader.0,
                "leader_epoch": a.leader_epoch.0,
                "replicas": a.replicas.iter().map(|n| n.0).collect::<Vec<_>>(),
                "isr": a.isr.iter().map(|n| n.0).collect::<Vec<_>>(),
                "offline": !a.leader.is_some(),
                "local": here,
            })
        })
        .collect();
    // Effective values, as DescribeConfigs gives them; `source` says whether the topic
    // overrides the broker default.
    let configs: Vec<Value> = match shard.topic_log_config(t) {
        Ok(log) => TOPIC_CONFIGS
            .iter()
            .map(|d| {
                let source = if t.configs.contains_key(d.name) {
                    "topic"
                } else {
                    "default"
                };
                json!({"name": d.name, "value": value_of(&log, d.name), "source": source})
            })
            .collect(),
        Err(_) => t
            .configs
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v, "source": "topic"}))
            .collect(),
    };
    json!({
        "name": t.name,
        "id": t.id.to_string(),
        "internal": t.name.starts_with("__"),
        "partition_count": t.partitions.len(),
        "replication_factor": t.partitions.first().map_or(0, |p| p.replicas.len()),
        "size_bytes_local": size_bytes,
        "partitions": partitions,
        "configs": configs,
    })
}
