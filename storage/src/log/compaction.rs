//! Compaction (`cleanup.policy=compact`): pass one maps each key to the offset of its last
//! record, pass two rewrites each sealed segment that loses anything beside the old one and
//! swaps it in by rename. Offsets never change. What transactions say (the last stable
//! offset, the aborted ones) comes from the partition through [`TxnView`].

use super::read::split_as_indexed;
use super::Log;
use crate::batch::BatchHeader;
use crate::config::LogConfig;
use crate::error::Result;
use crate::fs::{FileSystem, SegmentIo};
use crate::index::{IndexEntry, SegmentIndex};
use crate::segment;
use crate::txn::AbortedTxn;
use bytes::Bytes;
use std::path::PathBuf;
use std::rc::Rc;

/// What compaction needs to know about the partition's transactions.
pub trait TxnView {
    /// Offsets below this are in no open transaction: compaction stays below it.
    fn last_stable_offset(&self) -> i64;
    /// Aborted transactions overlapping `from..=to`, whose data compaction removes.
    fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn>;
}

impl<F: FileSystem> Log<F> {
    /// Compacts the sealed segments when the topic asks for it and enough of them is dirty:
    /// the last record per key stays, older ones go, tombstones go once older than
    /// `delete.retention.ms`, aborted transactional data goes, control batches stay. Only
    /// sealed segments below the last stable offset and older than `min.compaction.lag.ms`
    /// are touched; offsets never change. Each cleaned segment is written beside the old
    /// one and swapped in by rename, so a crash leaves either. Returns what was done.
    ///
    /// Compaction shares the shard's core and disk with produce and fetch: it yields
    /// whenever its task queue's time slice is up, and its I/O is paced.
    pub async fn compact(&self, now: i64, txns: &dyn TxnView) -> Result<CompactionReport> {
        let config = self.config();
        let mut report = CompactionReport::default();
        let Some(plan) = self.plan_compaction(&config, now, txns) else {
            return Ok(report);
        };
        let mut throttle = crate::compact::Throttle::new(crate::limits::COMPACTION_IO_BYTES_PER_S);
        let map = Self::map_keys(&plan, &mut throttle).await?;
        report.keys = map.len();
        let horizon = now.saturating_sub(config.delete_retention_ms.max(0));
        for c in &plan.segments {
            let cleaned = self
                .clean_segment(c, &plan, &map, horizon, &mut throttle, &mut report)
                .await;
            if let Err(e) = cleaned {
                // A full disk, say: the half-written copy goes; segments already swapped
                // stay cleaned.
                let _ = self.fs.remove(&self.cleaned_path(c.base)).await;
                return Err(e);
            }
        }
        if let Some(e) = plan.segments.last().and_then(|c| c.entries.last()) {
            self.state.borrow_mut().cleaned_upto = e.last_offset + 1;
        }
        Ok(report)
    }

    /// The segments a compaction pass would clean, or `None` when the topic is not
    /// compacted or too little of it is dirty.
    fn plan_compaction(
        &self,
        config: &LogConfig,
        now: i64,
        txns: &dyn TxnView,
    ) -> Option<CompactionPlan<F>> {
        if !config.cleanup_compact {
            return None;
        }
        let st = self.state.borrow();
        let lso = txns.last_stable_offset().min(st.durable_end);
        let lag_horizon = now.saturating_sub(config.min_compaction_lag_ms.max(0));
        let active = st.segments.len().saturating_sub(1);
        let segments: Vec<Cleanable<F>> = st
            .segments
            .iter()
            .take(active)
            .take_while(|s| {
                s.sealed && s.finished && s.next_offset() <= lso && s.max_timestamp() <= lag_horizon
            })
            .filter_map(|s| {
                Some(Cleanable {
                    base: s.base_offset,
                    file: s.disk.file.clone()?,
                    entries: s.entries.clone(),
                    bytes: s.bytes,
                })
            })
            .collect();
        let total: u64 = segments.iter().map(|c| c.bytes).sum();
        let dirty: u64 = segments
            .iter()
            .filter(|c| c.base >= st.cleaned_upto)
            .map(|c| c.bytes)
            .sum();
        if total == 0
            || dirty == 0
            || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64
        {
            return None;
        }
        let first = segments.first().map_or(0, |c| c.base);
        let last = segments
            .last()
            .and_then(|c| c.entries.last())
            .map_or(first, |e| e.last_offset);
        let mut producers_last = std::collections::HashMap::new();
        for e in segments.iter().flat_map(|c| c.entries.iter()) {
            if e.producer_id >= 0 {
                producers_last.insert(e.producer_id, e.base_offset);
            }
        }
        Some(CompactionPlan {
            segments,
            aborted: txns.aborted_between(first, last),
            producers_last,
            generation: st.generation,
        })
    }

