//! Fetch (key 1): whole batches from each partition's owner, long-polling until `min_bytes`
//! have arrived or `max_wait_ms` has passed. Fetch sessions (KIP-227) are declined by
//! answering session id 0, so every fetch is a full one.

use crate::codes;
use crate::legacy;
use crate::limits;
use crate::server::Ctx;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_shards::{ReadRequest, Reader};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::Fetch;
/// Versions implemented (v13+ address topics by id; v0–3 get magic 0/1 message sets,
/// down-converted from the stored batches).
pub const VERSIONS: RangeInclusive<i16> = 0..=16;

/// The replica id a consumer's Fetch carries.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// The replica id Kafka names a debugging consumer's: a reader that is no consumer. The
/// console of another broker fetches with it, so that its reads are not taken for a
/// consumer's first fetch; it is otherwise served as a consumer is.
pub const DEBUGGING_CONSUMER_ID: i32 = -2;

struct Wanted {
    name: TopicName,
    id: uuid::Uuid,
    topic: Option<String>,
    /// The principal may not READ the topic (or is a follower without CLUSTER_ACTION).
    refused: bool,
    partitions: Vec<FetchPartition>,
}

fn concat(batches: Vec<Bytes>) -> Bytes {
    match batches.len() {
        0 => Bytes::new(),
        1 => batches.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(batches.iter().map(|b| b.len()).sum());
            for b in batches {
                out.extend_from_slice(&b);
            }
            out.freeze()
        }
    }
}

/// A partition's offsets as one read saw them.
struct Seen {
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

/// Sets a partition's offsets, each only at the versions that carry it.
fn with_offsets(d: PartitionData, seen: Seen, version: i16) -> PartitionData {
    let mut d = d.with_high_watermark(seen.high_watermark);
    if version >= 4 {
        d = d.with_last_stable_offset(seen.last_stable_offset);
    }
    if version >= 5 {
        d = d.with_log_start_offset(seen.log_start_offset);
    }
    d
}

/// One pass over the wanted partitions.
struct Pass {
    topics: Vec<FetchableTopicResponse>,
    total: usize,
    failed: bool,
    /// Partitions to watch, with the high watermark seen: a wait ends when it moves.
    watch: Vec<(String, i32, i64)>,
}

/// Reads every wanted partition once; `committed_only` for `read_committed` consumers.
async fn read_once(
    ctx: &Ctx,
    wanted: &[Wanted],
    max_bytes: usize,
    version: i16,
    committed_only: bool,
    reader: Reader,
) -> Pass {
    let mut watch = Vec::new();
    let mut total = 0usize;
    let mut failed = false;
    let mut topics = Vec::with_capacity(wanted.len());
    for w in wanted {
        let futs = w.partitions.iter().map(|p| async move {
            let base = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1)
                .with_preferred_read_replica((-1).into());
            let Some(topic) = &w.topic else {
                let code = if version >= 13 {
                    codes::UNKNOWN_TOPIC_ID
                } else {
                    codes::UNKNOWN_TOPIC_OR_PARTITION
                };
                return (base.with_error_code(code), Vec::new());
            };
            if w.refused {
                return (
                    base.with_error_code(codes::TOPIC_AUTHORIZATION_FAILED),
                    Vec::new(),
                );
            }
            let cap = (p.partition_max_bytes.max(0) as usize).min(max_bytes);
            let read = ReadRequest {
                offset: p.fetch_offset,
                max_bytes: cap,
                committed_only,
                current_leader_epoch: if version >= 9 {
                    p.current_leader_epoch
                } else {
                    -1
                },
                reader,
            };
            match ctx.shard.read(topic, p.partition, read).await {
                Ok(out) => {
                    let seen = Seen {
                        high_watermark: out.high_watermark,
                        last_stable_offset: out.last_stable_offset,
                        log_start_offset: out.log_start_offset,
                    };
                    let mut d = with_offsets(base, seen, version);
                    if version >= 4 && committed_only {
                        let aborted = out
                            .aborted
                            .iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_first_offset(a.first_offset)
                            })
                            .collect();
                        d = d.with_aborted_transactions(Some(aborted));
                    }
                    if version > 3 {
                        return (d, out.batches);
                    }
                    // Fetch v0–1 read magic 0, v2–3 magic 1.
                    let magic = if version <= 1 { 0 } else { 1 };
                    let limit = myelin_storage::limits::BATCH_BYTES_MAX as usize;
                    match legacy::down_convert(&out.batches, magic, p.fetch_offset, cap, limit) {
                        Ok(set) => (d, vec![set]),
                        Err(_) => (d.with_error_code(codes::CORRUPT_MESSAGE), Vec::new()),
                    }
                }
                Err(e) => {
                    let code = codes::shard(&e.error);
                    let mut d = base.with_error_code(code);
                    if let Some(o) = e.offsets.filter(|_| code == codes::OFFSET_OUT_OF_RANGE) {
                        let seen = Seen {
                            high_watermark: o.high_watermark,
                            last_stable_offset: o.last_stable_offset,
                            log_start_offset: o.log_start_offset,
                        };
                        d = with_offsets(d, seen, version);
                    }
                    (d, Vec::new())
                }
            }
        });
        let results = futures::future::join_all(futs).await;
        let mut partitions = Vec::with_capacity(results.len());
        for (data, batches) in results {
            failed |= data.error_code != codes::NONE;
            if let Some(t) = &w.topic {
                watch.push((t.clone(), data.partition_index, data.high_watermark));
            }
            let size: usize = batches.iter().map(|b| b.len()).sum();
            // The response-wide limit: the first data always goes, later partitions only
            // while they fit; what is left out is fetched next time.
            let records = if total > 0 && total + size > max_bytes {
                Bytes::new()
            } else {
                total += size;
                concat(batches)
            };
            partitions.push(data.with_records(Some(records)));
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(w.name.clone())
                .with_topic_id(w.id)
                .with_partitions(partitions),
        );
    }
    Pass {
        topics,
        total,
        failed,
        watch,
    }
}

