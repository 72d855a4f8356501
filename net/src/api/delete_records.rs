//! DeleteRecords (key 21): the leader moves a partition's log start offset forward to the
//! offset asked (-1: the high watermark); its followers' logs follow. Consumers below it get
//! OFFSET_OUT_OF_RANGE and ListOffsets earliest answers it.
//!
//! Kafka's answer: OFFSET_OUT_OF_RANGE past the high watermark or for a negative offset
//! other than -1, POLICY_VIOLATION for a topic whose cleanup policy lacks `delete`,
//! NOT_LEADER_OR_FOLLOWER off the leader, UNKNOWN_TOPIC_OR_PARTITION for what does not
//! exist. The low watermark answered is the leader's new log start offset: Myelin answers
//! once the leader has moved, without waiting for every follower to report its own (Kafka
//! waits up to the request's timeout); followers move when the leader tells them.

use crate::codes;
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DeleteRecords;
/// Versions implemented (v2 is v1 in the flexible encoding), as Kafka 4.4.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Handles a DeleteRecords request, partition by partition, in request order.
pub async fn handle(ctx: &Ctx, _version: i16, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = ctx.shard.metadata();
    let mut out = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let base = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            if !topics::has_partition(&image, &t.name, p.partition_index) {
                partitions.push(base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            }
            let result = ctx
                .shard
                .delete_records(&t.name, p.partition_index, p.offset)
                .await;
            partitions.push(match result {
                Ok(low) => base.with_low_watermark(low),
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
