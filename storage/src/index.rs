//! Batch index: one entry per record batch, mapping offsets and timestamps to file positions.
//!
//! A sealed segment's index is written next to it as an rkyv archive (`.index`) and read back
//! in place, validated, on start-up; the active segment's index is rebuilt by the recovery
//! scan. Every batch gets an entry, so an entry doubles as the time index (its
//! `max_timestamp`).

use crate::error::{Result, StorageError};
use rkyv::{Archive, Deserialize, Serialize};

/// Where one batch lives and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct IndexEntry {
    /// First offset of the batch.
    pub base_offset: i64,
    /// Last offset of the batch.
    pub last_offset: i64,
    /// Byte position of the batch in its segment file.
    pub position: u64,
    /// Size of the batch in bytes.
    pub size: u32,
    /// Largest timestamp of the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Batch attributes (transactional and control bits among them).
    pub attributes: i16,
    /// For a control batch, its marker (`txn::MARKER_COMMIT` or `MARKER_ABORT`), else -1.
    pub control_type: i8,
}

impl IndexEntry {
    /// True for a batch inside a transaction (data or marker).
    pub fn is_transactional(&self) -> bool {
        self.attributes & crate::batch::ATTR_TRANSACTIONAL != 0
    }

    /// The entry for a batch with `header` (bytes `batch`) written at `position`.
    pub fn for_batch(
        header: &crate::batch::BatchHeader,
        batch: &[u8],
        base_offset: i64,
        position: u64,
        max_timestamp: i64,
    ) -> IndexEntry {
        IndexEntry {
            base_offset,
            last_offset: base_offset + header.last_offset_delta as i64,
            position,
            size: header.total_bytes() as u32,
            max_timestamp,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            attributes: header.attributes,
            control_type: crate::batch::control_type(header, batch),
        }
    }

    /// Byte position just past the batch.
    pub fn end(&self) -> u64 {
        self.position + self.size as u64
    }
}

/// The index file of a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct SegmentIndex {
    /// Base offset of the segment the index describes.
    pub base_offset: i64,
    /// Logical bytes of the segment (the file may be padded to the DMA alignment).
    pub logical_bytes: u64,
    /// One entry per batch, in offset order.
    pub entries: Vec<IndexEntry>,
}

impl SegmentIndex {
    /// Serializes the index for writing to disk.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map(|v| v.to_vec())
            .map_err(|e| StorageError::BadMetadata(e.to_string()))
    }

    /// Validates and decodes an index read from disk. Any inconsistency is an error, and the
    /// caller rebuilds the index by scanning the segment.
    pub fn from_bytes(bytes: &[u8]) -> Result<SegmentIndex> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let index = rkyv::from_bytes::<SegmentIndex, rkyv::rancor::Error>(&aligned)
            .map_err(|e| StorageError::BadMetadata(e.to_string()))?;
        index.check()?;
        Ok(index)
    }

    /// Checks that entries are ordered, contiguous in the file and within the segment.
    fn check(&self) -> Result<()> {
        let mut position = 0u64;
        let mut next_offset = self.base_offset;
        for e in &self.entries {
            if e.position != position
                || e.base_offset < next_offset
                || e.last_offset < e.base_offset
            {
                return Err(StorageError::BadMetadata(
                    "index entries out of order".into(),
                ));
            }
            position = e.end();
            next_offset = e.last_offset + 1;
        }
        if position != self.logical_bytes {
            return Err(StorageError::BadMetadata(
                "index does not cover the segment".into(),
            ));
        }
        Ok(())
    }
}

/// Position of the first entry whose last offset is at or after `offset`.
pub fn entry_at_or_after(entries: &[IndexEntry], offset: i64) -> usize {
    entries.partition_point(|e| e.last_offset < offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<IndexEntry> {
        let mut v = Vec::new();
        let mut pos = 0;
        for i in 0..10i64 {
            v.push(IndexEntry {
                base_offset: 100 + i * 3,
                last_offset: 102 + i * 3,
                position: pos,
                size: 70,
                max_timestamp: i,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                attributes: 0,
                control_type: -1,
            });
            pos += 70;
        }
        v
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let idx = SegmentIndex {
            base_offset: 100,
            logical_bytes: 700,
            entries: entries(),
        };
        let bytes = idx.to_bytes().unwrap();
        assert_eq!(SegmentIndex::from_bytes(&bytes).unwrap(), idx);
        let short = SegmentIndex {
            logical_bytes: 690,
            ..idx.clone()
        };
        assert!(SegmentIndex::from_bytes(&short.to_bytes().unwrap()).is_err());
        assert!(SegmentIndex::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    }

    #[test]
    fn finds_containing_batch() {
        let e = entries();
        assert_eq!(entry_at_or_after(&e, 0), 0);
        assert_eq!(entry_at_or_after(&e, 104), 1);
        assert_eq!(entry_at_or_after(&e, 105), 1);
        assert_eq!(entry_at_or_after(&e, 106), 2);
        assert_eq!(entry_at_or_after(&e, 1000), 10);
    }
}
