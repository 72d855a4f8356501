//! Produce (key 0): validate each partition's batches on the connection's shard, append them
//! on the owning shard, and answer once the acks level is satisfied.

use crate::codes;
use crate::legacy;
use crate::server::Ctx;
use futures::channel::oneshot;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_replication::{Acks, PartitionError};
use myelin_shards::ShardError;
use myelin_storage::{batch, StorageError};
use std::ops::RangeInclusive;
use std::time::Duration;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Produce;
/// Versions implemented; v0–2 carry magic 0/1 message sets, up-converted on arrival.
pub const VERSIONS: RangeInclusive<i16> = 0..=11;

/// Topics clients may not write to.
const INTERNAL_TOPICS: [&str; 2] = [
    crate::group::store::OFFSETS_TOPIC,
    crate::txn::coordinator::TXN_TOPIC,
];

/// Byte offset of the magic byte in any Kafka message-set entry.
const MAGIC_OFFSET: usize = 16;

fn error(index: i32, code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
}

/// Record errors Kafka quotes in a rejected partition's `error_message`.
const RECORD_ERRORS_QUOTED_MAX: usize = 3;

/// The records a failed append refused one by one (KIP-467), by index in their batch.
fn refused_records(e: &ShardError) -> Option<&[i32]> {
    match e {
        ShardError::Storage(StorageError::KeylessRecords(indices))
        | ShardError::Partition(PartitionError::Storage(StorageError::KeylessRecords(indices))) => {
            Some(indices)
        }
        _ => None,
    }
}

/// A partition refused INVALID_RECORD for records without a key on a compacted topic,
/// answered from v8 on with each record's error and the summary Kafka 4.4 sends, word for
/// word (`LogValidator`: clients show them to the user).
fn keyless_refused(
    topic: &str,
    index: i32,
    records: &[i32],
    version: i16,
) -> PartitionProduceResponse {
    let refused = error(index, codes::INVALID_RECORD);
    if version < 8 {
        return refused;
    }
    let message = format!(
        "Compacted topic cannot accept message without key in topic partition {topic}-{index}"
    );
    let quoted: Vec<String> = records
        .iter()
        .take(RECORD_ERRORS_QUOTED_MAX)
        .map(|i| format!("RecordError(batchIndex={i}, message='{message}')"))
        .collect();
    let summary = format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        records.len(),
        quoted.join(", ")
    );
    let message = StrBytes::from_string(message);
    refused
        .with_record_errors(
            records
                .iter()
                .map(|&i| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(i)
                        .with_batch_index_error_message(Some(message.clone()))
                })
                .collect(),
        )
        .with_error_message(Some(StrBytes::from_string(summary)))
}

/// What a partition's produce needs to know about its topic.
#[derive(Clone)]
struct Target {
    name: String,
    partitions: i32,
    max_message_bytes: u32,
}

/// What a produce waits for: the acks level, and for `acks=all` at most how long.
#[derive(Debug, Clone, Copy)]
struct Wait {
    acks: Acks,
    timeout: Option<Duration>,
}

/// Validates and appends one partition's batches. `appended` is dropped once they are
/// placed in the log or refused.
async fn produce_partition(
    ctx: &Ctx,
    target: Result<Target, i16>,
    index: i32,
    records: Option<bytes::Bytes>,
    version: i16,
    wait: Wait,
    appended: oneshot::Sender<()>,
) -> PartitionProduceResponse {
    let Wait { acks, timeout } = wait;
    let target = match target {
        Ok(t) if (0..t.partitions).contains(&index) => t,
        Ok(_) => return error(index, codes::UNKNOWN_TOPIC_OR_PARTITION),
        Err(code) => return error(index, code),
    };
    let Some(records) = records else {
        return error(index, codes::CORRUPT_MESSAGE);
    };
    let records = if records
        .get(MAGIC_OFFSET)
        .is_some_and(|&m| (m as i8) < batch::MAGIC_V2)
    {
        // Message sets of magic 0/1 belong to Produce v0–2 only, as in Kafka.
        if version >= 3 {
            return error(index, codes::UNSUPPORTED_FOR_MESSAGE_FORMAT);
        }
        match legacy::up_convert(&records, myelin_storage::limits::BATCH_BYTES_MAX as usize) {
            Ok(v2) => v2,
            Err(legacy::LegacyError::TooLarge(_)) => return error(index, codes::MESSAGE_TOO_LARGE),
            Err(legacy::LegacyError::Corrupt(_)) => return error(index, codes::CORRUPT_MESSAGE),
        }
    } else {
        records
    };
    let batches = match batch::split_batches(records, target.max_message_bytes) {
        Ok(b) => b,
        Err(e) => return error(index, codes::storage(&e)),
    };
    let bytes: usize = batches.iter().map(|(_, b)| b.len()).sum();
    let records: i64 = batches
        .iter()
        .map(|(h, _)| i64::from(h.records_count))
        .sum();
    let outcome = match timeout {
        // The append runs on as its own task: the request timeout ends the wait for the
        // replicas, never an append half done.
        Some(limit) => {
            let shard = ctx.shard.clone();
            let name = target.name.clone();
            let work = glommio::spawn_local(async move {
                shard.produce(&name, index, batches, acks, appended).await
            })
            .detach();
            let timer = Box::pin(glommio::timer::sleep(limit));
            match futures::future::select(work, timer).await {
                futures::future::Either::Left((Some(done), _)) => done,
                futures::future::Either::Left((None, _)) => {
                    return error(index, codes::UNKNOWN_SERVER_ERROR);
                }
                futures::future::Either::Right(_) => {
                    return error(index, codes::REQUEST_TIMED_OUT);
                }
            }
        }
        None => {
            ctx.shard
                .produce(&target.name, index, batches, acks, appended)
                .await
        }
    };
    if outcome.is_ok() {
        myelin_metrics::topic_in(&target.name, bytes as u64, records.max(0) as u64);
    }
    match outcome {
        Ok(info) => PartitionProduceResponse::default()
            .with_index(index)
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(if version >= 2 {
                info.log_append_time_ms
            } else {
                -1
            })
            .with_log_start_offset(if version >= 5 {
                info.log_start_offset
            } else {
                -1
            }),
        Err(e) => match refused_records(&e) {
            Some(records) => keyless_refused(&target.name, index, records, version),
            None => error(index, codes::shard(&e)),
        },
    }
}

