//! DescribeProducers (key 61, KIP-664): per partition, the idempotent and transactional
//! producers its replica on this broker remembers: producer id, epoch, last sequence, last
//! timestamp, the coordinator epoch of its last marker and where its open transaction
//! starts. `kafka-transactions describe-producers` and `find-hanging` read it.
//!
//! The state belongs to the partition's owning shard and is read there; a follower answers
//! from its own copy, as Kafka's does. Errors as Kafka gives them: UNKNOWN_TOPIC_OR_PARTITION
//! for a topic or partition that does not exist, NOT_LEADER_OR_FOLLOWER for one with no
//! replica here, INVALID_TOPIC_EXCEPTION for a name no topic can have.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::partition::producer::ActiveProducer;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeProducers;
/// Versions implemented: v0, the only one Kafka 4.4 has.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// The message Kafka sends with UNKNOWN_TOPIC_OR_PARTITION for a topic it does not know
/// (the error's default; for an unknown partition of a known topic it sends none).
const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";

fn producer(p: &ActiveProducer) -> ProducerState {
    ProducerState::default()
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(i32::from(p.producer_epoch))
        .with_last_sequence(p.last_sequence)
        .with_last_timestamp(p.last_timestamp)
        .with_coordinator_epoch(p.coordinator_epoch)
        .with_current_txn_start_offset(p.current_txn_start_offset)
}

fn failed(index: i32, code: i16, message: Option<StrBytes>) -> PartitionResponse {
    PartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_error_message(message)
}

/// Handles DescribeProducers.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let image = ctx.shard.metadata();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        // Checked per topic before any partition, as Kafka does; only these topic-level
        // errors carry a message.
        let topic_error = if let Some(why) = crate::topics::invalid_name_message(&name) {
            Some((
                codes::INVALID_TOPIC_EXCEPTION,
                Some(StrBytes::from_string(why)),
            ))
        } else if image.topic(&name).is_none() {
            Some((
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                Some(StrBytes::from_static_str(UNKNOWN_TOPIC_MESSAGE)),
            ))
        } else {
            None
        };
        let partitions = t.partition_indexes.iter().map(|&index| {
            let (name, topic_error) = (name.as_str(), &topic_error);
            async move {
                if let Some((code, message)) = topic_error {
                    return failed(index, *code, message.clone());
                }
                match ctx.shard.active_producers(name, index).await {
                    Ok(producers) => PartitionResponse::default()
                        .with_partition_index(index)
                        .with_active_producers(producers.iter().map(producer).collect()),
                    Err(e) => failed(index, codes::shard(&e), None),
                }
            }
        });
        let partitions = futures::future::join_all(partitions).await;
        topics.push(
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DescribeProducersResponse::default().with_topics(topics)
}
