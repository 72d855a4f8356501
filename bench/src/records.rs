//! Record batches: building the ones a producer sends (through kafka-protocol's
//! `RecordBatchEncoder`) and walking the ones a fetch returns to read each value's send time.
//!
//! Codecs only: nothing here does I/O. The walker reads uncompressed v2 batches in place (it
//! needs only the first 8 bytes of each value, so it builds no `Record`s) and hands compressed
//! batches to `RecordBatchDecoder`.

use crate::limits::VALUE_HEADER_BYTES;
use crate::params::Codec;
use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

/// Size of a v2 batch header up to and including the record count.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Offset of the magic byte in a batch header.
const MAGIC_AT: usize = 16;
/// Offset of the attributes (compression in the low 3 bits, control flag 0x20).
const ATTRIBUTES_AT: usize = 21;
/// Offset of `lastOffsetDelta`.
const LAST_OFFSET_DELTA_AT: usize = 23;
/// The control-batch attribute bit (transaction markers), which carry no user records.
const CONTROL_FLAG: i16 = 0x20;

impl Codec {
    /// kafka-protocol's compression for this codec.
    pub fn compression(self) -> Compression {
        match self {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

/// A value of `len` bytes: the send time (nanoseconds since the Unix epoch, little-endian) then
/// the filler.
pub fn make_value(sent_ns: u64, filler: &[u8], len: usize) -> Bytes {
    let mut v = BytesMut::with_capacity(len);
    v.put_u64_le(sent_ns);
    let rest = len.saturating_sub(VALUE_HEADER_BYTES);
    v.extend_from_slice(filler.get(..rest).unwrap_or(filler));
    v.resize(len, b'x');
    v.freeze()
}

/// Filler for values: letters and digits from a fixed pseudo-random sequence, so compressed
/// runs compress about as much as text does, not to nothing as a run of one byte would.
pub fn filler(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET.get((x % 64) as usize).copied().unwrap_or(b'x')
        })
        .collect()
}

/// The send time carried in a value, if it is long enough to carry one.
pub fn sent_ns(value: &[u8]) -> Option<u64> {
    let head = value.get(..VALUE_HEADER_BYTES)?;
    let mut b = [0u8; VALUE_HEADER_BYTES];
    b.copy_from_slice(head);
    Some(u64::from_le_bytes(b))
}

/// A record for the encoder; `index` is its offset within the batch.
///
/// The encoder starts a new batch wherever `offset - sequence` changes, so the sequence must
/// step with the offset: `index - 1` keeps every record in one batch and makes the batch's base
/// sequence `NO_SEQUENCE` (-1), as a non-idempotent producer's must be.
pub fn record(index: i64, timestamp_ms: i64, key: Option<Bytes>, value: Bytes) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset: index,
        sequence: NO_SEQUENCE.wrapping_add(index as i32),
        timestamp: timestamp_ms,
        key,
        value: Some(value),
        headers: Default::default(),
    }
}

/// Encodes `records` as one v2 batch.
pub fn encode_batch(records: &[Record], codec: Codec) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec.compression(),
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).context("encoding a batch")?;
    Ok(buf.freeze())
}

/// What walking a fetched partition's records found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// The offset after the last complete batch, if there was one.
    pub next_offset: Option<i64>,
    /// User records seen (control batches excluded).
    pub records: u64,
    /// Value bytes of those records.
    pub value_bytes: u64,
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let mut x = [0u8; 8];
    x.copy_from_slice(b.get(at..at + 8)?);
    Some(i64::from_be_bytes(x))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let mut x = [0u8; 4];
    x.copy_from_slice(b.get(at..at + 4)?);
    Some(i32::from_be_bytes(x))
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    let mut x = [0u8; 2];
    x.copy_from_slice(b.get(at..at + 2)?);
    Some(i16::from_be_bytes(x))
}

/// Reads a zigzag varint (Kafka's `varint`/`varlong`) at `*pos`, advancing it.
fn varint(b: &[u8], pos: &mut usize) -> anyhow::Result<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = b.get(*pos) else {
            bail!("record truncated inside a varint");
        };
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    bail!("varint longer than 10 bytes")
}

/// Calls `on_value` with each value of the uncompressed v2 records in `body`.
fn walk_records(body: &[u8], count: i32, on_value: &mut impl FnMut(&[u8])) -> anyhow::Result<u64> {
    let mut pos = 0usize;
    let mut bytes = 0u64;
    for _ in 0..count {
        let len = usize::try_from(varint(body, &mut pos)?).context("negative record length")?;
        let end = pos.checked_add(len).context("record length overflows")?;
        let rec = body.get(pos..end).context("record truncated")?;
        let mut p = 1; // attributes
        varint(rec, &mut p)?; // timestamp delta
        varint(rec, &mut p)?; // offset delta
        let key_len = varint(rec, &mut p)?;
        if key_len > 0 {
            p = p
                .checked_add(key_len as usize)
                .context("key length overflows")?;
        }
        let value_len = varint(rec, &mut p)?;
        if value_len > 0 {
            let value_end = p
                .checked_add(value_len as usize)
                .context("value overflows")?;
            let value = rec.get(p..value_end).context("value truncated")?;
            bytes += value.len() as u64;
            on_value(value);
        }
        pos = end;
    }
    Ok(bytes)
}

