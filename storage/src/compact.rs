//! Log compaction's decisions, apart from its I/O: which key's last record is where, and
//! what is left of a batch once the records that a later one replaces are gone.
//!
//! Offsets never change: a cleaned batch keeps its header (base offset, last offset delta,
//! producer fields) and loses only records, so a batch may hold fewer records than offsets.
//! A compressed batch that loses records is written back uncompressed: cleaning trades some
//! disk for never recompressing on the shard's core.

use crate::batch::{self, layout, BatchHeader, ATTR_COMPRESSION_MASK};
use crate::compression;
use crate::error::{Result, StorageError};
use crate::records;
use std::collections::HashMap;

/// Largest records section compaction decompresses for one batch.
const DECOMPRESSED_BYTES_MAX: usize = 256 << 20;

/// The offset of the last record of each key, over the part of the log being cleaned.
#[derive(Default)]
pub struct KeyMap {
    latest: HashMap<Vec<u8>, i64>,
}

impl KeyMap {
    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// True when no key was seen.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Takes the records of one data batch into account (batches in offset order).
    pub fn add(&mut self, batch: &[u8]) -> Result<()> {
        let (header, section) = decompressed(batch)?;
        records::for_each(&header, &section, |r| {
            if let Some(key) = r.key {
                match self.latest.get_mut(key) {
                    Some(at) => *at = r.offset,
                    None => {
                        self.latest.insert(key.to_vec(), r.offset);
                    }
                }
            }
            true
        })
    }
}

fn decompressed(batch: &[u8]) -> Result<(BatchHeader, Vec<u8>)> {
    compression::batch_records(batch, DECOMPRESSED_BYTES_MAX)
        .map_err(|_| StorageError::CorruptBatch("batch does not decompress"))
}

/// What cleaning does to one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleaned {
    /// Every record stays: the batch is copied as it is.
    Keep,
    /// No record stays and nothing needs the batch: it goes.
    Drop,
    /// Some records stay (or none, but the batch must stay as a producer's last): the
    /// batch rewritten with just them.
    Rewrite(Vec<u8>),
}

/// Cleans one data batch: a record stays if it is its key's last, and, when it is a
/// tombstone (null value), only while its batch is newer than `tombstone_horizon_ms`.
/// Records without a key stay. With `keep_empty`, a batch left without records is kept
/// empty, so the producer state it carries survives a restart.
pub fn clean_batch(
    batch: &[u8],
    map: &KeyMap,
    tombstone_horizon_ms: i64,
    keep_empty: bool,
) -> Result<Cleaned> {
    let (header, section) = decompressed(batch)?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut total = 0usize;
    let tombstones_expired = header.max_timestamp < tombstone_horizon_ms;
    records::for_each(&header, &section, |r| {
        let last = r.key.is_none_or(|k| map.latest.get(k) == Some(&r.offset));
        let keep = last && (r.value.is_some() || !tombstones_expired);
        if keep {
            kept.push(r.raw);
        }
        total += 1;
        true
    })?;
    if kept.len() == total {
        return Ok(Cleaned::Keep);
    }
    if kept.is_empty() && !keep_empty {
        return Ok(Cleaned::Drop);
    }
    Ok(Cleaned::Rewrite(rebuild(batch, &header, &kept)))
}

/// The batch `original` with only `records` (raw, uncompressed), its header otherwise kept.
#[allow(clippy::indexing_slicing)] // `original` was validated: at least HEADER_BYTES long.
fn rebuild(original: &[u8], header: &BatchHeader, records: &[&[u8]]) -> Vec<u8> {
    use layout::*;
    let body: usize = records.iter().map(|r| r.len()).sum();
    let mut b = Vec::with_capacity(HEADER_BYTES + body);
    b.extend_from_slice(&original[..HEADER_BYTES]);
    for r in records {
        b.extend_from_slice(r);
    }
    let length = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = header.attributes & !ATTR_COMPRESSION_MASK;
    b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    b[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&(records.len() as i32).to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}