/// Handles a fetch request.
pub async fn handle(ctx: &Ctx, version: i16, req: FetchRequest) -> FetchResponse {
    let image = ctx.shard.metadata();
    // A follower's fetch needs CLUSTER_ACTION; a consumer's, READ on each topic.
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let follower_refused = replica_id >= 0 && !ctx.cluster_authorized(operation::CLUSTER_ACTION);
    // Followers and debugging consumers read, but only a consumer's first read of a batch
    // is a durable→fetch sample.
    let reader = if replica_id == CONSUMER_REPLICA_ID {
        Reader::Consumer
    } else {
        Reader::Other
    };
    let wanted: Vec<Wanted> = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = if version >= 13 {
                image
                    .topic_by_id(myelin_replication::types::TopicId(*t.topic_id.as_bytes()))
                    .map(|m| m.name.clone())
            } else {
                image.topic(&t.topic).map(|m| m.name.clone())
            };
            let id = topic
                .as_deref()
                .and_then(|n| image.topic(n))
                .map_or(t.topic_id, |m| uuid::Uuid::from_bytes(m.id.0));
            let name = topic
                .clone()
                .map_or(t.topic, |n| TopicName(StrBytes::from_string(n)));
            let refused = follower_refused
                || topic.as_deref().is_some_and(|n| {
                    replica_id < 0 && !ctx.authorized(resource_type::TOPIC, n, operation::READ)
                });
            Wanted {
                name,
                id,
                topic,
                refused,
                partitions: t.partitions,
            }
        })
        .collect();
    let max_bytes = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let wait = Duration::from_millis(req.max_wait_ms.clamp(0, limits::FETCH_WAIT_MS_MAX) as u64);
    let deadline = Instant::now() + wait;
    let min_bytes = req.min_bytes.max(0) as usize;
    // isolation_level 1 is read_committed (v4+).
    let committed_only = version >= 4 && req.isolation_level == 1;
    loop {
        let pass = read_once(ctx, &wanted, max_bytes, version, committed_only, reader).await;
        let now = Instant::now();
        // As Kafka: a fetch of no partitions, or of at least 0 bytes, is answered at once.
        if wanted.is_empty()
            || pass.total >= min_bytes
            || pass.failed
            || now >= deadline
            || ctx.shard.is_stopping()
        {
            for t in &pass.topics {
                let sent: usize = t
                    .partitions
                    .iter()
                    .filter_map(|p| p.records.as_ref().map(Bytes::len))
                    .sum();
                if sent > 0 {
                    myelin_metrics::topic_out(&t.topic, sent as u64);
                }
            }
            return FetchResponse::default()
                .with_session_id(0)
                .with_responses(pass.topics);
        }
        let remaining = deadline - now;
        let waits: Vec<_> = pass
            .watch
            .iter()
            .map(|(t, p, hw)| Box::pin(ctx.shard.wait_for_data(t, *p, *hw, remaining)))
            .collect();
        if waits.is_empty() {
            glommio::timer::sleep(remaining).await;
        } else {
            futures::future::select_all(waits).await;
        }
    }
}
