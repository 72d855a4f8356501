//! Produce (key 0): validate each partition's batches on the connection's shard, append them
//! on the owning shard, and answer once the acks level is satisfied.

use crate::codes;
use crate::server::Ctx;
use crate::topics;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use myelin_storage::batch;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Produce;
/// Versions implemented (v13 addresses topics by id and is not served yet).
pub const VERSIONS: RangeInclusive<i16> = 3..=12;

/// Byte offset of the magic byte in any Kafka message-set entry.
const MAGIC_OFFSET: usize = 16;

fn error(index: i32, code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
}

async fn produce_partition(
    ctx: &Ctx,
    topic: &str,
    max_message_bytes: u32,
    index: i32,
    records: Option<bytes::Bytes>,
    version: i16,
) -> PartitionProduceResponse {
    let Some(records) = records else {
        return error(index, codes::CORRUPT_MESSAGE);
    };
    if records
        .get(MAGIC_OFFSET)
        .is_some_and(|&m| (m as i8) < batch::MAGIC_V2)
    {
        return error(index, codes::UNSUPPORTED_FOR_MESSAGE_FORMAT);
    }
    let batches = match batch::split_batches(records, max_message_bytes) {
        Ok(b) => b,
        Err(e) => return error(index, codes::storage(&e)),
    };
    match topics::append(ctx, topic, index, batches).await {
        Ok(info) => PartitionProduceResponse::default()
            .with_index(index)
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time_ms)
            .with_log_start_offset(if version >= 5 {
                info.log_start_offset
            } else {
                -1
            }),
        Err(code) => error(index, code),
    }
}

/// Handles a produce request; `None` for `acks=0`, which Kafka never answers.
pub async fn handle(ctx: &Ctx, version: i16, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let meta = ctx.shard.catalog().topic(&name).cloned();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        match meta {
            _ if !matches!(acks, -1..=1) => {
                partitions.extend(
                    topic
                        .partition_data
                        .iter()
                        .map(|p| error(p.index, codes::INVALID_REQUIRED_ACKS)),
                );
            }
            None => {
                partitions.extend(
                    topic
                        .partition_data
                        .iter()
                        .map(|p| error(p.index, codes::UNKNOWN_TOPIC_OR_PARTITION)),
                );
            }
            Some(meta) => {
                let max = ctx
                    .shard
                    .topic_log_config(&meta)
                    .map(|c| c.max_message_bytes)
                    .unwrap_or(myelin_storage::limits::MESSAGE_BYTES_DEFAULT);
                let futs = topic.partition_data.into_iter().map(|p| {
                    let name = name.as_str();
                    async move {
                        if p.index < 0 || p.index >= meta.partitions {
                            return error(p.index, codes::UNKNOWN_TOPIC_OR_PARTITION);
                        }
                        produce_partition(ctx, name, max, p.index, p.records, version).await
                    }
                });
                partitions.extend(futures::future::join_all(futs).await);
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}
