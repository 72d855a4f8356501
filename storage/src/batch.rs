//! Kafka v2 record batches: header layout, validation and the in-place patches the broker makes.
//!
//! A batch is stored byte-for-byte as the producer sent it, except for the two fields Kafka
//! places outside the CRC (base offset and partition leader epoch), which the broker assigns.
//! For `LogAppendTime` topics the max timestamp and the timestamp-type attribute are rewritten
//! and the CRC recomputed.

use crate::error::{Result, StorageError};
use bytes::{Bytes, BytesMut};

/// Byte offsets of the v2 batch header fields.
pub(crate) mod layout {
    pub const BASE_OFFSET: usize = 0;
    pub const BATCH_LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORDS_COUNT: usize = 57;
    /// Size of the fixed v2 batch header.
    pub const HEADER_BYTES: usize = 61;
}

pub use layout::HEADER_BYTES;

/// Bytes before the `batch_length` field counts from: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;

/// The only batch format stored on disk.
pub const MAGIC_V2: i8 = 2;

/// Attribute bit: timestamps are the broker's append time.
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: the batch is a control batch (transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;
/// Attribute bits holding the compression codec.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;

// Readers of big-endian fields; callers check the length first, so a short slice (which
// would read as 0) never occurs.
fn be_i64(b: &[u8], at: usize) -> i64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, i64::from_be_bytes)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, i32::from_be_bytes)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, i16::from_be_bytes)
}

/// The fixed-size header of a v2 record batch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the `batch_length` field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 here.
    pub magic: i8,
    /// CRC-32C over attributes..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the header of the batch at the start of `b`. Checks only that the header is
    /// there and self-consistent; [`validate`] checks the whole batch.
    #[allow(clippy::indexing_slicing)] // Every index is below HEADER_BYTES, checked first.
    pub fn parse(b: &[u8]) -> Result<BatchHeader> {
        use layout::*;
        if b.len() < HEADER_BYTES {
            return Err(StorageError::CorruptBatch("shorter than a batch header"));
        }
        let header = BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, BATCH_LENGTH),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            records_count: be_i32(b, RECORDS_COUNT),
        };
        if header.magic != MAGIC_V2 {
            return Err(StorageError::CorruptBatch("unsupported magic"));
        }
        if (header.batch_length as i64) < (HEADER_BYTES - LOG_OVERHEAD) as i64 {
            return Err(StorageError::CorruptBatch("batch length below header size"));
        }
        if header.last_offset_delta < 0 || header.records_count < 0 {
            return Err(StorageError::CorruptBatch("negative record count"));
        }
        Ok(header)
    }

    /// Total bytes of the batch, header included.
    pub fn total_bytes(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// True for transaction markers.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

/// The marker of a control batch: the type field of its first record's key (version i16,
/// type i16); -1 for other batches or an unreadable key.
pub fn control_type(header: &BatchHeader, batch: &[u8]) -> i8 {
    if !header.is_control() {
        return crate::txn::MARKER_NONE;
    }
    let mut marker = crate::txn::MARKER_NONE;
    let _ = crate::records::for_each(header, crate::records::records_section(batch), |r| {
        if let Some(&[_, _, hi, lo]) = r.key {
            marker = i16::from_be_bytes([hi, lo]).clamp(-1, 1) as i8;
        }
        false
    });
    marker
}

/// Computes the batch CRC: CRC-32C from `attributes` to the end.
#[allow(clippy::indexing_slicing)] // Callers pass a whole batch, at least HEADER_BYTES long.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[layout::ATTRIBUTES..])
}

/// Checks that `b` starts with one whole, intact batch of at most `limit` bytes and returns
/// its header. Used on produce and on every batch read back during recovery.
pub fn validate(b: &[u8], limit: u32) -> Result<BatchHeader> {
    let header = BatchHeader::parse(b)?;
    let size = header.total_bytes();
    if size > limit as usize {
        return Err(StorageError::BatchTooLarge { size, limit });
    }
    let Some(batch) = b.get(..size) else {
        return Err(StorageError::CorruptBatch("batch truncated"));
    };
    if compute_crc(batch) != header.crc {
        return Err(StorageError::CorruptBatch("crc mismatch"));
    }
    // Compaction leaves fewer records than offsets in a batch, never more.
    if header.records_count < 0 || header.records_count > header.last_offset_delta + 1 {
        return Err(StorageError::CorruptBatch(
            "record count exceeds the offset delta",
        ));
    }
    Ok(header)
}

