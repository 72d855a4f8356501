//! Cutting the log's tail: for a replica that diverged from its leader, and after a write
//! failed for lack of space.

use super::{Log, LogEvent, TRUNCATIONS_KEPT};
use crate::error::Result;
use crate::fs::{FileSystem, SegmentIo};
use crate::segment::{self, Segment};

impl<F: FileSystem> Log<F> {
    /// Cuts everything from `offset` on (rounded down to the start of the batch holding it)
    /// from memory and disk. Appends waiting on the cut records fail with
    /// [`StorageError::Discarded`].
    pub async fn truncate_to(&self, offset: i64) -> Result<()> {
        let _permit = self.writer.acquire_permit(1).await?;
        self.truncate_locked(offset).await
    }

    /// Drops the whole log and starts it over, empty, at `start`: a replica that holds
    /// nothing its leader still has (the leader's log starts past this one's end) starts
    /// over at the leader's log start offset.
    pub async fn reset_to(&self, start: i64) -> Result<()> {
        let _permit = self.writer.acquire_permit(1).await?;
        let now = super::now_ms();
        let dropped: Vec<Segment<F>> = {
            let mut st = self.state.borrow_mut();
            let dropped: Vec<Segment<F>> = st.segments.drain(..).collect();
            st.segments.push(Segment::new(start, now));
            st.pending.clear();
            st.cache.clear();
            st.cache_bytes = 0;
            st.log_start_offset = start;
            st.log_end_offset = start;
            st.durable_end = start;
            st.unsynced_messages = 0;
            st.unsynced_bytes = 0;
            st.generation += 1;
            let generation = st.generation;
            st.truncations.push_back((generation, i64::MIN));
            if st.truncations.len() > TRUNCATIONS_KEPT {
                st.truncations.pop_front();
            }
            *self.readahead.borrow_mut() = None;
            for w in st.waiters.drain(..) {
                let _ = w.send(());
            }
            dropped
        };
        self.notify(LogEvent::Truncated { end: start });
        for seg in dropped {
            let base = seg.base_offset;
            drop(seg);
            self.fs
                .remove(&self.dir.join(segment::index_file_name(base)))
                .await?;
            self.fs
                .retire(&self.dir.join(segment::log_file_name(base)))
                .await?;
        }
        // The old files go first (the new one may have the same name); then the empty
        // segment's file makes the new start durable: a restart finds the log beginning
        // there (a crash between the two finds it empty at 0, and is reset again).
        let file = self
            .fs
            .create(&self.dir.join(segment::log_file_name(start)))
            .await?;
        let disk = segment::SegmentFile {
            file: Some(std::rc::Rc::new(file)),
            ..Default::default()
        };
        self.put_segment_file(start, disk, false);
        Ok(())
    }

    /// After a write failed for lack of space: drops every batch that is not yet below the
    /// high watermark, so the log on disk and in memory agree again and later appends start
    /// from a clean end. Called with the writer held.
    pub(super) async fn discard_unwritten(&self) -> Result<()> {
        let durable = self.state.borrow().durable_end;
        self.truncate_locked(durable).await
    }

    async fn truncate_locked(&self, offset: i64) -> Result<()> {
        let now = super::now_ms();
        let (dropped, cut_segment) = {
            let mut st = self.state.borrow_mut();
            let cut = st
                .segments
                .iter()
                .flat_map(|s| s.entries.iter())
                .find(|e| e.last_offset >= offset)
                .map_or(offset, |e| e.base_offset.min(offset))
                .clamp(st.log_start_offset, st.log_end_offset);
            if cut >= st.log_end_offset {
                return Ok(());
            }
            let keep = st.segments.partition_point(|s| s.base_offset < cut).max(1);
            let dropped: Vec<Segment<F>> = st.segments.drain(keep..).collect();
            let mut cut_segment = None;
            if let Some(seg) = st.segments.last_mut() {
                seg.entries.retain(|e| e.base_offset < cut);
                let end = seg.entries.last().map_or(0, |e| e.end());
                seg.bytes = end;
                seg.sealed = false;
                seg.finished = false;
                cut_segment = Some((seg.base_offset, end, seg.disk.clone()));
            }
            st.pending.retain(|p| p.last_offset < cut);
            st.cache.retain(|c| c.base_offset < cut);
            st.cache_bytes = st.cache.iter().map(|c| c.bytes.len()).sum();
            st.log_end_offset = cut;
            st.durable_end = st.durable_end.min(cut);
            st.unsynced_messages = 0;
            st.unsynced_bytes = 0;
            st.generation += 1;
            let generation = st.generation;
            st.truncations.push_back((generation, cut));
            if st.truncations.len() > TRUNCATIONS_KEPT {
                st.truncations.pop_front();
            }
            *self.readahead.borrow_mut() = None;
            for w in st.waiters.drain(..) {
                let _ = w.send(());
            }
            (dropped, cut_segment)
        };
        let end = self.state.borrow().log_end_offset;
        self.notify(LogEvent::Truncated { end });
        // The cut segment loses its index first: a crash half-way leaves a segment that is
        // scanned, never one whose index names batches that are gone.
        if let Some((base, _, _)) = &cut_segment {
            self.fs
                .remove(&self.dir.join(segment::index_file_name(*base)))
                .await?;
        }
        for seg in dropped.into_iter().rev() {
            let base = seg.base_offset;
            drop(seg);
            self.fs
                .remove(&self.dir.join(segment::index_file_name(base)))
                .await?;
            self.fs
                .retire(&self.dir.join(segment::log_file_name(base)))
                .await?;
        }
        let Some((base, end, mut disk)) = cut_segment else {
            return Ok(());
        };
        if let Some(file) = disk.file.clone() {
            let tail_start = segment::align_down(end);
            let tail = if end > tail_start {
                file.read_at(tail_start, (end - tail_start) as usize)
                    .await?
            } else {
                Vec::new()
            };
            file.truncate(segment::file_len(end)).await?;
            if !tail.is_empty() {
                file.write_blocks(tail_start, &[&tail]).await?;
            }
            file.sync().await?;
            disk.tail = tail;
            disk.written = end;
            disk.allocated = segment::align_up(end);
        } else {
            disk = segment::SegmentFile::default();
        }
        self.put_segment_file(base, disk, false);
        if self.state.borrow().segments.is_empty() {
            let mut st = self.state.borrow_mut();
            let leo = st.log_end_offset;
            st.segments.push(Segment::new(leo, now));
        }
        Ok(())
    }
}
