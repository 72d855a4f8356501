//! A partition log: segments, the append path with group commit, reads, retention,
//! compaction and recovery, one concept per file:
//!
//! * `mod.rs`: the state, opening, appending, closing;
//! * `flush.rs`: the flusher (group commit, the sync policy, the durable end);
//! * `truncate.rs`: cutting the log's tail;
//! * `start.rs`: moving the log start offset on request (DeleteRecords, a follower);
//! * `read.rs`: read planning, the cache, disk reads with read-ahead;
//! * `retention.rs`, `compaction.rs`: housekeeping;
//! * `recovery.rs`: opening segments found on disk.
//!
//! A `Log` is owned by exactly one shard and shared between that shard's tasks through `Rc`.
//! It knows offsets and bytes only: producer state, transactions and the high watermark
//! belong to the partition above it (`myelin-replication`), which the log tells what became
//! durable and what was cut ([`LogEvent`]).
//!
//! Invariants, checked with assertions that stay on in release:
//! `log_start_offset <= durable_end <= log_end_offset`, segments are in offset order, and a
//! batch counts as durable only once it is written — and synced, when the flush policy asks
//! for it.

mod compaction;
mod flush;
mod read;
mod recovery;
mod retention;
mod start;
mod truncate;

pub use compaction::{CompactionReport, TxnView};
pub use read::ReadOutcome;
pub use start::LOG_START_FILE;

use crate::batch::{self, BatchHeader};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::fs::{DmaFs, FileSystem, SegmentIo};
use crate::index::{IndexEntry, SegmentIndex};
use crate::segment::{self, Segment};
use bytes::Bytes;
use futures::channel::oneshot;
use glommio::sync::Semaphore;
use read::ReadAhead;
use recovery::recover_segment;
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
    /// When it was appended (for the append-to-durable latency metric).
    appended_at: std::time::Instant,
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
    /// Offsets below this are written, and synced when the flush policy asks for it.
    durable_end: i64,
    pending: VecDeque<Pending>,
    cache: VecDeque<Cached>,
    cache_bytes: usize,
    unsynced_messages: u64,
    unsynced_bytes: u64,
    last_sync_ms: i64,
    waiters: Vec<oneshot::Sender<()>>,
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

/// How an append places its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendMode {
    /// The leader's append: offsets are assigned here and every batch is stamped with the
    /// leader epoch.
    Leader {
        /// The partition leader epoch stamped on every batch.
        leader_epoch: i32,
    },
    /// A replica's append: the batches carry the offsets and epoch the leader gave them, and
    /// the first must start at the log end offset.
    Replica,
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

/// Offsets a reader may ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offsets below this are durable: written, and synced when the flush policy asks.
    pub durable_end: i64,
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
    listener: RefCell<Option<Listener>>,
}

/// What the log tells the partition above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEvent {
    /// The durable end moved forward to `end`.
    Durable {
        /// The new durable end.
        end: i64,
    },
    /// The tail was cut at `end` (a truncation, or batches discarded after a full disk):
    /// state derived from the cut batches must be rebuilt.
    Truncated {
        /// The new log end offset.
        end: i64,
    },
}

