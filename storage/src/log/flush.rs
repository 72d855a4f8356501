//! The flusher: one detached task per log writes what is pending in one aligned write per
//! segment, syncs when the flush policy asks, and moves the durable end (group commit).

use super::{now_ms, AppendInfo, Log, LogEvent, Pending, State};
use crate::error::{Result, StorageError};
use crate::fs::{FileSystem, SegmentIo};
use crate::segment;
use std::rc::Rc;

impl<F: FileSystem> Log<F> {
    /// Waits until the append is below the durable end: written, and synced if the flush
    /// policy asks for it.
    ///
    /// Writing is done by one flusher task per log, detached from the callers, so a caller
    /// that goes away (a closed connection) never cancels a write half-way. Batches appended
    /// while a write is in flight go out together in the next one (group commit).
    ///
    /// Fails with [`StorageError::Discarded`] when a failed write (a full disk) made the log
    /// cut the append away; the producer may retry it.
    pub async fn commit(self: &Rc<Self>, append: &AppendInfo) -> Result<()> {
        let last_offset = append.last_offset;
        loop {
            let woken = self.watch();
            {
                let st = self.state.borrow();
                if st.generation != append.generation {
                    let oldest = st.truncations.front().map_or(u64::MAX, |t| t.0);
                    let cut = oldest > append.generation + 1
                        || st
                            .truncations
                            .iter()
                            .any(|&(g, at)| g > append.generation && last_offset >= at);
                    if cut {
                        return Err(StorageError::Discarded);
                    }
                }
                if st.durable_end > last_offset {
                    return Ok(());
                }
            }
            if self.offline.get() {
                return Err(StorageError::Offline);
            }
            self.ensure_flusher();
            let _ = woken.await;
        }
    }

    /// Starts writing what is pending without waiting for it (the flusher runs until
    /// nothing is pending).
    pub fn start_flush(self: &Rc<Self>) {
        self.ensure_flusher();
    }

    /// Starts the flusher unless it is running. It writes until nothing is pending.
    fn ensure_flusher(self: &Rc<Self>) {
        if self.flushing.get() {
            return;
        }
        self.flushing.set(true);
        let log = self.clone();
        glommio::spawn_local(async move {
            loop {
                let idle = log.state.borrow().pending.is_empty();
                if idle || log.offline.get() {
                    break;
                }
                let Ok(_permit) = log.writer.acquire_permit(1).await else { break };
                let written = log.write_pending(false).await;
                log.ensure_sync_timer();
                if let Err(e) = written {
                    if e.is_disk_full() && log.discard_unwritten().await.is_ok() {
                        tracing::warn!(dir = %log.dir.display(), "disk full: unwritten batches discarded, producers see KAFKA_STORAGE_ERROR until space returns");
                        continue;
                    }
                    tracing::error!(dir = %log.dir.display(), "log write failed, taking it offline: {e}");
                    log.offline.set(true);
                    for w in log.state.borrow_mut().waiters.drain(..) {
                        let _ = w.send(());
                    }
                    break;
                }
            }
            // No await between the last check and this: an append cannot slip in unseen.
            log.flushing.set(false);
        })
        .detach();
    }

    /// Writes everything pending, syncing when the policy (or `force_sync`) says so, then
    /// advances the durable end, wakes waiters and tells the listener. Called with the
    /// writer held.
    pub(super) async fn write_pending(&self, force_sync: bool) -> Result<()> {
        let batch = std::mem::take(&mut self.state.borrow_mut().pending);
        let Some(last) = batch.back().map(|p| p.last_offset) else {
            return self.finish_sealed().await;
        };
        let started = std::time::Instant::now();
        // Write each segment's share in one aligned write.
        let mut i = 0;
        let items: Vec<Pending> = batch.into_iter().collect();
        while let Some(first) = items.get(i) {
            let base = first.segment_base;
            let run = items.get(i..).map_or(0, |r| {
                r.iter().take_while(|p| p.segment_base == base).count()
            });
            let slices: Vec<&[u8]> = items
                .get(i..i + run)
                .unwrap_or_default()
                .iter()
                .map(|p| p.bytes.as_ref())
                .collect();
            let mut disk = self.segment_file(base)?;
            let res = disk.write(&self.fs, &self.dir, base, &slices).await;
            self.put_segment_file(base, disk, false);
            res?;
            i += run;
        }
        let sync = {
            let config = self.config.borrow();
            let mut st = self.state.borrow_mut();
            st.unsynced_messages += items.iter().map(|p| p.records).sum::<u64>();
            st.unsynced_bytes += items.iter().map(|p| p.bytes.len() as u64).sum::<u64>();
            force_sync
                || st.unsynced_messages >= config.flush_messages
                || (config.flush_bytes >= 0 && st.unsynced_bytes >= config.flush_bytes as u64)
                || (config.flush_ms >= 0 && now_ms() - st.last_sync_ms >= config.flush_ms)
        };
        if sync {
            self.sync_active().await?;
        }
        self.finish_sealed().await?;
        let end = {
            let mut st = self.state.borrow_mut();
            if last + 1 > st.durable_end {
                st.durable_end = last + 1;
            }
            assert!(st.log_start_offset <= st.durable_end);
            assert!(st.durable_end <= st.log_end_offset);
            for w in st.waiters.drain(..) {
                let _ = w.send(());
            }
            Self::evict_cache(&mut st, self.config.borrow().cache_bytes);
            st.durable_end
        };
        myelin_metrics::record(|m| {
            let now = std::time::Instant::now();
            m.log_write.record(now - started);
            for p in &items {
                m.append_to_durable.record(now - p.appended_at);
            }
        });
        self.notify(LogEvent::Durable { end });
        Ok(())
    }

