//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, KIP-734), or the first
//! record at or after a timestamp.

use crate::codes;
use crate::legacy;
use crate::server::Ctx;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use myelin_shards::{ListedOffset, OffsetQuery};
use myelin_storage::records;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ListOffsets;
/// Versions implemented (v0 answers with its list of offsets).
pub const VERSIONS: RangeInclusive<i16> = 0..=8;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// The (offset, timestamp) of the record in `batch` that a timestamp query selects: the
/// first at or after `target`, or with `None` the one with the largest timestamp.
pub(crate) fn pick_record(batch: bytes::Bytes, target: Option<i64>) -> Result<(i64, i64), i16> {
    let limit = myelin_storage::limits::BATCH_BYTES_MAX as usize;
    let (header, section) =
        legacy::batch_records(&batch, limit).map_err(|_| codes::CORRUPT_MESSAGE)?;
    let mut best: Option<(i64, i64)> = None;
    records::for_each(&header, &section, |r| match target {
        Some(t) if r.timestamp >= t => {
            best = Some((r.offset, r.timestamp));
            false
        }
        Some(_) => true,
        None => {
            if best.is_none_or(|(_, ts)| r.timestamp > ts) {
                best = Some((r.offset, r.timestamp));
            }
            true
        }
    })
    .map_err(|_| codes::CORRUPT_MESSAGE)?;
    best.ok_or(codes::CORRUPT_MESSAGE)
}

async fn lookup(
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    timestamp: i64,
    committed_only: bool,
    current_leader_epoch: i32,
) -> Result<(i64, i64, i32), i16> {
    let query = match timestamp {
        LATEST => OffsetQuery::Latest { committed_only },
        EARLIEST => OffsetQuery::Earliest,
        MAX_TIMESTAMP => OffsetQuery::MaxTimestamp,
        t if t >= 0 => OffsetQuery::Timestamp(t),
        _ => return Err(codes::INVALID_REQUEST),
    };
    let listed = ctx
        .shard
        .list_offset(topic, partition, query, current_leader_epoch)
        .await
        .map_err(|e| codes::shard(&e))?;
    match listed {
        ListedOffset::Offset(o, epoch) => Ok((o, -1, epoch.0)),
        ListedOffset::None => Ok((-1, -1, -1)),
        ListedOffset::Batch(b) => {
            let target = match query {
                OffsetQuery::Timestamp(t) => Some(t),
                _ => None,
            };
            let epoch = myelin_storage::batch::BatchHeader::parse(&b)
                .map_or(-1, |h| h.partition_leader_epoch);
            let (offset, ts) = pick_record(b, target)?;
            Ok((offset, ts, epoch))
        }
    }
}

/// Handles a ListOffsets request.
pub async fn handle(ctx: &Ctx, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let image = ctx.shard.metadata();
    // isolation_level 1 (read_committed, v2+) answers "latest" with the last stable offset.
    let committed_only = version >= 2 && req.isolation_level == 1;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let known = crate::topics::partition_count(&image, &name);
        let refused = !ctx.authorized(resource_type::TOPIC, &name, operation::DESCRIBE);
        let futs = t.partitions.iter().map(|p| {
            let name = name.as_str();
            async move {
                let base =
                    ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                if refused {
                    return base
                        .with_error_code(codes::TOPIC_AUTHORIZATION_FAILED)
                        .with_offset(-1)
                        .with_timestamp(-1);
                }
                if !known.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                    return base
                        .with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_offset(-1)
                        .with_timestamp(-1);
                }
                let current = if version >= 4 {
                    p.current_leader_epoch
                } else {
                    -1
                };
                let found = lookup(
                    ctx,
                    name,
                    p.partition_index,
                    p.timestamp,
                    committed_only,
                    current,
                )
                .await;
                match found {
                    // v0 answers with a list of offsets instead of one offset and time.
                    Ok((offset, _, _)) if version == 0 => {
                        base.with_old_style_offsets(if offset >= 0 { vec![offset] } else { vec![] })
                    }
                    Ok((offset, ts, epoch)) => {
                        let epoch = if version >= 4 { epoch } else { -1 };
                        base.with_offset(offset)
                            .with_timestamp(ts)
                            .with_leader_epoch(epoch)
                    }
                    Err(code) => base
                        .with_error_code(code)
                        .with_offset(-1)
                        .with_timestamp(-1),
                }
            }
        });
        let partitions = futures::future::join_all(futs).await;
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
