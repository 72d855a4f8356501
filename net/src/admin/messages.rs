//! `/v1/messages`: the console's message browser. Reads a page of records from one
//! partition, from an offset, from a time, or the newest, and shows each record's offset,
//! timestamp, key, value and headers.
//!
//! On the partition's leader it asks the partition's owner through the same typed partition
//! API the Kafka handlers use: `Shard::list_offset` resolves a time to an offset as
//! ListOffsets does, and `Shard::read` returns whole stored batches as Fetch gets them (up to
//! the high watermark, so only committed records are shown). On any other broker it asks the
//! leader, with ListOffsets and a Fetch as a debugging consumer ([`super::leader`]). Neither
//! read counts as a consumer's first fetch. Batches are decompressed (bounded) and walked by
//! `myelin_storage::records`; nothing is decoded twice and nothing here is written. A
//! request reads at most [`limits::CONSOLE_READ_BYTES_MAX`] of batches in at most
//! [`limits::CONSOLE_READS_MAX`] reads and returns at most [`limits::CONSOLE_MESSAGES_MAX`]
//! records, each key and value cut to [`limits::CONSOLE_PREVIEW_BYTES_MAX`].

use super::http::Response;
use super::leader::Leader;
use super::params::{self, MessagesQuery, ParamError, Start};
use crate::limits;
use myelin_replication::PartitionError;
use myelin_shards::{ListedOffset, OffsetQuery, ReadRequest, Reader, Shard, ShardError};
use myelin_storage::batch::{BatchHeader, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL};
use myelin_storage::{compression, records, StorageError};
use serde_json::{json, Value};
use std::rc::Rc;

/// Why a browse was refused: the HTTP status and the reason shown.
#[derive(Debug, PartialEq, Eq)]
struct Refused(u16, String);

impl Refused {
    fn of(e: &ShardError) -> Refused {
        match e {
            ShardError::UnknownTopicOrPartition => Refused(404, e.to_string()),
            // Metadata named this broker the leader, but the replica no longer leads:
            // leadership is moving, and the next request finds the new leader.
            ShardError::Partition(PartitionError::NotLeader) => Refused(
                503,
                "leadership of the partition is moving; try again".into(),
            ),
            ShardError::Storage(StorageError::OffsetOutOfRange { .. }) => {
                Refused(400, e.to_string())
            }
            _ => Refused(503, e.to_string()),
        }
    }
}

/// Answers `/v1/messages?<query>`.
pub async fn handle(shard: &Rc<Shard>, query: &str) -> Response {
    let q = match params::messages_query(query) {
        Ok(q) => q,
        Err(ParamError(why)) => return Response::error(400, why),
    };
    match browse(shard, &q).await {
        Ok(page) => Response::json(200, &page),
        Err(Refused(status, why)) => Response::error(status, why),
    }
}

/// Where the partition is read: on this broker, which leads it, or from its leader.
enum Source<'a> {
    Local(&'a Rc<Shard>),
    Leader(Leader),
}

/// Batches read from `Source`, and the high watermark the read saw.
struct Read {
    batches: Vec<bytes::Bytes>,
    high_watermark: i64,
}