    /// Pass one: where each key was written last.
    async fn map_keys(
        plan: &CompactionPlan<F>,
        throttle: &mut crate::compact::Throttle,
    ) -> Result<crate::compact::KeyMap> {
        let mut map = crate::compact::KeyMap::default();
        for c in &plan.segments {
            let mut done = 0;
            while let Some(rest) = c.entries.get(done..).filter(|r| !r.is_empty()) {
                let chunk = read_chunk(c.file.as_ref(), rest, throttle).await?;
                done += chunk.len();
                for (e, b) in chunk {
                    if e.control_type == crate::txn::MARKER_NONE && !plan.is_aborted(&e) {
                        map.add(&b)?;
                    }
                    glommio::yield_if_needed().await;
                }
            }
        }
        Ok(map)
    }

    fn cleaned_path(&self, base: i64) -> PathBuf {
        self.dir
            .join(format!("{}.cleaned", segment::log_file_name(base)))
    }

    /// Pass two for one segment: writes what stays to a `.cleaned` file and, if anything
    /// went, swaps it in.
    async fn clean_segment(
        &self,
        c: &Cleanable<F>,
        plan: &CompactionPlan<F>,
        map: &crate::compact::KeyMap,
        tombstone_horizon_ms: i64,
        throttle: &mut crate::compact::Throttle,
        report: &mut CompactionReport,
    ) -> Result<()> {
        use crate::compact::Cleaned;
        let tmp = self.cleaned_path(c.base);
        let new_file = Rc::new(self.fs.create(&tmp).await?);
        let mut out = segment::SegmentFile::<F> {
            file: Some(new_file.clone()),
            ..Default::default()
        };
        let mut entries = Vec::with_capacity(c.entries.len());
        let mut removed = 0;
        let mut changed = false;
        let mut done = 0;
        while let Some(rest) = c.entries.get(done..).filter(|r| !r.is_empty()) {
            let chunk = read_chunk(c.file.as_ref(), rest, throttle).await?;
            done += chunk.len();
            let mut pieces: Vec<Bytes> = Vec::with_capacity(chunk.len());
            let mut position = out.written;
            for (e, b) in chunk {
                let keep_empty = plan.producers_last.get(&e.producer_id) == Some(&e.base_offset);
                let cleaned = if e.control_type != crate::txn::MARKER_NONE {
                    Cleaned::Keep
                } else if plan.is_aborted(&e) && !keep_empty {
                    Cleaned::Drop
                } else {
                    crate::compact::clean_batch(&b, map, tombstone_horizon_ms, keep_empty)?
                };
                let (entry, bytes) = match cleaned {
                    Cleaned::Keep => (IndexEntry { position, ..e }, b),
                    Cleaned::Drop => {
                        removed += 1;
                        changed = true;
                        continue;
                    }
                    Cleaned::Rewrite(v) => {
                        changed = true;
                        let h = BatchHeader::parse(&v)?;
                        let entry =
                            IndexEntry::for_batch(&h, &v, e.base_offset, position, e.max_timestamp);
                        (entry, Bytes::from(v))
                    }
                };
                position += bytes.len() as u64;
                entries.push(entry);
                pieces.push(bytes);
                glommio::yield_if_needed().await;
            }
            let slices: Vec<&[u8]> = pieces.iter().map(|p| p.as_ref()).collect();
            let before = out.written;
            out.write(&self.fs, &self.dir, c.base, &slices).await?;
            throttle.spend(out.written - before).await;
        }
        if !changed {
            // Nothing went: the copy is identical.
            drop(out);
            if let Ok(f) = Rc::try_unwrap(new_file) {
                f.close().await?;
            }
            return Ok(self.fs.remove(&tmp).await?);
        }
        new_file.truncate(segment::file_len(out.written)).await?;
        new_file.sync().await?;
        // The swap: the old index goes first, so a crash between the steps leaves a segment
        // that recovery scans, never an index that describes the other file.
        let _permit = self.writer.acquire_permit(1).await?;
        let still_there = {
            let st = self.state.borrow();
            st.generation == plan.generation
                && st.segments.iter().any(|s| {
                    s.base_offset == c.base
                        && s.disk.file.as_ref().is_some_and(|f| Rc::ptr_eq(f, &c.file))
                })
        };
        if !still_there {
            return Ok(self.fs.remove(&tmp).await?);
        }
        self.fs
            .remove(&self.dir.join(segment::index_file_name(c.base)))
            .await?;
        self.fs
            .replace(&tmp, &self.dir.join(segment::log_file_name(c.base)))
            .await?;
        let written = out.written;
        let index = SegmentIndex {
            base_offset: c.base,
            logical_bytes: written,
            entries,
        };
        let index_bytes = index.to_bytes()?;
        {
            let mut st = self.state.borrow_mut();
            let last = index.entries.last().map_or(c.base, |e| e.last_offset);
            if let Some(seg) = st.segments.iter_mut().find(|s| s.base_offset == c.base) {
                seg.entries = index.entries;
                seg.bytes = written;
                seg.disk = segment::SegmentFile {
                    file: Some(new_file),
                    written,
                    allocated: segment::align_up(written),
                    tail: Vec::new(),
                };
            }
            st.cache.retain(|c| c.base_offset > last);
            st.cache_bytes = st.cache.iter().map(|c| c.bytes.len()).sum();
        }
        *self.readahead.borrow_mut() = None;
        self.fs
            .write_atomic(&self.dir, &segment::index_file_name(c.base), index_bytes)
            .await?;
        report.segments_cleaned += 1;
        report.batches_removed += removed;
        report.bytes_before += c.bytes;
        report.bytes_after += written;
        Ok(())
    }
}

