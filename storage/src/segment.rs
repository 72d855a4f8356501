//! One segment of a partition log: a `.log` file of record batches opened with O_DIRECT, its
//! batch index, and (for the active segment) the partially filled last block kept in memory.

use crate::batch;
use crate::error::Result;
use crate::fs::{FileSystem, SegmentIo};
use crate::index::{IndexEntry, SegmentIndex};
use crate::limits::{DMA_ALIGNMENT, PREALLOCATE_BYTES, PREALLOCATE_MIN_BYTES};
use std::path::Path;
use std::rc::Rc;

/// File name of the segment starting at `base_offset`, as Kafka names them.
pub fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

/// File name of a sealed segment's index.
pub fn index_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.index")
}

/// Rounds `v` up to the DMA alignment.
pub fn align_up(v: u64) -> u64 {
    v.div_ceil(DMA_ALIGNMENT) * DMA_ALIGNMENT
}

/// The size a segment file holding `written` bytes is trimmed to: whole blocks, and never
/// fewer than one, because an empty file breaks glommio's O_DIRECT reads (see
/// [`crate::fs::DmaFs`]).
pub fn file_len(written: u64) -> u64 {
    align_up(written).max(DMA_ALIGNMENT)
}

/// Rounds `v` down to the DMA alignment.
pub fn align_down(v: u64) -> u64 {
    v / DMA_ALIGNMENT * DMA_ALIGNMENT
}

/// What the writer knows about a segment's file. Only the task holding the log's writer
/// changes it: it copies it out, does its I/O, and puts it back, so appends can go on
/// meanwhile.
pub struct SegmentFile<F: FileSystem> {
    /// The open file; `None` until the writer creates it (a freshly rolled segment).
    pub file: Option<Rc<F::File>>,
    /// Bytes on disk.
    pub written: u64,
    /// Bytes the file has been extended to.
    pub allocated: u64,
    /// Contents of the last, partially filled block (`written % DMA_ALIGNMENT` bytes).
    pub tail: Vec<u8>,
}

impl<F: FileSystem> Clone for SegmentFile<F> {
    fn clone(&self) -> Self {
        SegmentFile {
            file: self.file.clone(),
            written: self.written,
            allocated: self.allocated,
            tail: self.tail.clone(),
        }
    }
}

impl<F: FileSystem> Default for SegmentFile<F> {
    fn default() -> Self {
        SegmentFile {
            file: None,
            written: 0,
            allocated: 0,
            tail: Vec::new(),
        }
    }
}

/// A segment: its batches and its file.
pub struct Segment<F: FileSystem> {
    /// Offset of the first batch the segment may hold.
    pub base_offset: i64,
    /// Logical bytes assigned to the segment, including batches not yet written.
    pub bytes: u64,
    /// The file, as the writer left it.
    pub disk: SegmentFile<F>,
    /// One entry per batch.
    pub entries: Vec<IndexEntry>,
    /// Wall-clock time the segment was created, for `segment.ms`.
    pub created_ms: i64,
    /// No more batches go to this segment.
    pub sealed: bool,
    /// The index file is on disk and the file trimmed: nothing left for the writer to do.
    pub finished: bool,
}

impl<F: FileSystem> Segment<F> {
    /// A new, empty segment whose file the writer will create.
    pub fn new(base_offset: i64, now_ms: i64) -> Segment<F> {
        Segment {
            base_offset,
            bytes: 0,
            disk: SegmentFile::default(),
            entries: Vec::new(),
            created_ms: now_ms,
            sealed: false,
            finished: false,
        }
    }

    /// Offset after the last batch of the segment.
    pub fn next_offset(&self) -> i64 {
        self.entries
            .last()
            .map_or(self.base_offset, |e| e.last_offset + 1)
    }

    /// Largest timestamp in the segment, or -1 when empty.
    pub fn max_timestamp(&self) -> i64 {
        self.entries
            .iter()
            .map(|e| e.max_timestamp)
            .max()
            .unwrap_or(-1)
    }
}

