//! DescribeLogDirs (key 35): the broker's data directory as its one log dir, with every
//! partition replica it holds: the bytes of its log, its offset lag (how far its log end is
//! behind its high watermark, as Kafka computes it: 0 on a leader) and `is_future` false
//! (Myelin never moves a replica between log dirs); v4+ add the file system's total and
//! usable bytes.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::operation;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeLogDirs;
/// Versions implemented: Kafka 4.4 serves 1–5 (v0 was removed by KIP-896); the wire codec
/// encodes up to 4.
pub const VERSIONS: RangeInclusive<i16> = 1..=4;

/// What v4+ answer when the file system cannot be asked: Kafka's "unknown".
const BYTES_UNKNOWN: i64 = -1;

/// Handles a DescribeLogDirs request: every replica (null topics) or those asked for.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !ctx.cluster_authorized(operation::DESCRIBE) {
        return DescribeLogDirsResponse::default()
            .with_error_code(crate::codes::CLUSTER_AUTHORIZATION_FAILED);
    }
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
            .collect()
    });
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    let mut replicas = ctx.shard.replicas_on_disk().await;
    replicas.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for r in replicas {
        let key = (r.topic, r.partition);
        if wanted.as_ref().is_some_and(|w| !w.contains(&key)) {
            continue;
        }
        by_topic.entry(key.0).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(key.1)
                .with_partition_size(i64::try_from(r.size_bytes).unwrap_or(i64::MAX))
                .with_offset_lag(r.offset_lag)
                .with_is_future_key(false),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    let dir = &ctx.shard.node.data_dir;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let (free, total) = crate::admin::disk_space(&dir);
    let bytes = |b: Option<u64>| {
        b.and_then(|b| i64::try_from(b).ok())
            .unwrap_or(BYTES_UNKNOWN)
    };
    let result = DescribeLogDirsResult::default()
        .with_error_code(codes::NONE)
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(bytes(total))
        .with_usable_bytes(bytes(free));
    DescribeLogDirsResponse::default().with_results(vec![result])
}
