//! Reads: planned from the index against the segment files as they are at planning time,
//! served from the cache of recent batches where it holds them, otherwise from disk in one
//! read per run of consecutive batches, with read-ahead for sequential readers. Every batch
//! read from disk is checked (length, CRC, base offset) before it is served.

use super::{Log, State};
use crate::batch;
use crate::error::{Result, StorageError};
use crate::fs::{FileSystem, SegmentIo};
use crate::index::{self, IndexEntry};
use bytes::Bytes;
use std::rc::Rc;

/// What a read returns.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Whole batches, in offset order; the first one contains the requested offset.
    pub batches: Vec<Bytes>,
    /// Last offset of the last batch returned.
    pub last_offset: Option<i64>,
    /// Log start offset when the read was served.
    pub log_start_offset: i64,
}

impl<F: FileSystem> Log<F> {
    /// Reads whole durable batches starting with the one that contains `offset`, up to
    /// `max_bytes` (the first batch is returned even when larger).
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadOutcome> {
        let durable = self.state.borrow().durable_end;
        self.read_upto(offset, max_bytes, durable).await
    }

    /// Like [`Log::read`], but up to `upto` (exclusive; a batch straddling it is not
    /// served): the high watermark or the last stable offset for consumers, anything up to
    /// the log end offset for replication.
    pub async fn read_upto(&self, offset: i64, max_bytes: usize, upto: i64) -> Result<ReadOutcome> {
        let (plan, mut out) = {
            let st = self.state.borrow();
            if offset < st.log_start_offset || offset > st.log_end_offset {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    start: st.log_start_offset,
                    end: st.log_end_offset,
                });
            }
            let (plan, last_offset) =
                Self::plan_read(&st, offset, max_bytes, upto.min(st.log_end_offset));
            let out = ReadOutcome {
                batches: Vec::new(),
                last_offset,
                log_start_offset: st.log_start_offset,
            };
            (plan, out)
        };
        for step in plan {
            match step {
                ReadStep::Cached(b) => out.batches.push(b),
                ReadStep::Disk(run) => {
                    let data = self.read_disk(run).await?;
                    out.batches.extend(data);
                }
            }
        }
        Ok(out)
    }

    /// The reads that serve `offset..` up to `max_bytes` below `upto`, and the last offset
    /// they cover.
    fn plan_read(
        st: &State<F>,
        offset: i64,
        max_bytes: usize,
        upto: i64,
    ) -> (Vec<ReadStep<F>>, Option<i64>) {
        let mut last_covered = None;
        let mut plan: Vec<ReadStep<F>> = Vec::new();
        let mut total = 0usize;
        let seg_idx = st
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        let cache_first = st.cache.front().map_or(i64::MAX, |c| c.base_offset);
        'segments: for seg in st.segments.iter().skip(seg_idx) {
            let start = index::entry_at_or_after(&seg.entries, offset);
            for e in seg.entries.iter().skip(start) {
                // A batch is served only whole and only below the bound (for read_committed,
                // a batch straddling the LSO waits).
                if e.base_offset >= upto || e.last_offset >= upto {
                    break 'segments;
                }
                if total > 0 && total + e.size as usize > max_bytes {
                    break 'segments;
                }
                total += e.size as usize;
                last_covered = Some(e.last_offset);
                if e.base_offset >= cache_first {
                    let i = st.cache.partition_point(|c| c.base_offset < e.base_offset);
                    if let Some(c) = st.cache.get(i).filter(|c| c.base_offset == e.base_offset) {
                        myelin_metrics::record(|m| m.read_cache_hit_bytes.add(e.size as u64));
                        plan.push(ReadStep::Cached(c.bytes.clone()));
                        continue;
                    }
                }
                myelin_metrics::record(|m| m.read_cache_miss_bytes.add(e.size as u64));
                let Some(file) = &seg.disk.file else {
                    // Not written yet, and no longer cached: unreachable below the durable
                    // end, where nothing unwritten is ever evicted.
                    break 'segments;
                };
                match plan.last_mut() {
                    Some(ReadStep::Disk(run))
                        if Rc::ptr_eq(&run.file, file)
                            && run.position + run.len as u64 == e.position =>
                    {
                        run.len += e.size as usize;
                        run.bases.push(e.base_offset);
                    }
                    _ => plan.push(ReadStep::Disk(DiskRun {
                        file: file.clone(),
                        position: e.position,
                        len: e.size as usize,
                        written: seg.disk.written,
                        bases: vec![e.base_offset],
                    })),
                }
            }
        }
        (plan, last_covered)
    }

    /// Reads a run of batches from a segment file and checks every one before serving it:
    /// length, CRC, and the base offset the index promised. A read shorter than the
    /// read-ahead size fetches more of the file and keeps it for the next sequential read.
    async fn read_disk(&self, run: DiskRun<F>) -> Result<Vec<Bytes>> {
        let end = run.position + run.len as u64;
        let buffered = self.readahead.borrow().as_ref().and_then(|ra| {
            let covers = Rc::ptr_eq(&ra.file, &run.file)
                && ra.position <= run.position
                && ra.position + ra.data.len() as u64 >= end;
            covers.then(|| {
                let from = (run.position - ra.position) as usize;
                ra.data.slice(from..from + run.len)
            })
        });
        let data = match buffered {
            Some(d) => d,
            None => {
                let want = (run.len as u64)
                    .max(crate::limits::READ_AHEAD_BYTES)
                    .min(run.written.saturating_sub(run.position).max(run.len as u64));
                let r = Bytes::from(run.file.read_at(run.position, want as usize).await?);
                if r.len() < run.len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "short read",
                    )
                    .into());
                }
                if r.len() > run.len {
                    *self.readahead.borrow_mut() = Some(ReadAhead {
                        file: run.file.clone(),
                        position: run.position,
                        data: r.clone(),
                    });
                }
                r.slice(..run.len)
            }
        };
        split_as_indexed(data, run.bases.iter().copied()).inspect_err(|e| {
            tracing::error!(dir = %self.dir.display(), position = run.position, "corrupt batch on disk: {e}");
        })
    }

    /// A receiver that fires when the durable end next moves or the log is cut.
    pub fn watch(&self) -> futures::channel::oneshot::Receiver<()> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut st = self.state.borrow_mut();
        if st.waiters.len() >= crate::limits::WAITERS_SWEEP_AT {
            st.waiters.retain(|w| !w.is_canceled());
        }
        st.waiters.push(tx);
        rx
    }

    /// The first batch below `upto` (the high watermark) whose max timestamp is at or after
    /// `timestamp`, for ListOffsets; the caller finds the record inside it.
    pub async fn batch_for_timestamp(&self, timestamp: i64, upto: i64) -> Result<Option<Bytes>> {
        let found = {
            let st = self.state.borrow();
            let hw = upto.min(st.durable_end);
            st.segments
                .iter()
                .flat_map(|s| s.entries.iter())
                .find(|e| e.base_offset < hw && e.max_timestamp >= timestamp)
                .map(|e| e.base_offset)
        };
        self.first_batch_at(found, upto).await
    }

    /// The batch below `upto` holding the largest timestamp (the first such one), for
    /// ListOffsets -3.
    pub async fn batch_with_max_timestamp(&self, upto: i64) -> Result<Option<Bytes>> {
        let found = {
            let st = self.state.borrow();
            let hw = upto.min(st.durable_end);
            let mut best: Option<&IndexEntry> = None;
            for e in st.segments.iter().flat_map(|s| s.entries.iter()) {
                if e.base_offset < hw && best.is_none_or(|b| e.max_timestamp > b.max_timestamp) {
                    best = Some(e);
                }
            }
            best.map(|e| e.base_offset)
        };
        self.first_batch_at(found, upto).await
    }

    async fn first_batch_at(&self, offset: Option<i64>, upto: i64) -> Result<Option<Bytes>> {
        let Some(offset) = offset else {
            return Ok(None);
        };
        Ok(self
            .read_upto(offset, 1, upto)
            .await?
            .batches
            .into_iter()
            .next())
    }
}