/// What a compaction pass works on, as the log was when the pass began.
struct CompactionPlan<F: FileSystem> {
    segments: Vec<Cleanable<F>>,
    aborted: Vec<AbortedTxn>,
    /// Base offset of each producer's last batch in the segments: kept even when emptied,
    /// so the producer's state survives a restart.
    producers_last: std::collections::HashMap<i64, i64>,
    /// The log's truncation generation: a truncation meanwhile cancels the swaps.
    generation: u64,
}

impl<F: FileSystem> CompactionPlan<F> {
    /// True for a data batch of a transaction that was aborted.
    fn is_aborted(&self, e: &IndexEntry) -> bool {
        e.is_transactional()
            && self.aborted.iter().any(|a| {
                a.producer_id == e.producer_id
                    && a.first_offset <= e.base_offset
                    && e.base_offset < a.last_offset
            })
    }
}

/// A sealed segment compaction may clean, as it was when the pass began.
struct Cleanable<F: FileSystem> {
    base: i64,
    file: Rc<F::File>,
    entries: Vec<IndexEntry>,
    bytes: u64,
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub segments_cleaned: usize,
    /// Batches that lost all their records and went.
    pub batches_removed: usize,
    /// Distinct keys in the cleaned range.
    pub keys: usize,
    /// Size of the rewritten segments before and after.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
}

/// Most bytes compaction reads from a segment at once.
const COMPACTION_READ_BYTES: u64 = 1 << 20;

/// The first batches of `entries`, up to [`COMPACTION_READ_BYTES`], read from `file` in one
/// paced I/O and checked against their index entries.
async fn read_chunk<F: SegmentIo>(
    file: &F,
    entries: &[IndexEntry],
    throttle: &mut crate::compact::Throttle,
) -> Result<Vec<(IndexEntry, Bytes)>> {
    let Some(first) = entries.first() else {
        return Ok(Vec::new());
    };
    let mut len = 0u64;
    let run = entries
        .iter()
        .take_while(|e| {
            let fits = len == 0 || len + e.size as u64 <= COMPACTION_READ_BYTES;
            if fits {
                len += e.size as u64;
            }
            fits
        })
        .count();
    let data = Bytes::from(file.read_at(first.position, len as usize).await?);
    if (data.len() as u64) < len {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "short read").into());
    }
    throttle.spend(len).await;
    let entries = entries.get(..run).unwrap_or_default();
    let batches = split_as_indexed(data, entries.iter().map(|e| e.base_offset))?;
    Ok(entries.iter().copied().zip(batches).collect())
}
