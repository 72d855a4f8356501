//! Reading the records inside a v2 batch: offsets, timestamps, keys, values and headers,
//! without copying. Used where the broker must look inside a batch (timestamp lookups,
//! down-conversion for old clients, the admin console's message browser); the produce and
//! fetch paths never do.
//!
//! Each record is `length varint, attributes i8, timestamp delta varlong, offset delta varint,
//! key, value, headers`, with zigzag varints; a record is skipped by its length, so headers
//! are parsed only when [`for_each_header`] is asked to.

use crate::batch::{BatchHeader, HEADER_BYTES};
use crate::error::{Result, StorageError};

/// One record, borrowed from the batch bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Absolute offset.
    pub offset: i64,
    /// Absolute timestamp (the batch's max timestamp for `LogAppendTime` batches).
    pub timestamp: i64,
    /// Key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// The headers section as stored (count, then each header), for [`for_each_header`].
    pub headers: &'a [u8],
    /// The whole record as stored, length prefix included: what compaction copies.
    pub raw: &'a [u8],
}

fn bad(what: &'static str) -> StorageError {
    StorageError::CorruptBatch(what)
}

/// Reads a zigzag varint of at most 10 bytes.
fn varlong(b: &mut &[u8]) -> Result<i64> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or(bad("record truncated"))?;
        *b = rest;
        raw |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(bad("varint too long"))
}

fn bytes<'a>(b: &mut &'a [u8]) -> Result<Option<&'a [u8]>> {
    match varlong(b)? {
        -1 => Ok(None),
        n if n >= 0 => {
            let (head, tail) = b
                .split_at_checked(n as usize)
                .ok_or(bad("record field truncated"))?;
            *b = tail;
            Ok(Some(head))
        }
        _ => Err(bad("negative field length")),
    }
}

/// The records section of an uncompressed batch (everything after the header).
pub fn records_section(batch: &[u8]) -> &[u8] {
    batch.get(HEADER_BYTES..).unwrap_or_default()
}

/// Calls `f` for each record of a batch whose (decompressed) records section is `records`,
/// in order, stopping early when `f` returns `false`. At most `header.records_count` records
/// are read.
pub fn for_each<'a>(
    header: &BatchHeader,
    mut records: &'a [u8],
    mut f: impl FnMut(RecordView<'a>) -> bool,
) -> Result<()> {
    let log_append_time = header.attributes & crate::batch::ATTR_LOG_APPEND_TIME != 0;
    for _ in 0..header.records_count {
        let whole = records;
        let len = varlong(&mut records)?;
        let len = usize::try_from(len).map_err(|_| bad("negative record length"))?;
        let (mut r, rest) = records
            .split_at_checked(len)
            .ok_or(bad("record truncated"))?;
        records = rest;
        let raw = whole.get(..whole.len() - rest.len()).unwrap_or_default();
        r = r.get(1..).ok_or(bad("empty record"))?; // attributes, unused in v2
        let timestamp_delta = varlong(&mut r)?;
        let offset_delta = varlong(&mut r)?;
        let key = bytes(&mut r)?;
        let value = bytes(&mut r)?;
        let timestamp = if log_append_time {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(timestamp_delta)
        };
        let view = RecordView {
            offset: header.base_offset.wrapping_add(offset_delta),
            timestamp,
            key,
            value,
            headers: r,
            raw,
        };
        if !f(view) {
            break;
        }
    }
    Ok(())
}

/// Calls `f` with each header's key and value (`None` for a null value) in a record's
/// headers section, in order. A count larger than the section could hold is refused before
/// anything is read, and a section with bytes left over after the last header is corrupt.
pub fn for_each_header<'a>(
    mut headers: &'a [u8],
    mut f: impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Result<()> {
    let count = varlong(&mut headers)?;
    // Each header takes at least two bytes: an empty key's length and a null value's.
    let fits = usize::try_from(count).is_ok_and(|n| n <= headers.len() / 2);
    if !fits {
        return Err(bad("bad header count"));
    }
    for _ in 0..count {
        let key = bytes(&mut headers)?.ok_or(bad("null header key"))?;
        let value = bytes(&mut headers)?;
        f(key, value);
    }
    if !headers.is_empty() {
        return Err(bad("bytes after the last header"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(v: i64, out: &mut Vec<u8>) {
        crate::batch::put_varint(out, v);
    }

    fn record(
        ts_delta: i64,
        off_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        null_header: bool,
    ) -> Vec<u8> {
        let mut body = vec![0u8];
        zigzag(ts_delta, &mut body);
        zigzag(off_delta, &mut body);
        for field in [key, value] {
            match field {
                None => zigzag(-1, &mut body),
                Some(b) => {
                    zigzag(b.len() as i64, &mut body);
                    body.extend_from_slice(b);
                }
            }
        }
        zigzag(i64::from(null_header), &mut body);
        if null_header {
            zigzag(1, &mut body);
            body.push(b'h');
            zigzag(-1, &mut body);
        }
        let mut out = Vec::new();
        zigzag(body.len() as i64, &mut out);
        out.extend(body);
        out
    }

    fn header(count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 100,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 5_000,
            max_timestamp: 5_002,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        }
    }

    #[test]
    fn walks_records_with_null_fields_and_headers() {
        let mut section = record(0, 0, Some(b"k0"), Some(b"v0"), false);
        section.extend(record(2, 1, None, None, true));
        let mut seen = Vec::new();
        for_each(&header(2), &section, |r| {
            seen.push(r);
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (
                seen[0].offset,
                seen[0].timestamp,
                seen[0].key,
                seen[0].value
            ),
            (100, 5_000, Some(&b"k0"[..]), Some(&b"v0"[..]))
        );
        assert_eq!(
            (
                seen[1].offset,
                seen[1].timestamp,
                seen[1].key,
                seen[1].value
            ),
            (101, 5_002, None, None)
        );
        let mut headers = Vec::new();
        for r in &seen {
            for_each_header(r.headers, |k, v| headers.push((r.offset, k, v))).unwrap();
        }
        assert_eq!(headers, vec![(101, &b"h"[..], None)]);
        assert!(for_each_header(&[0x02], |_, _| ()).is_err());
        assert!(for_each_header(&[0x01, 0x02], |_, _| ()).is_err());
        assert!(for_each_header(&[0x00, 0x00], |_, _| ()).is_err());
        let cut = &section[..section.len() - 3];
        assert!(for_each(&header(2), cut, |_| true).is_err());
        assert!(for_each(&header(2), &[0xff; 12], |_| true).is_err());
    }
}