/// Splits a produce payload into its batches, validating each. A payload must hold at least
/// one batch and nothing after the last one.
pub fn split_batches(mut payload: Bytes, limit: u32) -> Result<Vec<(BatchHeader, Bytes)>> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        let header = validate(&payload, limit)?;
        // A producer's batch has one record per offset.
        if header.records_count != 0 && header.records_count != header.last_offset_delta + 1 {
            return Err(StorageError::CorruptBatch(
                "record count does not match offset delta",
            ));
        }
        let batch = payload.split_to(header.total_bytes());
        out.push((header, batch));
    }
    if out.is_empty() {
        return Err(StorageError::CorruptBatch("no record batch"));
    }
    Ok(out)
}

/// Copies `batch` with the broker-assigned fields set. With `log_append_time_ms`, the batch
/// is stamped with that time and its CRC recomputed, as Kafka does for `LogAppendTime`
/// topics.
#[allow(clippy::indexing_slicing)] // `batch` was validated: it is at least HEADER_BYTES long.
pub fn stamp(
    batch: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) -> Bytes {
    use layout::*;
    let mut b = BytesMut::from(batch);
    b[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    b[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time_ms {
        let attributes = be_i16(&b, ATTRIBUTES) | ATTR_LOG_APPEND_TIME;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        b[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    b.freeze()
}

/// A record's key and value for [`build`]; `None` is null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Appends `v` as a zigzag varint, as record fields are encoded.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Builds an uncompressed v2 batch of `records`, all at `timestamp`, from no producer (not
/// idempotent), base offset 0. For tools and tests that write logs directly.
#[allow(clippy::indexing_slicing)] // The header is written first: at least HEADER_BYTES long.
pub fn build(records: &[KeyValue<'_>], timestamp: i64) -> Vec<u8> {
    use layout::*;
    let mut b = vec![0u8; HEADER_BYTES];
    let mut body = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        body.clear();
        body.push(0); // attributes
        put_varint(&mut body, 0); // timestamp delta
        put_varint(&mut body, i as i64); // offset delta
        for field in [key, value] {
            match field {
                Some(f) => {
                    put_varint(&mut body, f.len() as i64);
                    body.extend_from_slice(f);
                }
                None => put_varint(&mut body, -1),
            }
        }
        put_varint(&mut body, 0); // headers
        put_varint(&mut b, body.len() as i64);
        b.extend_from_slice(&body);
    }
    let n = records.len() as i32;
    let length = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    b[MAGIC] = MAGIC_V2 as u8;
    b[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4].copy_from_slice(&(n - 1).max(0).to_be_bytes());
    b[BASE_TIMESTAMP..BASE_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    b[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    b[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&(-1i64).to_be_bytes());
    b[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&(-1i16).to_be_bytes());
    b[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&(-1i32).to_be_bytes());
    b[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&n.to_be_bytes());
    let crc = compute_crc(&b);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal valid batch with `n` empty-bodied records claimed.
    pub(crate) fn sample(n: i32, ts: i64) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_BYTES];
        b[8..12].copy_from_slice(&((HEADER_BYTES - LOG_OVERHEAD) as i32).to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&(n - 1).to_be_bytes());
        b[27..35].copy_from_slice(&ts.to_be_bytes());
        b[35..43].copy_from_slice(&ts.to_be_bytes());
        b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        b[57..61].copy_from_slice(&n.to_be_bytes());
        let crc = compute_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn validates_and_rejects_flipped_bits() {
        let b = sample(3, 1000);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        for i in 21..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert!(validate(&bad, 1 << 20).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn stamp_keeps_crc_valid() {
        let b = sample(2, 5);
        let s = stamp(&b, 42, 7, Some(99));
        let h = validate(&s, 1 << 20).unwrap();
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.max_timestamp),
            (42, 7, 99)
        );
        assert!(h.attributes & ATTR_LOG_APPEND_TIME != 0);
    }

    #[test]
    fn split_rejects_trailing_garbage_and_empty() {
        let mut two = sample(1, 1);
        two.extend(sample(2, 2));
        assert_eq!(
            split_batches(Bytes::from(two.clone()), 1 << 20)
                .unwrap()
                .len(),
            2
        );
        two.push(0);
        assert!(split_batches(Bytes::from(two), 1 << 20).is_err());
        assert!(split_batches(Bytes::new(), 1 << 20).is_err());
    }
}
