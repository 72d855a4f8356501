//! Record formats older than v2: magic 0 and 1 message sets, as clients that predate Kafka
//! 0.11 (segmentio/kafka-go 0.2, old librdkafka) still write and read them.
//!
//! Produce v0–2 payloads are up-converted to one v2 batch before they reach the log; Fetch
//! v0–3 responses are down-converted from the stored v2 batches (magic 0 for v0–1, magic 1
//! for v2–3), as Kafka 3.x does. Headers do not exist before v2 and are dropped on the way
//! down. Every decompression here is bounded, so a small compressed payload cannot expand
//! into unbounded memory.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use myelin_storage::batch::BatchHeader;
use myelin_storage::compression::{self, Codec, DecompressError};
use myelin_storage::records;

/// Why a payload could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The bytes are not a well-formed message set or batch.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Decompressed, the data would exceed the limit.
    #[error("decompressed size exceeds {0} bytes")]
    TooLarge(usize),
}

fn corrupt(e: impl std::fmt::Display) -> LegacyError {
    LegacyError::Corrupt(e.to_string())
}

impl From<DecompressError> for LegacyError {
    fn from(e: DecompressError) -> Self {
        match e {
            DecompressError::Corrupt(m) => LegacyError::Corrupt(m),
            DecompressError::TooLarge(n) => LegacyError::TooLarge(n),
        }
    }
}

/// The storage engine's codec for a kafka-protocol one.
fn codec(c: Compression) -> Codec {
    match c {
        Compression::None => Codec::None,
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    }
}

/// Decompresses `data` with `codec`, producing at most `limit` bytes.
pub fn decompress(c: Compression, data: &[u8], limit: usize) -> Result<Bytes, LegacyError> {
    Ok(Bytes::from(compression::decompress(codec(c), data, limit)?))
}

/// The header of a stored v2 batch and its records section, decompressed (bounded).
pub fn batch_records(batch: &[u8], limit: usize) -> Result<(BatchHeader, Bytes), LegacyError> {
    let (header, records) = compression::batch_records(batch, limit)?;
    Ok((header, Bytes::from(records)))
}

/// Byte offsets in a legacy message entry.
const ENTRY_OFFSET_BYTES: usize = 8;
const ENTRY_CRC_BYTES: usize = 4;

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LegacyError> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| corrupt("message truncated"))?;
        self.0 = tail;
        Ok(head)
    }
    fn i8(&mut self) -> Result<i8, LegacyError> {
        Ok(self.take(1)?.first().map_or(0, |b| *b as i8))
    }
    fn i32(&mut self) -> Result<i32, LegacyError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().map_err(corrupt)?,
        ))
    }
    fn i64(&mut self) -> Result<i64, LegacyError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().map_err(corrupt)?,
        ))
    }
    fn bytes(&mut self) -> Result<Option<Bytes>, LegacyError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(Bytes::copy_from_slice(self.take(n as usize)?))),
            _ => Err(corrupt("negative length")),
        }
    }
}

