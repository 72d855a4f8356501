//! Records of the coordinators' own topics (`__consumer_offsets`, `__transaction_state`):
//! rkyv-archived keys and values behind a format byte, batch building, durable appends, and
//! replaying a whole partition. One place for what both coordinators write and read back.

use crate::codes;
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use myelin_replication::Partition;
use myelin_storage::batch::BatchHeader;
use rkyv::{Archive, Deserialize, Serialize};
use std::rc::Rc;

/// Format version written in front of every key and value.
const FORMAT_V1: u8 = 1;

/// Bytes read per step when a coordinator replays a partition on start-up.
pub const REPLAY_READ_BYTES: usize = 1 << 20;

/// Archives `value` behind the format byte.
pub fn encode<T>(value: &T) -> Result<Bytes, i16>
where
    T: for<'a> Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    let body =
        rkyv::to_bytes::<rkyv::rancor::Error>(value).map_err(|_| codes::UNKNOWN_SERVER_ERROR)?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

/// Validates and decodes what [`encode`] wrote; `None` for anything else.
pub fn decode<T>(bytes: &[u8]) -> Option<T>
where
    T: Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    let (&version, body) = bytes.split_first()?;
    if version != FORMAT_V1 {
        return None;
    }
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<T, rkyv::rancor::Error>(&aligned).ok()
}

/// What kind of record a coordinator writes, and when.
#[derive(Debug, Clone, Copy)]
pub struct RecordFlags {
    /// Part of a transaction.
    pub transactional: bool,
    /// A control record (a transaction marker).
    pub control: bool,
    /// The record's timestamp, from the shard's clock.
    pub timestamp_ms: i64,
}

impl RecordFlags {
    /// A plain record written at `timestamp_ms`.
    pub fn plain(timestamp_ms: i64) -> RecordFlags {
        RecordFlags {
            transactional: false,
            control: false,
            timestamp_ms,
        }
    }
}

/// A record for a coordinator batch. Offsets count from 0 within the batch; the sequence
/// keeps offset minus sequence constant (the encoder starts a new batch when it changes) and
/// starts at -1, so the batch is never taken for an idempotent one.
pub fn record(
    offset: i64,
    producer: (i64, i16),
    flags: RecordFlags,
    key: Bytes,
    value: Option<Bytes>,
) -> Record {
    Record {
        transactional: flags.transactional,
        control: flags.control,
        partition_leader_epoch: -1,
        producer_id: producer.0,
        producer_epoch: producer.1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: offset as i32 - 1,
        timestamp: flags.timestamp_ms,
        key: Some(key),
        value,
        headers: Default::default(),
    }
}

/// Encodes records as one uncompressed v2 batch.
pub fn encode_batch(records: &[Record]) -> Result<Bytes, i16> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options)
        .map_err(|_| codes::UNKNOWN_SERVER_ERROR)?;
    Ok(buf.freeze())
}

/// Appends an encoded batch to the coordinator's own partition and waits until it is
/// committed.
pub async fn append_committed(partition: &Rc<Partition>, batch_bytes: Bytes) -> Result<(), i16> {
    partition
        .append_committed(batch_bytes)
        .await
        .map(|_| ())
        .map_err(|e| codes::partition(&e))
}

/// Calls `f` with every batch of the partition up to its log end, in order.
pub async fn replay(
    partition: &Rc<Partition>,
    mut f: impl FnMut(&BatchHeader, &Bytes) -> Result<(), i16>,
) -> Result<(), i16> {
    let mut offset = partition.offsets().log_start_offset;
    while offset < partition.offsets().log_end_offset {
        let read = partition
            .read_for_replay(offset, REPLAY_READ_BYTES)
            .await
            .map_err(|e| codes::partition(&e))?;
        if read.batches.is_empty() {
            break;
        }
        for b in read.batches {
            let header = BatchHeader::parse(&b).map_err(|e| codes::storage(&e))?;
            offset = header.last_offset() + 1;
            f(&header, &b)?;
        }
    }
    Ok(())
}