    /// Syncs the active segment (sealed ones are synced when they are finished; with
    /// O_DSYNC writes there is nothing to sync) and forgets what was unsynced. Called with
    /// the writer held.
    async fn sync_active(&self) -> Result<()> {
        let file = self
            .state
            .borrow()
            .segments
            .last()
            .and_then(|s| s.disk.file.clone())
            .filter(|_| !self.fs.durable_writes());
        if let Some(f) = file {
            f.sync().await?;
        }
        let mut st = self.state.borrow_mut();
        st.unsynced_messages = 0;
        st.unsynced_bytes = 0;
        st.last_sync_ms = now_ms();
        Ok(())
    }

    /// With `flush.ms` set and written data left unsynced, makes sure a sync follows within
    /// `flush.ms` even if nothing more is written.
    fn ensure_sync_timer(self: &Rc<Self>) {
        let flush_ms = self.config.borrow().flush_ms;
        let idle = self.state.borrow().unsynced_bytes == 0;
        if flush_ms < 0 || idle || self.sync_timer.get() {
            return;
        }
        self.sync_timer.set(true);
        let log = self.clone();
        glommio::spawn_local(async move {
            glommio::timer::sleep(std::time::Duration::from_millis(flush_ms as u64)).await;
            if let Ok(_permit) = log.writer.acquire_permit(1).await {
                let unsynced = log.state.borrow().unsynced_bytes > 0;
                if unsynced && !log.offline.get() {
                    if let Err(e) = log.sync_active().await {
                        tracing::error!(dir = %log.dir.display(), "timed sync failed, taking the log offline: {e}");
                        log.offline.set(true);
                    }
                }
            }
            log.sync_timer.set(false);
        })
        .detach();
    }

    /// A copy of a segment's file state for the writer to work on across awaits.
    pub(super) fn segment_file(&self, base: i64) -> Result<segment::SegmentFile<F>> {
        let st = self.state.borrow();
        match st.segments.iter().find(|s| s.base_offset == base) {
            Some(seg) => Ok(seg.disk.clone()),
            None => Err(StorageError::Offline),
        }
    }

    /// Puts the writer's file state back (the segment may have been deleted meanwhile).
    pub(super) fn put_segment_file(
        &self,
        base: i64,
        disk: segment::SegmentFile<F>,
        finished: bool,
    ) {
        let mut st = self.state.borrow_mut();
        if let Some(seg) = st.segments.iter_mut().find(|s| s.base_offset == base) {
            seg.disk = disk;
            seg.finished |= finished;
        }
    }

    /// Sync, trim and index every sealed segment that is fully written.
    pub(super) async fn finish_sealed(&self) -> Result<()> {
        loop {
            let base = {
                let st = self.state.borrow();
                st.segments
                    .iter()
                    .find(|s| s.sealed && !s.finished && s.disk.written == s.bytes)
                    .map(|s| (s.base_offset, s.entries.clone()))
            };
            let Some((base, entries)) = base else {
                return Ok(());
            };
            let mut disk = self.segment_file(base)?;
            let res = disk.finish(&self.fs, &self.dir, base, entries).await;
            self.put_segment_file(base, disk, res.is_ok());
            res?;
        }
    }

    fn evict_cache(st: &mut State<F>, budget: usize) {
        while st.cache_bytes > budget {
            match st.cache.front() {
                Some(c) if c.last_offset < st.durable_end => {
                    st.cache_bytes -= c.bytes.len();
                    st.cache.pop_front();
                }
                _ => break,
            }
        }
    }
}