impl Source<'_> {
    fn of(
        shard: &Rc<Shard>,
        leader: myelin_replication::types::NodeId,
    ) -> Result<Source<'_>, Refused> {
        if leader == shard.node_id() {
            return Ok(Source::Local(shard));
        }
        if !leader.is_some() {
            return Err(Refused(503, "the partition has no leader".into()));
        }
        let addr = super::report::broker_addr(&shard.metadata(), leader).ok_or_else(|| {
            Refused(
                503,
                format!("no address is known for the leader, broker {}", leader.0),
            )
        })?;
        Ok(Source::Leader(Leader {
            node: leader.0,
            addr,
            peers: super::report::admin_peers(shard),
        }))
    }

    /// The log start offset and the high watermark.
    async fn offsets(&self, q: &MessagesQuery) -> Result<(i64, i64), Refused> {
        match self {
            Source::Local(shard) => {
                let o = shard
                    .partition_offsets(&q.topic, q.partition)
                    .await
                    .map_err(|e| Refused::of(&e))?;
                Ok((o.log_start_offset, o.high_watermark))
            }
            Source::Leader(l) => l
                .offsets(&q.topic, q.partition)
                .await
                .map_err(Refused::from),
        }
    }

    /// The first offset whose record's timestamp is at or after `t`, as ListOffsets answers;
    /// the high watermark when no record is that new.
    async fn offset_for_time(
        &self,
        q: &MessagesQuery,
        t: i64,
        high_watermark: i64,
    ) -> Result<i64, Refused> {
        match self {
            Source::Local(shard) => offset_for_time(shard, q, t, high_watermark).await,
            Source::Leader(l) => {
                let o = l.list_offset(&q.topic, q.partition, t).await?;
                Ok(if o < 0 { high_watermark } else { o })
            }
        }
    }

    /// Up to `max_bytes` of batches from `offset`; not a consumer's fetch.
    async fn read(
        &self,
        q: &MessagesQuery,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Read, Refused> {
        match self {
            Source::Local(shard) => {
                let req = ReadRequest {
                    offset,
                    max_bytes,
                    committed_only: false,
                    current_leader_epoch: -1,
                    // The browser is no consumer: its reads leave durable→fetch to them.
                    reader: Reader::Other,
                };
                let fetched = shard
                    .read(&q.topic, q.partition, req)
                    .await
                    .map_err(|f| Refused::of(&f.error))?;
                Ok(Read {
                    batches: fetched.batches,
                    high_watermark: fetched.high_watermark,
                })
            }
            Source::Leader(l) => {
                let r = l.fetch(&q.topic, q.partition, offset, max_bytes).await?;
                Ok(Read {
                    batches: vec![r.records],
                    high_watermark: r.high_watermark,
                })
            }
        }
    }
}

impl From<super::leader::Failed> for Refused {
    fn from((status, why): super::leader::Failed) -> Refused {
        Refused(status, why)
    }
}

async fn browse(shard: &Rc<Shard>, q: &MessagesQuery) -> Result<Value, Refused> {
    let leader = {
        let image = shard.metadata();
        let topic = image
            .topic(&q.topic)
            .ok_or_else(|| Refused(404, format!("unknown topic {}", q.topic)))?;
        let p = usize::try_from(q.partition)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or_else(|| {
                Refused(
                    404,
                    format!(
                        "topic {} has {} partitions; there is no partition {}",
                        q.topic,
                        topic.partitions.len(),
                        q.partition
                    ),
                )
            })?;
        p.leader
    };
    let source = Source::of(shard, leader)?;
    let (log_start, high_watermark) = source.offsets(q).await?;
    let from = match q.start {
        Start::Offset(o) if o < log_start || o > high_watermark => {
            return Err(Refused(
                400,
                format!(
                    "offset {o} is outside [{log_start}, {high_watermark}] \
                     (log start, high watermark)"
                ),
            ))
        }
        Start::Offset(o) => o,
        Start::Timestamp(t) => source.offset_for_time(q, t, high_watermark).await?,
        Start::Newest => high_watermark.saturating_sub(q.limit as i64).max(log_start),
    };
    let page = read_page(&source, q, from, high_watermark).await?;
    let timestamp = match q.start {
        Start::Timestamp(t) => Some(t),
        _ => None,
    };
    Ok(json!({
        "topic": q.topic,
        "partition": q.partition,
        "leader": leader.0,
        "read_from": match source {
            Source::Local(_) => "local",
            Source::Leader(_) => "leader",
        },
        "log_start_offset": log_start,
        "high_watermark": page.high_watermark,
        "start_offset": from,
        "timestamp": timestamp,
        "limit": q.limit,
        "next_offset": page.next_offset,
        "bytes_read": page.bytes_read,
        "messages": page.messages,
    }))
}

/// The first offset whose record's timestamp is at or after `t`, as ListOffsets answers;
/// the high watermark when no record is that new.
async fn offset_for_time(
    shard: &Rc<Shard>,
    q: &MessagesQuery,
    t: i64,
    high_watermark: i64,
) -> Result<i64, Refused> {
    let listed = shard
        .list_offset(&q.topic, q.partition, OffsetQuery::Timestamp(t), -1)
        .await
        .map_err(|e| Refused::of(&e))?;
    match listed {
        ListedOffset::Batch(b) => crate::api::list_offsets::pick_record(b, Some(t))
            .map(|(offset, _)| offset)
            .map_err(|_| Refused(503, "the batch found for that time is corrupt".into())),
        ListedOffset::Offset(o, _) => Ok(o),
        ListedOffset::None => Ok(high_watermark),
    }
}

/// Records read for one page.
struct Page {
    messages: Vec<Value>,
    next_offset: i64,
    high_watermark: i64,
    bytes_read: usize,
}