/// One decoded legacy message (key, value, timestamp), before offsets are assigned.
struct Message {
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Reads the messages of a message set, unwrapping compressed wrapper messages. `depth`
/// stops a wrapper nested in a wrapper (Kafka allows one level).
fn read_messages(
    set: &[u8],
    limit: usize,
    depth: u8,
    out: &mut Vec<Message>,
) -> Result<(), LegacyError> {
    let mut cur = Cursor(set);
    while !cur.0.is_empty() {
        cur.take(ENTRY_OFFSET_BYTES)?;
        let size = cur.i32()?;
        if size < (ENTRY_CRC_BYTES + 2) as i32 {
            return Err(corrupt("message size too small"));
        }
        let body = cur.take(size as usize)?;
        let (crc, rest) = body
            .split_at_checked(ENTRY_CRC_BYTES)
            .ok_or_else(|| corrupt("no crc"))?;
        let crc = u32::from_be_bytes(crc.try_into().map_err(corrupt)?);
        if kafka_protocol::records::IEEE.checksum(rest) != crc {
            return Err(corrupt("message crc mismatch"));
        }
        let mut m = Cursor(rest);
        let magic = m.i8()?;
        let attributes = m.i8()?;
        let timestamp = match magic {
            0 => -1,
            1 => m.i64()?,
            _ => return Err(corrupt("unknown magic")),
        };
        let key = m.bytes()?;
        let value = m.bytes()?;
        let codec = match attributes & 0x07 {
            0 => None,
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 if magic == 1 => Some(Compression::Lz4),
            _ => return Err(corrupt("unsupported codec")),
        };
        match codec {
            None => out.push(Message {
                timestamp,
                key,
                value,
            }),
            Some(_) if depth > 0 => return Err(corrupt("nested compressed wrapper")),
            Some(codec) => {
                let inner = decompress(codec, value.as_deref().unwrap_or_default(), limit)?;
                read_messages(&inner, limit, depth + 1, out)?;
            }
        }
        if out.len() > limit {
            return Err(LegacyError::TooLarge(limit));
        }
    }
    Ok(())
}

/// A plain (non-transactional, no headers) record for the crate's encoder.
fn plain_record(
    offset: i64,
    sequence: i32,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// Converts a magic 0/1 message set from Produce v0–2 into one v2 record batch (base offset
/// 0, uncompressed), for the log. `limit` bounds the decompressed size.
pub fn up_convert(message_set: &[u8], limit: usize) -> Result<Bytes, LegacyError> {
    let mut messages = Vec::new();
    read_messages(message_set, limit, 0, &mut messages)?;
    if messages.is_empty() {
        return Err(corrupt("empty message set"));
    }
    // A v2 batch stores timestamps as deltas the encoder keeps within i32; messages further
    // apart than that (about 24 days) go into batches of their own.
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    let mut run: Vec<Record> = Vec::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for m in messages {
        let (l, h) = (lo.min(m.timestamp), hi.max(m.timestamp));
        if !run.is_empty() && h.saturating_sub(l) > i32::MAX as i64 {
            RecordBatchEncoder::encode(&mut buf, &run, &options).map_err(corrupt)?;
            run.clear();
            (lo, hi) = (m.timestamp, m.timestamp);
        } else {
            (lo, hi) = (l, h);
        }
        // The encoder starts a new batch when offset minus sequence changes; a constant
        // difference with -1 first keeps one batch with base sequence -1.
        let i = run.len();
        run.push(plain_record(
            i as i64,
            i as i32 - 1,
            m.timestamp,
            m.key,
            m.value,
        ));
    }
    RecordBatchEncoder::encode(&mut buf, &run, &options).map_err(corrupt)?;
    Ok(buf.freeze())
}

/// Converts stored v2 batches into a message set of `magic` (0 or 1) for Fetch v0–3:
/// records before `from_offset` and control batches are left out, and the set stops before
/// `max_bytes` (but always holds at least one message).
pub fn down_convert(
    batches: &[Bytes],
    magic: i8,
    from_offset: i64,
    max_bytes: usize,
    limit: usize,
) -> Result<Bytes, LegacyError> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: magic,
        compression: Compression::None,
    };
    for stored in batches {
        let (header, section) = batch_records(stored, limit)?;
        if header.is_control() {
            continue;
        }
        let mut failure = None;
        let mut full = false;
        records::for_each(&header, &section, |r| {
            if r.offset < from_offset {
                return true;
            }
            let key = r.key.map(|k| section.slice_ref(k));
            let record = plain_record(
                r.offset,
                -1,
                r.timestamp,
                key,
                r.value.map(|v| section.slice_ref(v)),
            );
            let mut one = BytesMut::new();
            if let Err(e) = RecordBatchEncoder::encode(&mut one, std::iter::once(&record), &options)
            {
                failure = Some(corrupt(e));
                return false;
            }
            // The legacy encoder writes offset 0; a fetch answer carries absolute offsets.
            if let Some(offset) = one.get_mut(..ENTRY_OFFSET_BYTES) {
                offset.copy_from_slice(&r.offset.to_be_bytes());
            }
            if !out.is_empty() && out.len() + one.len() > max_bytes {
                full = true;
                return false;
            }
            out.extend_from_slice(&one);
            true
        })
        .map_err(corrupt)?;
        if let Some(e) = failure {
            return Err(e);
        }
        if full {
            break;
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn record(offset: i64, value: &str) -> Record {
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32 - 1,
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        }
    }

    fn legacy_set(magic: i8, compression: Compression, n: i64) -> Bytes {
        let records: Vec<Record> = (0..n).map(|i| record(i, &format!("v{i}"))).collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: magic,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn up_converts_plain_and_compressed_sets() {
        for (magic, codec) in [
            (0, Compression::None),
            (1, Compression::None),
            (1, Compression::Gzip),
            (1, Compression::Snappy),
            (1, Compression::Lz4),
            (0, Compression::Gzip),
        ] {
            let v2 = up_convert(&legacy_set(magic, codec, 5), 1 << 20).unwrap();
            let header = myelin_storage::batch::validate(&v2, 1 << 20).unwrap();
            assert_eq!(header.records_count, 5, "{magic} {codec:?}");
            let (h, section) = batch_records(&v2, 1 << 20).unwrap();
            let mut seen = Vec::new();
            records::for_each(&h, &section, |r| {
                seen.push((r.offset, r.timestamp, r.value.map(|v| v.to_vec())));
                true
            })
            .unwrap();
            let expected_ts = if magic == 0 { -1 } else { 1_003 };
            assert_eq!(seen[3], (3, expected_ts, Some(b"v3".to_vec())));
        }
    }

    #[test]
    fn down_converts_from_an_offset_within_a_budget() {
        let mut v2 = BytesMut::new();
        let records: Vec<Record> = (10..20).map(|i| record(i, "value")).collect();
        RecordBatchEncoder::encode(
            &mut v2,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::Lz4,
            },
        )
        .unwrap();
        let v2 = v2.freeze();
        let set = down_convert(std::slice::from_ref(&v2), 1, 13, 1 << 20, 1 << 20).unwrap();
        let mut buf = set.clone();
        let decoded = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        let offsets: Vec<i64> = decoded
            .iter()
            .flat_map(|s| s.records.iter().map(|r| r.offset))
            .collect();
        assert_eq!(offsets, (13..20).collect::<Vec<_>>());
        assert_eq!(decoded[0].version, 1);
        assert_eq!(decoded[0].records[0].timestamp, 1_013);
        // A budget of one byte still returns the first message, and only it.
        let mut one = down_convert(&[v2], 0, 13, 1, 1 << 20).unwrap();
        let decoded = RecordBatchDecoder::decode_all(&mut one).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!((decoded[0].version, decoded[0].records[0].offset), (0, 13));
    }

    #[test]
    fn hostile_payloads_are_errors() {
        assert!(up_convert(b"", 1 << 20).is_err());
        assert!(up_convert(&[0u8; 30], 1 << 20).is_err());
        let mut set = legacy_set(1, Compression::None, 2).to_vec();
        let n = set.len();
        set[n - 1] ^= 1;
        assert!(up_convert(&set, 1 << 20).is_err(), "crc");
        // A gzip bomb: 64 MiB of zeros compressed to a few KiB.
        let zeros = vec![0u8; 64 << 20];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
        let bomb = enc.finish().unwrap();
        assert!(matches!(
            decompress(Compression::Gzip, &bomb, 1 << 20),
            Err(LegacyError::TooLarge(_))
        ));
        assert!(decompress(
            Compression::Snappy,
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
            1 << 20
        )
        .is_err());
    }
}