/// Receives [`LogEvent`]s; runs on the log's shard, synchronously, with no borrow of the
/// log's state held, so it may call back into the log.
pub type Listener = Box<dyn Fn(LogEvent)>;

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
        let log_end_offset = segments.last().map_or(0, |s| s.next_offset());
        // A DeleteRecords may have moved the start inside the first segment.
        let asked_start = match fs.read(&dir.join(LOG_START_FILE)).await {
            Ok(bytes) => start::parse_log_start(&bytes).unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        let log_start_offset = segments
            .first()
            .map_or(0, |s| s.base_offset)
            .max(asked_start.min(log_end_offset));
        let state = State {
            segments,
            log_start_offset,
            log_end_offset,
            durable_end: log_end_offset,
            pending: VecDeque::new(),
            cache: VecDeque::new(),
            cache_bytes: 0,
            unsynced_messages: 0,
            unsynced_bytes: 0,
            last_sync_ms: now,
            waiters: Vec::new(),
            generation: 0,
            truncations: VecDeque::new(),
            cleaned_upto: 0,
        };
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
            listener: RefCell::new(None),
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

    /// Current log start offset, durable end and log end offset.
    pub fn offsets(&self) -> Offsets {
        let st = self.state.borrow();
        Offsets {
            log_start_offset: st.log_start_offset,
            durable_end: st.durable_end,
            log_end_offset: st.log_end_offset,
        }
    }

    /// Bytes of all segments (what retention by size counts).
    pub fn size_bytes(&self) -> u64 {
        self.state.borrow().segments.iter().map(|s| s.bytes).sum()
    }

    /// Sets the one receiver of this log's events (the partition that owns it).
    pub fn set_listener(&self, listener: Listener) {
        *self.listener.borrow_mut() = Some(listener);
    }

    /// Tells the listener, if any. Never called with the state borrowed.
    fn notify(&self, event: LogEvent) {
        if let Some(l) = self.listener.borrow().as_ref() {
            l(event);
        }
    }

    /// Calls `f` with the index entry of every batch in the log, in offset order, from
    /// memory: how the partition rebuilds producer and transaction state.
    pub fn for_each_entry(&self, mut f: impl FnMut(&IndexEntry)) {
        let st = self.state.borrow();
        for e in st.segments.iter().flat_map(|s| s.entries.iter()) {
            f(e);
        }
    }

    /// Reads a small file kept beside the segments (the partition's leader-epoch
    /// checkpoint, say); `None` when it does not exist.
    pub async fn read_side_file(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.fs.read(&self.dir.join(name)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a small file beside the segments durably (temporary file, sync, rename).
    pub async fn write_side_file(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        Ok(self.fs.write_atomic(&self.dir, name, bytes).await?)
    }

    /// The truncation generation: bumped by every cut of the tail.
    pub fn generation(&self) -> u64 {
        self.state.borrow().generation
    }

    /// Appends validated batches in order and returns where they went, with the index entry
    /// and the stored bytes (stamped with offsets and epoch) of each batch. A leader's append assigns offsets and stamps its epoch; a replica's
    /// keeps the offsets and epochs the leader gave them, which must continue the log. The
    /// batches are durable once [`Log::commit`] for the returned last offset has returned.
    pub fn append(
        &self,
        batches: &[(BatchHeader, Bytes)],
        mode: AppendMode,
    ) -> Result<(AppendInfo, Vec<(IndexEntry, Bytes)>)> {
        if self.offline.get() {
            return Err(StorageError::Offline);
        }
        let config = self.config.borrow();
        if config.cleanup_compact {
            for (header, bytes) in batches {
                if header.is_control() {
                    continue;
                }
                let keyless = crate::compact::keyless_records(bytes)?;
                if !keyless.is_empty() {
                    return Err(StorageError::KeylessRecords(keyless));
                }
            }
        }
        let now = now_ms();
        let append_time = match mode {
            AppendMode::Leader { .. } => config.log_append_time.then_some(now),
            AppendMode::Replica => None,
        };
        let mut st = self.state.borrow_mut();
        if let (AppendMode::Replica, Some((first, _))) = (mode, batches.first()) {
            if first.base_offset != st.log_end_offset {
                return Err(StorageError::NotContiguous {
                    expected: st.log_end_offset,
                    got: first.base_offset,
                });
            }
        }
        let base_offset = st.log_end_offset;
        let mut entries = Vec::with_capacity(batches.len());
        let appended_at = std::time::Instant::now();
        for (header, bytes) in batches {
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
            let stored = match mode {
                AppendMode::Leader { leader_epoch } => {
                    batch::stamp(bytes, offset, leader_epoch, append_time)
                }
                AppendMode::Replica if header.base_offset == offset => bytes.clone(),
                AppendMode::Replica => {
                    return Err(StorageError::NotContiguous {
                        expected: offset,
                        got: header.base_offset,
                    })
                }
            };
            let max_timestamp = append_time.unwrap_or(header.max_timestamp);
            let Some(active) = st.segments.last_mut() else {
                return Err(StorageError::Offline);
            };
            let entry = IndexEntry::for_batch(header, bytes, offset, active.bytes, max_timestamp);
            active.entries.push(entry);
            active.bytes += size;
            let segment_base = active.base_offset;
            st.log_end_offset = entry.last_offset + 1;
            entries.push((entry, stored.clone()));
            st.pending.push_back(Pending {
                segment_base,
                last_offset: entry.last_offset,
                records: header.records_count.max(1) as u64,
                bytes: stored.clone(),
                appended_at,
            });
            st.cache_bytes += stored.len();
            st.cache.push_back(Cached {
                base_offset: offset,
                last_offset: entry.last_offset,
                bytes: stored,
            });
        }
        assert!(st.durable_end <= st.log_end_offset);
        assert!(base_offset <= st.log_end_offset);
        let info = AppendInfo {
            base_offset,
            last_offset: st.log_end_offset - 1,
            log_append_time_ms: append_time.unwrap_or(-1),
            log_start_offset: st.log_start_offset,
            generation: st.generation,
        };
        Ok((info, entries))
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
