//! Opening segments found on disk after a clean stop or a crash.

use crate::config::LogConfig;
use crate::error::Result;
use crate::fs::{FileSystem, SegmentIo};
use crate::index::SegmentIndex;
use crate::segment::{self, Segment};
use std::path::Path;
use std::rc::Rc;

/// Opens one segment found on disk. A sealed segment with a valid index is trusted; anything
/// else is scanned, and the last segment is cut after its last intact batch.
#[allow(clippy::too_many_arguments)]
pub(super) async fn recover_segment<F: FileSystem>(
    fs: &F,
    dir: &Path,
    base: i64,
    last: bool,
    clean: bool,
    config: &LogConfig,
    now: i64,
) -> Result<Segment<F>> {
    let file = Rc::new(fs.open(&dir.join(segment::log_file_name(base))).await?);
    let mut seg = Segment::new(base, now);
    if !last || clean {
        let size = file.size().await?;
        // An index that claims more than the file holds is stale: scan instead.
        let index = read_index(fs, dir, base)
            .await
            .filter(|i| segment::align_up(i.logical_bytes) <= size);
        if let Some(index) = index {
            let end = index.logical_bytes;
            seg.bytes = end;
            seg.disk.written = end;
            seg.disk.allocated = segment::align_up(end);
            seg.entries = index.entries;
            if last {
                let tail_start = segment::align_down(end);
                if end > tail_start {
                    seg.disk.tail = file
                        .read_at(tail_start, (end - tail_start) as usize)
                        .await?;
                }
                seg.disk.allocated = size;
            } else {
                seg.sealed = true;
                seg.finished = true;
            }
            seg.disk.file = Some(file);
            return Ok(seg);
        }
    }
    let limit = crate::limits::BATCH_BYTES_MAX.max(config.max_message_bytes);
    let scanned = segment::scan(file.as_ref(), base, limit).await?;
    if scanned.torn {
        tracing::warn!(dir = %dir.display(), base, at = scanned.logical_bytes, "cut torn segment tail");
    }
    let end = scanned.logical_bytes;
    // Drop everything after the last intact batch so stale bytes can never be mistaken for
    // batches by a later scan; the tail block is rewritten from memory on the next write.
    file.truncate(segment::file_len(end)).await?;
    let tail_start = segment::align_down(end);
    if end > tail_start {
        seg.disk.tail = file
            .read_at(tail_start, (end - tail_start) as usize)
            .await?;
    }
    if end % crate::limits::DMA_ALIGNMENT != 0 || scanned.torn {
        // Zero the rest of the tail block on disk too.
        file.write_blocks(tail_start, &[&seg.disk.tail]).await?;
        file.sync().await?;
    }
    seg.bytes = end;
    seg.disk.written = end;
    seg.disk.allocated = segment::align_up(end);
    seg.entries = scanned.entries;
    seg.disk.file = Some(file);
    seg.created_ms = now;
    seg.sealed = !last;
    if !last {
        seg.disk.finish(fs, dir, base, seg.entries.clone()).await?;
        seg.finished = true;
    }
    Ok(seg)
}

async fn read_index<F: FileSystem>(fs: &F, dir: &Path, base: i64) -> Option<SegmentIndex> {
    let bytes = fs
        .read(&dir.join(segment::index_file_name(base)))
        .await
        .ok()?;
    match SegmentIndex::from_bytes(&bytes) {
        Ok(i) if i.base_offset == base => Some(i),
        _ => None,
    }
}