impl<F: FileSystem> SegmentFile<F> {
    /// Writes `data` (whole batches, in order) after what is on disk. The tail block is
    /// rewritten together with the new bytes, so every write is block-aligned.
    pub async fn write(
        &mut self,
        fs: &F,
        dir: &Path,
        base_offset: i64,
        data: &[&[u8]],
    ) -> Result<()> {
        let file = match &self.file {
            Some(f) => f.clone(),
            None => {
                let f = Rc::new(fs.create(&dir.join(log_file_name(base_offset))).await?);
                self.file = Some(f.clone());
                f
            }
        };
        let new_bytes: usize = data.iter().map(|d| d.len()).sum();
        let start = align_down(self.written);
        let used = self.tail.len() + new_bytes;
        let len = align_up(used as u64);
        if start + len > self.allocated {
            // Steps double from 1 MiB up to PREALLOCATE_BYTES, so a partition that gets
            // little traffic does not hold 16 MiB of disk.
            let step = self
                .allocated
                .clamp(PREALLOCATE_MIN_BYTES, PREALLOCATE_BYTES);
            let target = align_up(start + len).max(self.allocated + step);
            // Extents allocated up front keep later fdatasyncs from persisting a new size.
            // A file system without fallocate still works, only slower; a full disk shows
            // up as ENOSPC on the write itself.
            if let Err(e) = file.allocate(target).await {
                tracing::debug!("fallocate failed, writing without preallocation: {e}");
            } else {
                self.allocated = target;
            }
        }
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(data.len() + 1);
        pieces.push(&self.tail);
        pieces.extend_from_slice(data);
        file.write_blocks(start, &pieces).await?;
        // The new partial block: the end of the last pieces, past the last aligned boundary.
        let tail_len = used - align_down(used as u64) as usize;
        let mut new_tail = Vec::with_capacity(tail_len);
        let mut skip = used - tail_len;
        for piece in pieces {
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            new_tail.extend_from_slice(piece.get(skip..).unwrap_or_default());
            skip = 0;
        }
        self.written += new_bytes as u64;
        self.tail = new_tail;
        Ok(())
    }

    /// Trims the preallocated tail, syncs, and writes the index of a sealed, fully written
    /// segment.
    pub async fn finish(
        &mut self,
        fs: &F,
        dir: &Path,
        base_offset: i64,
        entries: Vec<IndexEntry>,
    ) -> Result<()> {
        if let Some(f) = &self.file {
            f.truncate(file_len(self.written)).await?;
            f.sync().await?;
        }
        let index = SegmentIndex {
            base_offset,
            logical_bytes: self.written,
            entries,
        };
        fs.write_atomic(dir, &index_file_name(base_offset), index.to_bytes()?)
            .await?;
        self.tail = Vec::new();
        Ok(())
    }
}

/// What a recovery scan found in one segment file.
pub struct Scanned {
    /// Entries of the intact batches, in order.
    pub entries: Vec<IndexEntry>,
    /// Logical end: the position after the last intact batch.
    pub logical_bytes: u64,
    /// The scan stopped at something that was not an intact batch or zero padding.
    pub torn: bool,
}

/// Bytes read per step of a recovery scan.
const SCAN_CHUNK_BYTES: usize = 4 << 20;

/// Scans a segment from the start, keeping batches while length, magic, CRC and offset order
/// check out, and stopping at the first that does not.
pub async fn scan(file: &impl SegmentIo, base_offset: i64, batch_limit: u32) -> Result<Scanned> {
    let size = file.size().await?;
    let mut entries = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    let mut chunk_start = 0u64; // file position of chunk[0]
    let mut position = 0u64;
    let mut next_offset = base_offset;
    let mut torn = false;
    loop {
        let rel = (position - chunk_start) as usize;
        let have = chunk.len().saturating_sub(rel);
        let need = match chunk
            .get(rel..)
            .and_then(|b| batch::BatchHeader::parse(b).ok())
        {
            Some(h) => h.total_bytes(),
            None => batch::HEADER_BYTES,
        };
        if have < need {
            if position >= size {
                break;
            }
            let want = need.max(SCAN_CHUNK_BYTES).min((size - position) as usize);
            chunk = file.read_at(position, want).await?;
            chunk_start = position;
            if chunk.len() < need {
                torn = chunk.iter().any(|&b| b != 0);
                break;
            }
            continue;
        }
        let Some(bytes) = chunk.get(rel..) else { break };
        match batch::validate(bytes, batch_limit) {
            Ok(h) if h.base_offset >= next_offset => {
                let size = h.total_bytes();
                entries.push(IndexEntry::for_batch(
                    &h,
                    bytes,
                    h.base_offset,
                    position,
                    h.max_timestamp,
                ));
                next_offset = h.last_offset() + 1;
                position += size as u64;
            }
            _ => {
                let end = bytes.len().min(batch::HEADER_BYTES);
                torn = bytes.get(..end).is_some_and(|b| b.iter().any(|&x| x != 0));
                break;
            }
        }
    }
    Ok(Scanned {
        entries,
        logical_bytes: position,
        torn,
    })
}
