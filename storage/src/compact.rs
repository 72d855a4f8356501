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

/// The indices (within the batch, from 0) of a data batch's records without a key, which a
/// compacted topic refuses (they could never be compacted away); empty when every record
/// has one. At most one entry per record, so bounded by the batch size.
pub fn keyless_records(batch: &[u8]) -> Result<Vec<i32>> {
    let (header, section) = decompressed(batch)?;
    let mut keyless = Vec::new();
    let mut index: i32 = 0;
    records::for_each(&header, &section, |r| {
        if r.key.is_none() {
            keyless.push(index);
        }
        index = index.saturating_add(1);
        true
    })?;
    Ok(keyless)
}

fn decompressed(batch: &[u8]) -> Result<(BatchHeader, Vec<u8>)> {
    // The bound every decompression of a stored batch has. A compacted topic checks its
    // batches on produce with it too, so whatever it stores, compaction can read.
    compression::batch_records(batch, crate::limits::BATCH_BYTES_MAX as usize)
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

/// Paces compaction's I/O to a rate: after each read or write, waits until the bytes done so
/// far fit the rate since the pass began.
pub struct Throttle {
    bytes_per_s: u64,
    started: std::time::Instant,
    spent: u64,
}

impl Throttle {
    /// A pace of `bytes_per_s`; 0 means unpaced.
    pub fn new(bytes_per_s: u64) -> Throttle {
        Throttle {
            bytes_per_s,
            started: std::time::Instant::now(),
            spent: 0,
        }
    }

    /// How long to wait after `spent` bytes in `elapsed`, at `bytes_per_s`.
    pub fn delay(
        bytes_per_s: u64,
        spent: u64,
        elapsed: std::time::Duration,
    ) -> std::time::Duration {
        if bytes_per_s == 0 {
            return std::time::Duration::ZERO;
        }
        let due = std::time::Duration::from_secs_f64(spent as f64 / bytes_per_s as f64);
        due.saturating_sub(elapsed)
    }

    /// Counts `bytes` of I/O and waits if the pass is ahead of its pace.
    pub async fn spend(&mut self, bytes: u64) {
        self.spent += bytes;
        let wait = Self::delay(self.bytes_per_s, self.spent, self.started.elapsed());
        if !wait.is_zero() {
            glommio::timer::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn throttle_waits_only_when_ahead_of_its_pace() {
        let rate = 1 << 20;
        assert_eq!(
            Throttle::delay(rate, 1 << 20, Duration::from_secs(2)),
            Duration::ZERO
        );
        assert_eq!(
            Throttle::delay(rate, 2 << 20, Duration::from_millis(500)),
            Duration::from_millis(1500)
        );
        assert_eq!(Throttle::delay(0, u64::MAX, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn keyless_records_are_found_by_index() {
        let v: Option<&[u8]> = Some(b"v");
        let keyed = crate::batch::build(&[(Some(b"a"), v), (Some(b"b"), None)], 1);
        assert_eq!(keyless_records(&keyed).unwrap(), Vec::<i32>::new());
        let mixed =
            crate::batch::build(&[(Some(b"a"), v), (None, v), (Some(b"c"), v), (None, v)], 1);
        assert_eq!(keyless_records(&mixed).unwrap(), vec![1, 3]);
        assert!(keyless_records(&mixed[..mixed.len() - 1]).is_err());
    }
}