async fn read_page(
    source: &Source<'_>,
    q: &MessagesQuery,
    from: i64,
    mut high_watermark: i64,
) -> Result<Page, Refused> {
    let mut page = Page {
        messages: Vec::new(),
        next_offset: from,
        high_watermark,
        bytes_read: 0,
    };
    let mut next = from;
    for _ in 0..limits::CONSOLE_READS_MAX {
        if page.messages.len() >= q.limit
            || next >= high_watermark
            || page.bytes_read >= limits::CONSOLE_READ_BYTES_MAX
        {
            break;
        }
        let max_bytes = limits::CONSOLE_READ_BYTES_MAX - page.bytes_read;
        let fetched = source.read(q, next, max_bytes).await?;
        high_watermark = fetched.high_watermark;
        let mut after = next;
        for stored in &fetched.batches {
            page.bytes_read += stored.len();
            after = after.max(collect(stored, from, q.limit, &mut page.messages)?);
        }
        // A read that moved nothing forward would return the same batches again.
        if after <= next {
            break;
        }
        next = after;
    }
    page.high_watermark = high_watermark;
    page.next_offset = match page.messages.last() {
        Some(last) if page.messages.len() >= q.limit => {
            last.get("offset").and_then(Value::as_i64).unwrap_or(next) + 1
        }
        _ => next,
    };
    Ok(page)
}

/// Appends the records at or after `from` in `stored` (one or more whole batches) to
/// `out` until it holds `limit`, skipping transaction markers. Returns the offset after
/// the last whole batch walked; a batch cut short at the end of `stored` ends the walk.
fn collect(stored: &[u8], from: i64, limit: usize, out: &mut Vec<Value>) -> Result<i64, Refused> {
    let corrupt = |e: &dyn std::fmt::Display| Refused(503, format!("corrupt batch: {e}"));
    let mut rest = stored;
    let mut after = i64::MIN;
    while !rest.is_empty() && out.len() < limit {
        let header = BatchHeader::parse(rest).map_err(|e| corrupt(&e))?;
        let Some(batch) = rest.get(..header.total_bytes()) else {
            break;
        };
        rest = rest.get(header.total_bytes()..).unwrap_or_default();
        after = after.max(header.last_offset() + 1);
        if header.is_control() || header.last_offset() < from {
            continue;
        }
        let limit_bytes = myelin_storage::limits::BATCH_BYTES_MAX as usize;
        let (header, section) =
            compression::batch_records(batch, limit_bytes).map_err(|e| corrupt(&e))?;
        let mut failed = None;
        records::for_each(&header, &section, |r| {
            if r.offset < from {
                return true;
            }
            match record_json(&header, &r) {
                Ok(v) => out.push(v),
                Err(e) => {
                    failed = Some(e);
                    return false;
                }
            }
            out.len() < limit
        })
        .map_err(|e| corrupt(&e))?;
        if let Some(e) = failed {
            return Err(corrupt(&e));
        }
    }
    Ok(after)
}

fn record_json(header: &BatchHeader, r: &records::RecordView<'_>) -> Result<Value, StorageError> {
    let mut headers = Vec::new();
    records::for_each_header(r.headers, |k, v| {
        headers.push(json!({
            "key": String::from_utf8_lossy(k),
            "value": payload(v),
        }));
    })?;
    let timestamp_type = if header.attributes & ATTR_LOG_APPEND_TIME != 0 {
        "LogAppendTime"
    } else {
        "CreateTime"
    };
    Ok(json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": timestamp_type,
        "transactional": header.attributes & ATTR_TRANSACTIONAL != 0,
        "key": payload(r.key),
        "value": payload(r.value),
        "headers": headers,
    }))
}

