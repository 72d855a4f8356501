//! A partition log: segments, the append path with group commit, reads, retention and
//! recovery.
//!
//! A `Log` is owned by exactly one shard and shared between that shard's tasks through `Rc`.
//! Invariants, checked with assertions that stay on in release:
//! `log_start_offset <= high_watermark <= log_end_offset`, segments are in offset order, and
//! batches become visible to readers (below the high watermark) only once they are written —
//! and synced, when the flush policy asks for it.

use crate::batch::{self, BatchHeader};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::fs::{DmaFs, FileSystem, SegmentIo};
use crate::index::{self, IndexEntry, SegmentIndex};
use crate::producer::{self, ProducerState, SeqCheck};
use crate::segment::{self, Segment};
use crate::txn::{AbortedTxn, TxnIndex};
use bytes::Bytes;
use futures::channel::oneshot;
use glommio::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A batch appended but not yet written to its segment file.
struct Pending {
    segment_base: i64,
    last_offset: i64,
    records: u64,
    bytes: Bytes,
}

/// A recent batch kept in memory.
struct Cached {
    base_offset: i64,
    last_offset: i64,
    bytes: Bytes,
}

struct State<F: FileSystem> {
    segments: Vec<Segment<F>>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    pending: VecDeque<Pending>,
    cache: VecDeque<Cached>,
    cache_bytes: usize,
    unsynced_messages: u64,
    unsynced_bytes: u64,
    last_sync_ms: i64,
    waiters: Vec<oneshot::Sender<()>>,
    producers: ProducerState,
    txns: TxnIndex,
    /// Bumped by every truncation; appends remember the generation they were made in.
    generation: u64,
    /// Recent truncations, `(generation after it, offset cut at)`, oldest first.
    truncations: VecDeque<(u64, i64)>,
    /// Compaction has cleaned the log below this offset since it was opened.
    cleaned_upto: i64,
}

/// Written by a clean close after the active segment's index; its presence at start means
/// no scan is needed.
const CLEAN_SHUTDOWN_MARKER: &str = ".clean-shutdown";

/// Truncations remembered for appends still waiting on them; an append older than all of
/// them is treated as discarded.
const TRUNCATIONS_KEPT: usize = 16;

impl<F: FileSystem> State<F> {
    /// Rebuilds producer and transaction state from the batch index, as on start-up.
    fn rebuild_producers(&mut self, now: i64) {
        self.producers = ProducerState::default();
        self.txns = TxnIndex::default();
        for e in self.segments.iter().flat_map(|s| s.entries.iter()) {
            self.txns.on_batch(e);
            if e.control_type != crate::txn::MARKER_NONE {
                self.producers.fence(e.producer_id, e.producer_epoch, now);
            }
            if e.producer_id >= 0 && e.base_sequence >= 0 {
                let count = (e.last_offset - e.base_offset + 1) as i32;
                let last = producer::last_seq(e.base_sequence, count);
                self.producers.record(
                    e.producer_id,
                    e.producer_epoch,
                    e.base_sequence,
                    last,
                    e.base_offset,
                    e.last_offset,
                    now,
                );
            }
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp for `LogAppendTime` topics, otherwise -1.
    pub log_append_time_ms: i64,
    /// Log start offset at the time of the append.
    pub log_start_offset: i64,
    /// The log's truncation generation when the append was made.
    pub generation: u64,
}

/// What a read returns.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Whole batches, in offset order; the first one contains the requested offset.
    pub batches: Vec<Bytes>,
    /// High watermark when the read was served.
    pub high_watermark: i64,
    /// Last stable offset when the read was served.
    pub last_stable_offset: i64,
    /// Log start offset when the read was served.
    pub log_start_offset: i64,
    /// For a committed-only read: aborted transactions overlapping the batches returned.
    pub aborted: Vec<AbortedTxn>,
}

/// Offsets a reader may ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offsets below this are durable and visible.
    pub high_watermark: i64,
    /// Offsets below this are not in any open transaction (`read_committed` reads to here).
    pub last_stable_offset: i64,
    /// Next offset to be assigned.
    pub log_end_offset: i64,
}

