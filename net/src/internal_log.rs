//! Records of the coordinators' own topics (`__consumer_offsets`, `__transaction_state`):
//! rkyv-archived keys and values behind a format byte, batch building, durable appends, and
//! replaying a whole partition. One place for what both coordinators write and read back.

use crate::codes;
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use myelin_storage::batch::{self, BatchHeader};
use myelin_storage::Log;
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

/// A record for a coordinator batch. Offsets count from 0 within the batch; the sequence
/// keeps offset minus sequence constant (the encoder starts a new batch when it changes) and
/// starts at -1, so the batch is never taken for an idempotent one.
pub fn record(
    offset: i64,
    producer: (i64, i16),
    txn: bool,
    control: bool,
    key: Bytes,
    value: Option<Bytes>,
) -> Record {
    Record {
        transactional: txn,
        control,
        partition_leader_epoch: -1,
        producer_id: producer.0,
        producer_epoch: producer.1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: offset as i32 - 1,
        timestamp: myelin_storage::now_ms(),
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

/// Appends an encoded batch and waits until it is durable.
pub async fn append_durably(log: &Rc<Log>, batch_bytes: Bytes) -> Result<(), i16> {
    let batches = batch::split_batches(batch_bytes, myelin_storage::limits::BATCH_BYTES_MAX)
        .map_err(|e| codes::storage(&e))?;
    let info = log.append(&batches, 0).map_err(|e| codes::storage(&e))?;
    log.commit(&info).await.map_err(|e| codes::storage(&e))
}

/// Calls `f` with every batch of the partition, in order, up to the high watermark.
pub async fn replay(
    log: &Rc<Log>,
    mut f: impl FnMut(&BatchHeader, &Bytes) -> Result<(), i16>,
) -> Result<(), i16> {
    let mut offset = log.offsets().log_start_offset;
    while offset < log.offsets().high_watermark {
        let read = log
            .read(offset, REPLAY_READ_BYTES)
            .await
            .map_err(|e| codes::storage(&e))?;
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