/// Whether `text` reads as text: no control characters but tab, newline and return.
fn is_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// A key, value or header value for the browser: `null`, or its size and its first
/// [`limits::CONSOLE_PREVIEW_BYTES_MAX`] bytes as UTF-8 text when they are text, as hex
/// otherwise.
fn payload(bytes: Option<&[u8]>) -> Value {
    let Some(bytes) = bytes else {
        return Value::Null;
    };
    let cut = bytes.len() > limits::CONSOLE_PREVIEW_BYTES_MAX;
    let shown = bytes
        .get(..limits::CONSOLE_PREVIEW_BYTES_MAX)
        .unwrap_or(bytes);
    let text = match std::str::from_utf8(shown) {
        Ok(t) => Some(t),
        // The cut fell inside a character: show the whole characters before it.
        Err(e) if cut && e.error_len().is_none() => shown
            .get(..e.valid_up_to())
            .and_then(|s| std::str::from_utf8(s).ok()),
        Err(_) => None,
    };
    let (encoding, data) = match text.filter(|t| is_text(t)) {
        Some(t) => ("utf8", t.to_owned()),
        None => ("hex", hex(shown)),
    };
    json!({
        "encoding": encoding,
        "data": data,
        "size": bytes.len(),
        "truncated": cut,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'?'),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn record(offset: i64, headers: &[(&str, Option<&[u8]>)]) -> Record {
        let mut r = Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            // The encoder puts records in one batch while offset − sequence stays the same.
            sequence: offset as i32,
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::from(format!("v{offset}"))),
            headers: Default::default(),
        };
        for (k, v) in headers {
            r.headers.insert(
                StrBytes::from_string((*k).to_owned()),
                v.map(Bytes::copy_from_slice),
            );
        }
        r
    }

    fn batch(records: &[Record], compression: Compression) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, records, &options).unwrap();
        buf.to_vec()
    }

    fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(v, |v, k| &v[*k])
    }

    #[test]
    fn walks_batches_from_an_offset_with_headers_and_compression() {
        let mut stored = batch(
            &[
                record(0, &[]),
                record(1, &[("h", Some(b"x")), ("nil", None)]),
            ],
            Compression::None,
        );
        stored.extend(batch(&[record(2, &[]), record(3, &[])], Compression::Gzip));
        stored.extend(batch(&[record(4, &[]), record(5, &[])], Compression::Lz4));
        let mut out = Vec::new();
        let after = collect(&stored, 1, 4, &mut out).unwrap();
        let offsets: Vec<i64> = out.iter().map(|v| v["offset"].as_i64().unwrap()).collect();
        assert_eq!(offsets, [1, 2, 3, 4]);
        // The walk stopped at the limit, inside the third batch: it was read whole.
        assert_eq!(after, 6);
        assert_eq!(field(&out[0], &["key", "data"]), "k1");
        assert_eq!(field(&out[0], &["value", "encoding"]), "utf8");
        assert_eq!(out[0]["timestamp"], 1_001);
        assert_eq!(out[0]["timestamp_type"], "CreateTime");
        assert_eq!(field(&out[0], &["headers"]).as_array().unwrap().len(), 2);
        assert_eq!(out[0]["headers"][0]["key"], "h");
        assert_eq!(field(&out[0]["headers"][0], &["value", "data"]), "x");
        assert_eq!(out[0]["headers"][1]["value"], Value::Null);
        assert_eq!(field(&out[3], &["value", "data"]), "v4");
    }

    #[test]
    fn a_batch_cut_short_ends_the_walk_and_garbage_is_an_error() {
        let mut stored = batch(&[record(0, &[])], Compression::None);
        let second = batch(&[record(1, &[])], Compression::None);
        stored.extend(&second[..second.len() - 5]);
        let mut out = Vec::new();
        assert_eq!(collect(&stored, 0, 10, &mut out).unwrap(), 1);
        assert_eq!(out.len(), 1);
        let err = collect(&[0xff; 80], 0, 10, &mut Vec::new()).unwrap_err();
        assert_eq!(err.0, 503);
    }

    #[test]
    fn payloads_are_text_or_hex_and_cut() {
        assert_eq!(payload(None), Value::Null);
        let text = payload(Some(b"hello\tworld"));
        assert_eq!(
            (&text["encoding"], &text["data"]),
            (&json!("utf8"), &json!("hello\tworld"))
        );
        let bin = payload(Some(&[0x00, 0xff, 0x10]));
        assert_eq!(
            (&bin["encoding"], &bin["data"]),
            (&json!("hex"), &json!("00ff10"))
        );
        assert_eq!(payload(Some(b"\x00\x01"))["encoding"], "hex");
        // The cut falls inside an "é": the text ends before it.
        let long = format!("a{}", "é".repeat(limits::CONSOLE_PREVIEW_BYTES_MAX));
        let cut = payload(Some(long.as_bytes()));
        assert_eq!(cut["encoding"], "utf8");
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["size"], long.len());
        assert_eq!(
            cut["data"].as_str().unwrap().len(),
            limits::CONSOLE_PREVIEW_BYTES_MAX - 1
        );
        let short = payload(Some(b"abc"));
        assert_eq!(
            (&short["truncated"], &short["size"]),
            (&json!(false), &json!(3))
        );
    }
}