/// Splits bytes read from a segment into the batches the index promised, checking each one's
/// length, CRC and base offset, and that nothing is left over.
pub(super) fn split_as_indexed(
    mut data: Bytes,
    bases: impl Iterator<Item = i64>,
) -> Result<Vec<Bytes>> {
    let mut out = Vec::with_capacity(bases.size_hint().0);
    for base in bases {
        let h = batch::validate(&data, crate::limits::BATCH_BYTES_MAX)?;
        if h.base_offset != base {
            return Err(StorageError::CorruptBatch(
                "base offset differs from the index",
            ));
        }
        out.push(data.split_to(h.total_bytes()));
    }
    if !data.is_empty() {
        return Err(StorageError::CorruptBatch(
            "batch sizes differ from the index",
        ));
    }
    Ok(out)
}

enum ReadStep<F: FileSystem> {
    Cached(Bytes),
    Disk(DiskRun<F>),
}

/// Consecutive batches of one segment file, read with one I/O. The file is the one the
/// index was planned against, so a segment replaced by compaction meanwhile is still read
/// consistently.
struct DiskRun<F: FileSystem> {
    file: Rc<F::File>,
    position: u64,
    len: usize,
    /// Bytes of the file that were written when the read was planned: read-ahead stops there.
    written: u64,
    /// Base offsets of the batches, as the index has them.
    bases: Vec<i64>,
}

/// Bytes read after a cold read, kept for the next sequential one.
pub(super) struct ReadAhead<F: FileSystem> {
    file: Rc<F::File>,
    position: u64,
    data: Bytes,
}