/// Walks the record batches of one fetched partition, calling `on_value` for every user
/// record's value. A trailing partial batch (the broker may cut one at `max_bytes`) is left
/// for the next fetch. Legacy (magic 0/1) data is refused: the fetch versions used here always
/// get v2 batches.
pub fn walk_batches(data: &Bytes, on_value: &mut impl FnMut(&[u8])) -> anyhow::Result<Walked> {
    let mut out = Walked::default();
    let mut pos = 0usize;
    while let Some(rest) = data.get(pos..) {
        let (Some(base), Some(len)) = (be_i64(rest, 0), be_i32(rest, 8)) else {
            break;
        };
        let total = 12 + usize::try_from(len).context("negative batch length")?;
        let Some(batch) = rest.get(..total) else {
            break; // partial batch at the end
        };
        let magic = batch
            .get(MAGIC_AT)
            .copied()
            .context("batch header truncated")?;
        if magic != 2 {
            bail!("record batch magic {magic}, expected 2");
        }
        let attributes = be_i16(batch, ATTRIBUTES_AT).context("batch header truncated")?;
        let last_delta = be_i32(batch, LAST_OFFSET_DELTA_AT).context("batch header truncated")?;
        let count = be_i32(batch, BATCH_HEADER_BYTES - 4).context("batch header truncated")?;
        if attributes & CONTROL_FLAG == 0 {
            if attributes & 0x7 == 0 {
                let body = batch.get(BATCH_HEADER_BYTES..).unwrap_or_default();
                out.value_bytes += walk_records(body, count, on_value)?;
            } else {
                let mut one = data.slice(pos..pos + total);
                let set = RecordBatchDecoder::decode(&mut one).context("decoding a batch")?;
                for r in &set.records {
                    if let Some(v) = &r.value {
                        out.value_bytes += v.len() as u64;
                        on_value(v);
                    }
                }
            }
            out.records += u64::try_from(count).unwrap_or(0);
        }
        out.next_offset = Some(base + i64::from(last_delta) + 1);
        pos += total;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, n: usize, codec: Codec) -> Bytes {
        let fill = filler(100);
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let key = Some(Bytes::from(i.to_string()));
                record(
                    i as i64,
                    1_700_000_000_000,
                    key,
                    make_value(1000 + i as u64, &fill, 100),
                )
            })
            .collect();
        let mut b = BytesMut::from(&encode_batch(&records, codec).unwrap()[..]);
        b[..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    #[test]
    fn values_carry_their_send_time() {
        let v = make_value(0x0102_0304_0506_0708, &filler(2000), 1024);
        assert_eq!(v.len(), 1024);
        assert_eq!(sent_ns(&v), Some(0x0102_0304_0506_0708));
        assert_eq!(sent_ns(b"short"), None);
        let short_filler = make_value(7, b"ab", 16);
        assert_eq!(short_filler.len(), 16);
    }

    #[test]
    fn walks_uncompressed_and_compressed_batches() {
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let mut data = BytesMut::new();
            data.extend_from_slice(&batch(0, 3, codec));
            data.extend_from_slice(&batch(3, 5, codec));
            let mut seen = Vec::new();
            let data = data.freeze();
            let w = walk_batches(&data, &mut |v| seen.push(sent_ns(v).unwrap())).unwrap();
            // One batch each, with no producer sequence.
            assert_eq!(&data[53..57], &(-1i32).to_be_bytes(), "{codec:?}");
            assert_eq!(&data[57..61], &3i32.to_be_bytes(), "{codec:?}");
            assert_eq!(w.records, 8, "{codec:?}");
            assert_eq!(w.value_bytes, 800, "{codec:?}");
            assert_eq!(w.next_offset, Some(8), "{codec:?}");
            assert_eq!(
                seen,
                [1000, 1001, 1002, 1000, 1001, 1002, 1003, 1004],
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_partial_trailing_batch_is_left_for_the_next_fetch() {
        let first = batch(10, 2, Codec::None);
        let second = batch(12, 2, Codec::None);
        let mut data = BytesMut::new();
        data.extend_from_slice(&first);
        data.extend_from_slice(&second[..second.len() - 5]);
        let w = walk_batches(&data.freeze(), &mut |_| {}).unwrap();
        assert_eq!((w.records, w.next_offset), (2, Some(12)));
        let w = walk_batches(&second.slice(..30), &mut |_| {}).unwrap();
        assert_eq!(w, Walked::default());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut b = BytesMut::from(&batch(0, 2, Codec::None)[..]);
        b[MAGIC_AT] = 1;
        assert!(walk_batches(&b.freeze(), &mut |_| {}).is_err());
        let mut b = BytesMut::from(&batch(0, 2, Codec::None)[..]);
        b[BATCH_HEADER_BYTES] = 0xff; // a varint that never ends within the record
        let _ = walk_batches(&b.freeze(), &mut |_| {});
        let mut b = BytesMut::from(&batch(0, 2, Codec::None)[..]);
        b[BATCH_HEADER_BYTES - 1] = 9; // more records than the batch holds
        assert!(walk_batches(&b.freeze(), &mut |_| {}).is_err());
    }

    #[test]
    fn zigzag_varints() {
        let mut p = 0;
        assert_eq!(varint(&[0x00], &mut p).unwrap(), 0);
        p = 0;
        assert_eq!(varint(&[0x01], &mut p).unwrap(), -1);
        p = 0;
        assert_eq!(varint(&[0x02], &mut p).unwrap(), 1);
        p = 0;
        assert_eq!(varint(&[0xac, 0x02], &mut p).unwrap(), 150);
        assert_eq!(p, 2);
        p = 0;
        assert!(varint(&[0x80], &mut p).is_err());
    }
}
