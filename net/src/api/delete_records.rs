//! DeleteRecords (key 21): the leader moves a partition's log start offset forward to the
//! offset asked (-1: the high watermark); its followers' logs follow. Consumers below it get
//! OFFSET_OUT_OF_RANGE and ListOffsets earliest answers it.
//!
//! Kafka's answer: OFFSET_OUT_OF_RANGE past the high watermark or for a negative offset
//! other than -1, POLICY_VIOLATION for a topic whose cleanup policy lacks `delete`,
//! NOT_LEADER_OR_FOLLOWER off the leader, UNKNOWN_TOPIC_OR_PARTITION for what does not
//! exist. The answer comes once the low watermark (the smallest log start of the leader and
//! its in-sync followers) reaches the offset, or with REQUEST_TIMED_OUT and the low watermark
//! as it is when the request's timeout ends (at most [`DELETE_RECORDS_WAIT_MS_MAX`]).

use crate::codes;
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DeleteRecords;
/// Versions implemented (v2 is v1 in the flexible encoding), as Kafka 4.4.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Longest a DeleteRecords waits for followers: Kafka's default request timeout; bounds how
/// long a connection waits on one request.
pub const DELETE_RECORDS_WAIT_MS_MAX: u64 = 30_000;

/// Handles a DeleteRecords request, partition by partition, in request order.
pub async fn handle(ctx: &Ctx, _version: i16, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = ctx.shard.metadata();
    let wait_ms = u64::try_from(req.timeout_ms)
        .unwrap_or(0)
        .min(DELETE_RECORDS_WAIT_MS_MAX);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    let mut out = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        let refused = !ctx.authorized(resource_type::TOPIC, &t.name, operation::DELETE);
        for p in &t.partitions {
            let base = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            if refused {
                partitions.push(base.with_error_code(codes::TOPIC_AUTHORIZATION_FAILED));
                continue;
            }
            if !topics::has_partition(&image, &t.name, p.partition_index) {
                partitions.push(base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            }
            // One timeout for the whole request, as Kafka's.
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            let result = ctx
                .shard
                .delete_records(&t.name, p.partition_index, p.offset, wait)
                .await;
            partitions.push(match result {
                Ok(Ok(low)) => base.with_low_watermark(low),
                Ok(Err(low)) => base
                    .with_low_watermark(low)
                    .with_error_code(codes::REQUEST_TIMED_OUT),
                Err(e) => base.with_error_code(codes::shard(&e)),
            });
        }
        out.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(out)
}