/// Handles a produce request; `None` for `acks=0`, which Kafka never answers.
///
/// `dispatched` fires once every partition's batches have their place in the log (or were
/// refused): from then on the connection may read its next request, and the order of
/// appends on one connection is the order of its requests.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: ProduceRequest,
    dispatched: oneshot::Sender<()>,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let wait_for = if acks == -1 { Acks::All } else { Acks::Leader };
    // Kafka's `timeout_ms`: how long an acks=all produce waits for the in-sync replicas
    // before it is answered REQUEST_TIMED_OUT (the records may still commit).
    let timeout = u64::try_from(req.timeout_ms)
        .ok()
        .filter(|ms| acks == -1 && *ms > 0)
        .map(Duration::from_millis);
    let image = ctx.shard.metadata();
    // A transactional producer needs WRITE on its transactional id, or nothing is written.
    let txn_refused = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !ctx.authorized(resource_type::TRANSACTIONAL_ID, id, operation::WRITE));
    let mut appended = Vec::new();
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let target = match image.topic(&topic.name) {
            _ if !matches!(acks, -1..=1) => Err(codes::INVALID_REQUIRED_ACKS),
            _ if txn_refused => Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            _ if !ctx.authorized(resource_type::TOPIC, &topic.name, operation::WRITE) => {
                Err(codes::TOPIC_AUTHORIZATION_FAILED)
            }
            None => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
            // The coordinators' own topics are written by the coordinators only.
            Some(meta) if INTERNAL_TOPICS.contains(&meta.name.as_str()) => {
                Err(codes::INVALID_TOPIC_EXCEPTION)
            }
            Some(meta) => Ok(Target {
                name: meta.name.clone(),
                partitions: meta.partitions.len() as i32,
                max_message_bytes: ctx
                    .shard
                    .topic_log_config(meta)
                    .map_or(myelin_storage::limits::MESSAGE_BYTES_DEFAULT, |c| {
                        c.max_message_bytes
                    }),
            }),
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let (tx, rx) = oneshot::channel();
            appended.push(rx);
            partitions.push(produce_partition(
                ctx,
                target.clone(),
                p.index,
                p.records,
                version,
                Wait {
                    acks: wait_for,
                    timeout,
                },
                tx,
            ));
        }
        topics.push((topic.name, partitions));
    }
    // Every partition's append runs concurrently; dispatch is signalled once all are placed.
    let signal = async move {
        futures::future::join_all(appended).await;
        let _ = dispatched.send(());
    };
    let work = futures::future::join_all(topics.into_iter().map(|(name, partitions)| async move {
        let results = futures::future::join_all(partitions).await;
        TopicProduceResponse::default()
            .with_name(name)
            .with_partition_responses(results)
    }));
    let (responses, ()) = futures::join!(work, signal);
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_records_are_answered_as_kafka_does_from_v8() {
        let old = keyless_refused("c", 0, &[0], 7);
        assert_eq!(old.error_code, codes::INVALID_RECORD);
        assert!(old.record_errors.is_empty() && old.error_message.is_none());
        let r = keyless_refused("c", 2, &[1, 2, 5, 7], 8);
        assert_eq!(r.error_code, codes::INVALID_RECORD);
        assert_eq!(
            r.record_errors
                .iter()
                .map(|e| e.batch_index)
                .collect::<Vec<_>>(),
            vec![1, 2, 5, 7]
        );
        let each = "Compacted topic cannot accept message without key in topic partition c-2";
        assert!(r
            .record_errors
            .iter()
            .all(|e| e.batch_index_error_message.as_deref() == Some(each)));
        let summary = r.error_message.unwrap();
        assert!(summary.starts_with(
            "One or more records have been rejected due to 4 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, message='"
        ));
        assert!(summary.ends_with(&format!("RecordError(batchIndex=5, message='{each}')]")));
    }
}