/// One partition's log, on the real file system unless a test gives it another.
pub struct Log<F: FileSystem = DmaFs> {
    fs: F,
    dir: PathBuf,
    config: RefCell<LogConfig>,
    state: RefCell<State<F>>,
    writer: Semaphore,
    flushing: Cell<bool>,
    sync_timer: Cell<bool>,
    offline: Cell<bool>,
    readahead: RefCell<Option<ReadAhead<F>>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Log<DmaFs> {
    /// Opens the log in `dir` on the real file system; see [`Log::open_with`].
    pub async fn open(dir: PathBuf, config: LogConfig) -> Result<Log> {
        // The probe's answer is cached per device for the whole process: once is enough.
        static PROBED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !PROBED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            match crate::fs::probe_device(&dir).await {
                Ok(()) => {}
                // A full disk must not keep the broker from starting: segment files always
                // hold at least one block, so the first one opened makes an honest probe.
                Err(e) if crate::error::disk_full(&e) => {
                    tracing::warn!(dir = %dir.display(), "disk full: skipped the I/O probe file")
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Decided when the log opens: a later `flush.messages` change keeps O_DSYNC (safe,
        // only slower) until the next start.
        let fs = DmaFs {
            dsync: config.flush_messages == 1,
        };
        Log::open_with(fs, dir, config).await
    }
}

impl<F: FileSystem> Log<F> {
    /// Opens the log in `dir`, creating the directory if needed, and recovers it: sealed
    /// segments load their index, the last segment is scanned and cut after its last intact
    /// batch.
    pub async fn open_with(fs: F, dir: PathBuf, config: LogConfig) -> Result<Log<F>> {
        let names = fs.list(&dir).await?;
        // A compaction that did not finish its swap (the original segment is intact), and
        // retired segments the reaper had not finished.
        for name in names
            .iter()
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(crate::fs::reaper::SUFFIX))
        {
            fs.remove(&dir.join(name)).await?;
        }
        let mut listing: Vec<i64> = names
            .iter()
            .filter_map(|name| name.strip_suffix(".log")?.parse().ok())
            .collect();
        listing.sort_unstable();
        let now = now_ms();
        let mut segments = Vec::with_capacity(listing.len());
        let count = listing.len();
        // After a clean shutdown the active segment's index is on disk too and nothing
        // needs scanning; after a crash the active segment's tail is scanned.
        let clean = names.iter().any(|n| n == CLEAN_SHUTDOWN_MARKER);
        for (i, base) in listing.into_iter().enumerate() {
            let last = i + 1 == count;
            segments.push(recover_segment(&fs, &dir, base, last, clean, &config, now).await?);
        }
        // The active segment's index describes it only until the next append: it goes
        // before the marker does, so no crash can leave a stale index that a later start
        // would trust.
        if let Some(active) = segments.last() {
            let name = segment::index_file_name(active.base_offset);
            if names.contains(&name) {
                fs.remove(&dir.join(name)).await?;
            }
        }
        if clean {
            fs.remove(&dir.join(CLEAN_SHUTDOWN_MARKER)).await?;
        }
        if segments.is_empty() {
            segments.push(Segment::new(0, now));
        }
        let log_start_offset = segments.first().map_or(0, |s| s.base_offset);
        let log_end_offset = segments.last().map_or(0, |s| s.next_offset());
        let mut state = State {
            segments,
            log_start_offset,
            log_end_offset,
            high_watermark: log_end_offset,
            pending: VecDeque::new(),
            cache: VecDeque::new(),
            cache_bytes: 0,
            unsynced_messages: 0,
            unsynced_bytes: 0,
            last_sync_ms: now,
            waiters: Vec::new(),
            producers: ProducerState::default(),
            txns: TxnIndex::default(),
            generation: 0,
            truncations: VecDeque::new(),
            cleaned_upto: 0,
        };
        // Producer state comes back from the index: every entry names its batch's producer.
        state.rebuild_producers(now);
        Ok(Log {
            fs,
            dir,
            config: RefCell::new(config),
            state: RefCell::new(state),
            writer: Semaphore::new(1),
            flushing: Cell::new(false),
            sync_timer: Cell::new(false),
            offline: Cell::new(false),
            readahead: RefCell::new(None),
        })
    }

    /// The directory holding this log's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the configuration (topic config changes).
    pub fn set_config(&self, config: LogConfig) {
        *self.config.borrow_mut() = config;
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.config.borrow().clone()
    }

    /// Current log start offset, high watermark and log end offset.
    pub fn offsets(&self) -> Offsets {
        let st = self.state.borrow();
        Offsets {
            log_start_offset: st.log_start_offset,
            high_watermark: st.high_watermark,
            last_stable_offset: st.txns.last_stable_offset(st.high_watermark),
            log_end_offset: st.log_end_offset,
        }
    }

    /// Appends validated batches in order, assigning offsets. The batches are readable once
    /// [`Log::commit`] for the returned last offset has returned.
    pub fn append(
        &self,
        batches: &[(BatchHeader, Bytes)],
        leader_epoch: i32,
    ) -> Result<AppendInfo> {
        if self.offline.get() {
            return Err(StorageError::Offline);
        }
        let config = self.config.borrow();
        if config.cleanup_compact {
            for (header, bytes) in batches {
                if !header.is_control() && crate::compact::has_null_key(bytes)? {
                    return Err(StorageError::InvalidRecord(
                        "a compacted topic takes only records with a key",
                    ));
                }
            }
        }
        let now = now_ms();
        let append_time = config.log_append_time.then_some(now);
        let mut st = self.state.borrow_mut();
        let mut first_offset: Option<i64> = None;
        let mut last_offset = st.log_end_offset - 1;
        for (header, bytes) in batches {
            let idempotent = header.producer_id >= 0 && header.base_sequence >= 0;
            let last_seq = producer::last_seq(header.base_sequence, header.last_offset_delta + 1);
            if idempotent {
                let check = st.producers.check(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    last_seq,
                )?;
                if let SeqCheck::Duplicate {
                    base_offset,
                    last_offset: dup_last,
                } = check
                {
                    // A retry of a batch already written: answer with where it went.
                    first_offset.get_or_insert(base_offset);
                    last_offset = last_offset.max(dup_last);
                    continue;
                }
            }
            let size = bytes.len() as u64;
            let roll = st.segments.last().is_some_and(|s| {
                !s.entries.is_empty()
                    && (s.bytes + size > config.segment_bytes
                        || now - s.created_ms >= config.segment_ms)
            });
            if roll {
                let leo = st.log_end_offset;
                if let Some(active) = st.segments.last_mut() {
                    active.sealed = true;
                }
                st.segments.push(Segment::new(leo, now));
            }
            let offset = st.log_end_offset;
            let stamped = batch::stamp(bytes, offset, leader_epoch, append_time);
            let max_timestamp = append_time.unwrap_or(header.max_timestamp);
            let Some(active) = st.segments.last_mut() else {
                return Err(StorageError::Offline);
            };
            let entry = IndexEntry::for_batch(header, bytes, offset, active.bytes, max_timestamp);
            active.entries.push(entry);
            active.bytes += size;
            let segment_base = active.base_offset;
            st.log_end_offset = entry.last_offset + 1;
            if idempotent {
                st.producers.record(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    last_seq,
                    offset,
                    entry.last_offset,
                    now,
                );
            }
            st.txns.on_batch(&entry);
            if entry.control_type != crate::txn::MARKER_NONE {
                st.producers
                    .fence(header.producer_id, header.producer_epoch, now);
            }
            first_offset.get_or_insert(offset);
            last_offset = last_offset.max(entry.last_offset);
            st.pending.push_back(Pending {
                segment_base,
                last_offset: entry.last_offset,
                records: header.records_count.max(1) as u64,
                bytes: stamped.clone(),
            });
            st.cache_bytes += stamped.len();
            st.cache.push_back(Cached {
                base_offset: offset,
                last_offset: entry.last_offset,
                bytes: stamped,
            });
        }
        assert!(st.high_watermark <= st.log_end_offset);
        assert!(last_offset < st.log_end_offset);
        Ok(AppendInfo {
            base_offset: first_offset.unwrap_or(st.log_end_offset),
            last_offset,
            log_append_time_ms: append_time.unwrap_or(-1),
            log_start_offset: st.log_start_offset,
            generation: st.generation,
        })
    }

    /// Waits until `last_offset` is below the high watermark: written, and synced if the
    /// flush policy asks for it.
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
                if st.high_watermark > last_offset {
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
    /// advances the high watermark and wakes waiting readers. Called with the writer held.
    async fn write_pending(&self, force_sync: bool) -> Result<()> {
        let batch = std::mem::take(&mut self.state.borrow_mut().pending);
        let Some(last) = batch.back().map(|p| p.last_offset) else {
            return self.finish_sealed().await;
        };
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
        let mut st = self.state.borrow_mut();
        if last + 1 > st.high_watermark {
            st.high_watermark = last + 1;
        }
        assert!(st.log_start_offset <= st.high_watermark);
        assert!(st.high_watermark <= st.log_end_offset);
        for w in st.waiters.drain(..) {
            let _ = w.send(());
        }
        Self::evict_cache(&mut st, self.config.borrow().cache_bytes);
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
    fn segment_file(&self, base: i64) -> Result<segment::SegmentFile<F>> {
        let st = self.state.borrow();
        match st.segments.iter().find(|s| s.base_offset == base) {
            Some(seg) => Ok(seg.disk.clone()),
            None => Err(StorageError::Offline),
        }
    }

    /// Puts the writer's file state back (the segment may have been deleted meanwhile).
    fn put_segment_file(&self, base: i64, disk: segment::SegmentFile<F>, finished: bool) {
        let mut st = self.state.borrow_mut();
        if let Some(seg) = st.segments.iter_mut().find(|s| s.base_offset == base) {
            seg.disk = disk;
            seg.finished |= finished;
        }
    }

    /// Cuts everything from `offset` on (rounded down to the start of the batch holding it)
    /// from memory and disk. Appends waiting on the cut records fail with
    /// [`StorageError::Discarded`].
    pub async fn truncate_to(&self, offset: i64) -> Result<()> {
        let _permit = self.writer.acquire_permit(1).await?;
        self.truncate_locked(offset).await
    }

    /// After a write failed for lack of space: drops every batch that is not yet below the
    /// high watermark, so the log on disk and in memory agree again and later appends start
    /// from a clean end. Called with the writer held.
    async fn discard_unwritten(&self) -> Result<()> {
        let hw = self.state.borrow().high_watermark;
        self.truncate_locked(hw).await
    }

    async fn truncate_locked(&self, offset: i64) -> Result<()> {
        let now = now_ms();
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
            st.high_watermark = st.high_watermark.min(cut);
            st.unsynced_messages = 0;
            st.unsynced_bytes = 0;
            st.generation += 1;
            let generation = st.generation;
            st.truncations.push_back((generation, cut));
            if st.truncations.len() > TRUNCATIONS_KEPT {
                st.truncations.pop_front();
            }
            st.rebuild_producers(now);
            *self.readahead.borrow_mut() = None;
            for w in st.waiters.drain(..) {
                let _ = w.send(());
            }
            (dropped, cut_segment)
        };
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

    /// Sync, trim and index every sealed segment that is fully written.
    async fn finish_sealed(&self) -> Result<()> {
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
                Some(c) if c.last_offset < st.high_watermark => {
                    st.cache_bytes -= c.bytes.len();
                    st.cache.pop_front();
                }
                _ => break,
            }
        }
    }

    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes`
    /// (the first batch is returned even when larger) and never past the high watermark.
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadOutcome> {
        self.read_upto(offset, max_bytes, false).await
    }

    /// Like [`Log::read`]; with `committed_only` (`read_committed`), stops at the last
    /// stable offset and reports the aborted transactions among the batches returned.
    pub async fn read_upto(
        &self,
        offset: i64,
        max_bytes: usize,
        committed_only: bool,
    ) -> Result<ReadOutcome> {
        let (plan, mut out) = {
            let st = self.state.borrow();
            if offset < st.log_start_offset || offset > st.log_end_offset {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    start: st.log_start_offset,
                    end: st.log_end_offset,
                });
            }
            let lso = st.txns.last_stable_offset(st.high_watermark);
            let upto = if committed_only {
                lso
            } else {
                st.high_watermark
            };
            let (plan, last) = Self::plan_read(&st, offset, max_bytes, upto);
            let aborted = match last {
                Some(last) if committed_only => st.txns.aborted_between(offset, last),
                _ => Vec::new(),
            };
            let out = ReadOutcome {
                batches: Vec::new(),
                high_watermark: st.high_watermark,
                last_stable_offset: lso,
                log_start_offset: st.log_start_offset,
                aborted,
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
                        plan.push(ReadStep::Cached(c.bytes.clone()));
                        continue;
                    }
                }
                let Some(file) = &seg.disk.file else {
                    // Not written yet; unreachable below the high watermark.
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

    /// A receiver that fires when the high watermark next moves.
    pub fn watch(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.state.borrow_mut();
        if st.waiters.len() >= crate::limits::WAITERS_SWEEP_AT {
            st.waiters.retain(|w| !w.is_canceled());
        }
        st.waiters.push(tx);
        rx
    }

    /// The first batch (below the high watermark) whose max timestamp is at or after
    /// `timestamp`, for ListOffsets; the caller finds the record inside it.
    pub async fn batch_for_timestamp(&self, timestamp: i64) -> Result<Option<Bytes>> {
        let found = {
            let st = self.state.borrow();
            let hw = st.high_watermark;
            st.segments
                .iter()
                .flat_map(|s| s.entries.iter())
                .find(|e| e.base_offset < hw && e.max_timestamp >= timestamp)
                .map(|e| e.base_offset)
        };
        self.first_batch_at(found).await
    }

    /// The batch holding the largest timestamp (the first such one), for ListOffsets -3.
    pub async fn batch_with_max_timestamp(&self) -> Result<Option<Bytes>> {
        let found = {
            let st = self.state.borrow();
            let hw = st.high_watermark;
            let mut best: Option<&IndexEntry> = None;
            for e in st.segments.iter().flat_map(|s| s.entries.iter()) {
                if e.base_offset < hw && best.is_none_or(|b| e.max_timestamp > b.max_timestamp) {
                    best = Some(e);
                }
            }
            best.map(|e| e.base_offset)
        };
        self.first_batch_at(found).await
    }

    async fn first_batch_at(&self, offset: Option<i64>) -> Result<Option<Bytes>> {
        let Some(offset) = offset else {
            return Ok(None);
        };
        Ok(self.read(offset, 1).await?.batches.into_iter().next())
    }

    /// Deletes sealed, fully written segments that retention by time or size no longer
    /// keeps. Returns the number of segments deleted.
    pub async fn enforce_retention(&self, now: i64) -> Result<usize> {
        let doomed: Vec<Segment<F>> = {
            let config = self.config.borrow();
            let mut st = self.state.borrow_mut();
            st.producers.expire(now, producer::PRODUCER_EXPIRATION_MS);
            let start = st.log_start_offset;
            st.txns.trim(start);
            let mut total: u64 = st.segments.iter().map(|s| s.bytes).sum();
            let mut n = 0;
            for s in st.segments.iter() {
                let deletable = s.sealed && s.finished && s.next_offset() <= st.high_watermark;
                let too_old =
                    config.retention_ms >= 0 && s.max_timestamp() < now - config.retention_ms;
                let too_big = config.retention_bytes >= 0 && total > config.retention_bytes as u64;
                if !(config.cleanup_delete && deletable && (too_old || too_big)) {
                    break;
                }
                total -= s.bytes;
                n += 1;
            }
            if n == 0 {
                return Ok(0);
            }
            let doomed: Vec<Segment<F>> = st.segments.drain(..n).collect();
            *self.readahead.borrow_mut() = None;
            st.log_start_offset = st
                .segments
                .first()
                .map_or(st.log_end_offset, |s| s.base_offset);
            while st
                .cache
                .front()
                .is_some_and(|c| c.base_offset < st.log_start_offset)
            {
                if let Some(c) = st.cache.pop_front() {
                    st.cache_bytes -= c.bytes.len();
                }
            }
            doomed
        };
        let n = doomed.len();
        for seg in doomed {
            let log = self.dir.join(segment::log_file_name(seg.base_offset));
            let idx = self.dir.join(segment::index_file_name(seg.base_offset));
            drop(seg);
            self.fs.remove(&idx).await?;
            self.fs.retire(&log).await?;
        }
        Ok(n)
    }

    /// Compacts the sealed segments when the topic asks for it and enough of them is dirty:
    /// the last record per key stays, older ones go, tombstones go once older than
    /// `delete.retention.ms`, aborted transactional data goes, control batches stay. Only
    /// sealed segments below the last stable offset and older than `min.compaction.lag.ms`
    /// are touched; offsets never change. Each cleaned segment is written beside the old
    /// one and swapped in by rename, so a crash leaves either. Returns what was done.
    ///
    /// Compaction shares the shard's core and disk with produce and fetch: it yields
    /// whenever its task queue's time slice is up, and its I/O is paced.
    pub async fn compact(&self, now: i64) -> Result<CompactionReport> {
        let config = self.config();
        let mut report = CompactionReport::default();
        let Some(plan) = self.plan_compaction(&config, now) else {
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
    fn plan_compaction(&self, config: &LogConfig, now: i64) -> Option<CompactionPlan<F>> {
        if !config.cleanup_compact {
            return None;
        }
        let st = self.state.borrow();
        let lso = st.txns.last_stable_offset(st.high_watermark);
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
            aborted: st.txns.aborted_between(first, last),
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

    /// Writes the active segment's index and then the clean-shutdown marker, so the next
    /// start loads the log without scanning. Called with everything written and synced.
    async fn checkpoint(&self) -> Result<()> {
        let index = {
            let st = self.state.borrow();
            st.segments.last().and_then(|s| {
                s.disk.file.as_ref()?;
                Some(SegmentIndex {
                    base_offset: s.base_offset,
                    logical_bytes: s.disk.written,
                    entries: s.entries.clone(),
                })
            })
        };
        if let Some(index) = index {
            let name = segment::index_file_name(index.base_offset);
            self.fs
                .write_atomic(&self.dir, &name, index.to_bytes()?)
                .await?;
        }
        self.fs
            .write_atomic(&self.dir, CLEAN_SHUTDOWN_MARKER, Vec::new())
            .await?;
        Ok(())
    }

    /// Writes and syncs everything pending, finishes sealed segments and closes the files.
    pub async fn close(&self) -> Result<()> {
        let _permit = self.writer.acquire_permit(1).await?;
        if !self.offline.get() {
            self.write_pending(true).await?;
            self.checkpoint().await?;
        }
        *self.readahead.borrow_mut() = None;
        let files: Vec<_> = {
            let mut st = self.state.borrow_mut();
            st.segments
                .iter_mut()
                .filter_map(|s| s.disk.file.take())
                .collect()
        };
        for f in files {
            if let Ok(f) = Rc::try_unwrap(f) {
                f.close().await?;
            }
        }
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

/// Splits bytes read from a segment into the batches the index promised, checking each one's
/// length, CRC and base offset, and that nothing is left over.
fn split_as_indexed(mut data: Bytes, bases: impl Iterator<Item = i64>) -> Result<Vec<Bytes>> {
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
struct ReadAhead<F: FileSystem> {
    file: Rc<F::File>,
    position: u64,
    data: Bytes,
}

/// Opens one segment found on disk. A sealed segment with a valid index is trusted; anything
/// else is scanned, and the last segment is cut after its last intact batch.
#[allow(clippy::too_many_arguments)]
async fn recover_segment<F: FileSystem>(
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
