//! The file-backed durable storage of a quorum node, on plain `std::fs`.
//!
//! Three files in one directory:
//! * `raft.log`: a header (magic, format, generation, offset index and term, CRC-32C), then
//!   one frame per entry: a little-endian `u32` length and the entry's archive (format byte,
//!   rkyv, CRC-32C). Appends write the frames and `fdatasync`; a conflicting suffix is cut with
//!   `set_len` first.
//! * `hardstate`: term, vote, commit and voters, replaced by temp file + fsync + rename +
//!   directory fsync, so it is always the old or the new one, whole.
//! * `snapshot`: the latest snapshot, replaced the same way. Compaction writes it first and
//!   then rewrites `raft.log` (temp + rename) with the next generation.
//!
//! Recovery: a frame that is short, too long, fails its checksum or breaks the index sequence
//! ends the log: it and everything after it are cut (a torn append was never acknowledged).
//! A log one generation behind the snapshot is what a crash between the two renames leaves:
//! for a snapshot installed from the leader its entries are dropped, for a local compaction
//! they stay (they are still a valid log). Anything else that does not check out is
//! [`QuorumError::Corrupt`], never a panic.
//!
//! Synchronous on purpose: it runs on a blocking thread (or is called by a glommio shell that
//! accepts the fsync), and is tested with temporary directories.

use super::storage::{DurableStorage, Recovered};
use crate::codec;
use crate::error::QuorumError;
use crate::limits::{HARD_STATE_BYTES_MAX, LOG_ENTRY_BYTES_MAX, SNAPSHOT_BYTES_MAX};
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMetadata};
use rkyv::{Archive, Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const LOG_FILE: &str = "raft.log";
const HARD_STATE_FILE: &str = "hardstate";
const SNAPSHOT_FILE: &str = "snapshot";
const TMP_SUFFIX: &str = ".tmp";

/// First bytes of `raft.log`.
const LOG_MAGIC: [u8; 8] = *b"MYELRLOG";
/// Format of the log header and frames.
const LOG_FORMAT_VERSION: u8 = 1;
/// Format byte of an entry archive.
const ENTRY_FORMAT_VERSION: u8 = 1;
/// Format byte of the hard-state file.
const HARD_STATE_FORMAT_VERSION: u8 = 1;
/// Format byte of the snapshot file.
const SNAPSHOT_FORMAT_VERSION: u8 = 1;
/// magic + version + generation + offset index + offset term + CRC.
const LOG_HEADER_BYTES: usize = 8 + 1 + 8 + 8 + 8 + 4;
/// The length in front of each frame.
const FRAME_LEN_BYTES: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
struct StoredEntry {
    index: u64,
    term: u64,
    kind: u8,
    data: Vec<u8>,
    context: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
struct StoredHardState {
    term: u64,
    vote: u64,
    commit: u64,
    voters: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
struct StoredSnapshot {
    index: u64,
    term: u64,
    voters: Vec<u64>,
    data: Vec<u8>,
    /// The log generation this snapshot goes with.
    generation: u64,
    /// The log offset written with it.
    offset_index: u64,
    offset_term: u64,
    /// Installed from the leader: the log before it is not to be kept.
    installed: bool,
}

fn kind_byte(t: EntryType) -> u8 {
    match t {
        EntryType::EntryNormal => 0,
        EntryType::EntryConfChange => 1,
        EntryType::EntryConfChangeV2 => 2,
    }
}

fn entry_type(b: u8) -> Option<EntryType> {
    match b {
        0 => Some(EntryType::EntryNormal),
        1 => Some(EntryType::EntryConfChange),
        2 => Some(EntryType::EntryConfChangeV2),
        _ => None,
    }
}

/// One entry as a log frame: length, then the archive.
fn encode_frame(e: &Entry, out: &mut Vec<u8>) {
    let stored = StoredEntry {
        index: e.index,
        term: e.term,
        kind: kind_byte(e.get_entry_type()),
        data: e.data.to_vec(),
        context: e.context.to_vec(),
    };
    let body = codec::encode(ENTRY_FORMAT_VERSION, &stored);
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    assert!(
        len <= LOG_ENTRY_BYTES_MAX,
        "entry of {len} bytes exceeds the log limit"
    );
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
}

/// The entry of the frame at the start of `bytes` and the frame's length, if it checks out.
fn decode_frame(bytes: &[u8]) -> Option<(Entry, usize)> {
    let len_bytes: [u8; FRAME_LEN_BYTES] = bytes.get(..FRAME_LEN_BYTES)?.try_into().ok()?;
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 || len > LOG_ENTRY_BYTES_MAX {
        return None;
    }
    let end = FRAME_LEN_BYTES.checked_add(usize::try_from(len).ok()?)?;
    let body = bytes.get(FRAME_LEN_BYTES..end)?;
    let stored: StoredEntry = codec::decode(ENTRY_FORMAT_VERSION, body).ok()?;
    let e = Entry {
        entry_type: entry_type(stored.kind)?,
        index: stored.index,
        term: stored.term,
        data: stored.data.into(),
        context: stored.context.into(),
        ..Entry::default()
    };
    Some((e, end))
}

fn log_header(generation: u64, offset: (u64, u64)) -> Vec<u8> {
    let mut h = Vec::with_capacity(LOG_HEADER_BYTES);
    h.extend_from_slice(&LOG_MAGIC);
    h.push(LOG_FORMAT_VERSION);
    h.extend_from_slice(&generation.to_le_bytes());
    h.extend_from_slice(&offset.0.to_le_bytes());
    h.extend_from_slice(&offset.1.to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Generation and offset from a log header.
fn parse_log_header(bytes: &[u8]) -> Result<(u64, (u64, u64)), QuorumError> {
    let corrupt = |why: &str| QuorumError::Corrupt(format!("{LOG_FILE} header: {why}"));
    let header = bytes
        .get(..LOG_HEADER_BYTES)
        .ok_or_else(|| corrupt("short"))?;
    let (body, crc) = header.split_at(LOG_HEADER_BYTES - 4);
    let crc: [u8; 4] = crc.try_into().map_err(|_| corrupt("short"))?;
    if crc32c::crc32c(body) != u32::from_le_bytes(crc) {
        return Err(corrupt("checksum"));
    }
    if body.get(..8) != Some(&LOG_MAGIC[..]) {
        return Err(corrupt("magic"));
    }
    if body.get(8) != Some(&LOG_FORMAT_VERSION) {
        return Err(corrupt("unknown format version"));
    }
    let field = |at| u64_at(body, at).ok_or_else(|| corrupt("short"));
    Ok((field(9)?, (field(17)?, field(25)?)))
}

/// Reads a whole small file, refusing one larger than `max` before allocating.
fn read_bounded(path: &Path, max: u64) -> Result<Option<Vec<u8>>, QuorumError> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QuorumError::io(format!("stat {}", path.display()), e)),
    };
    if len > max {
        return Err(QuorumError::Corrupt(format!(
            "{} is {len} bytes, more than {max}",
            path.display()
        )));
    }
    fs::read(path)
        .map(Some)
        .map_err(|e| QuorumError::io(format!("read {}", path.display()), e))
}

/// The file-backed [`DurableStorage`].
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    log: Option<File>,
    generation: u64,
    offset: (u64, u64),
    /// File position of each entry's frame, from `offset.0 + 1`.
    positions: Vec<u64>,
    end: u64,
}

impl FileStorage {
    /// Storage in `dir` (created if missing). Call [`DurableStorage::recover`] before use.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStorage, QuorumError> {
        let dir = dir.into();
        fs::create_dir_all(&dir)
            .map_err(|e| QuorumError::io(format!("create {}", dir.display()), e))?;
        Ok(FileStorage {
            dir,
            log: None,
            generation: 0,
            offset: (0, 0),
            positions: Vec::new(),
            end: 0,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn sync_dir(&self) -> Result<(), QuorumError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| QuorumError::io(format!("fsync {}", self.dir.display()), e))
    }

    /// Writes `bytes` to `name` atomically: temp file, fsync, rename, directory fsync.
    fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<(), QuorumError> {
        let tmp = self.path(&format!("{name}{TMP_SUFFIX}"));
        let io = |what: &str, e| QuorumError::io(format!("{what} {}", tmp.display()), e);
        let mut f = File::create(&tmp).map_err(|e| io("create", e))?;
        f.write_all(bytes).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("fsync", e))?;
        drop(f);
        fs::rename(&tmp, self.path(name)).map_err(|e| io("rename", e))?;
        self.sync_dir()
    }

    /// Rewrites the whole log: header of `generation` and `offset`, then `entries`.
    fn rewrite_log(
        &mut self,
        generation: u64,
        offset: (u64, u64),
        entries: &[Entry],
    ) -> Result<(), QuorumError> {
        let mut bytes = log_header(generation, offset);
        let mut positions = Vec::with_capacity(entries.len());
        for e in entries {
            positions.push(bytes.len() as u64);
            encode_frame(e, &mut bytes);
        }
        self.log = None;
        self.replace_file(LOG_FILE, &bytes)?;
        self.generation = generation;
        self.offset = offset;
        self.positions = positions;
        self.end = bytes.len() as u64;
        self.open_log()
    }

    fn open_log(&mut self) -> Result<(), QuorumError> {
        let path = self.path(LOG_FILE);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| QuorumError::io(format!("open {}", path.display()), e))?;
        self.log = Some(f);
        Ok(())
    }

    fn log_file(&mut self) -> Result<&mut File, QuorumError> {
        self.log
            .as_mut()
            .ok_or_else(|| QuorumError::Corrupt("log used before recovery".into()))
    }

    fn read_snapshot(&self) -> Result<Option<StoredSnapshot>, QuorumError> {
        let path = self.path(SNAPSHOT_FILE);
        match read_bounded(&path, SNAPSHOT_BYTES_MAX)? {
            None => Ok(None),
            Some(bytes) => codec::decode(SNAPSHOT_FORMAT_VERSION, &bytes)
                .map(Some)
                .map_err(|e| QuorumError::Corrupt(format!("{}: {e}", path.display()))),
        }
    }

    fn read_hard_state(&self) -> Result<Option<StoredHardState>, QuorumError> {
        let path = self.path(HARD_STATE_FILE);
        match read_bounded(&path, HARD_STATE_BYTES_MAX)? {
            None => Ok(None),
            Some(bytes) => codec::decode(HARD_STATE_FORMAT_VERSION, &bytes)
                .map(Some)
                .map_err(|e| QuorumError::Corrupt(format!("{}: {e}", path.display()))),
        }
    }

    /// Scans the log file; returns generation, offset, entries, frame positions, and the
    /// length of the valid prefix (where a torn tail starts).
    fn scan_log(&self) -> Result<Option<ScannedLog>, QuorumError> {
        let path = self.path(LOG_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(QuorumError::io(format!("read {}", path.display()), e)),
        };
        let (generation, offset) = parse_log_header(&bytes)?;
        let mut scanned = ScannedLog {
            generation,
            offset,
            entries: Vec::new(),
            positions: Vec::new(),
            valid_len: LOG_HEADER_BYTES as u64,
            file_len: bytes.len() as u64,
        };
        let mut pos = LOG_HEADER_BYTES;
        let mut next = offset.0 + 1;
        while let Some((entry, len)) = bytes.get(pos..).and_then(decode_frame) {
            if entry.index != next {
                break;
            }
            scanned.positions.push(pos as u64);
            scanned.entries.push(entry);
            pos += len;
            next += 1;
        }
        scanned.valid_len = pos as u64;
        Ok(Some(scanned))
    }
}

struct ScannedLog {
    generation: u64,
    offset: (u64, u64),
    entries: Vec<Entry>,
    positions: Vec<u64>,
    valid_len: u64,
    file_len: u64,
}

fn to_snapshot(s: &StoredSnapshot) -> Snapshot {
    let mut conf = ConfState::default();
    conf.voters.clone_from(&s.voters);
    let mut meta = SnapshotMetadata {
        index: s.index,
        term: s.term,
        ..SnapshotMetadata::default()
    };
    meta.set_conf_state(conf);
    let mut snap = Snapshot {
        data: s.data.clone().into(),
        ..Snapshot::default()
    };
    snap.set_metadata(meta);
    snap
}

impl DurableStorage for FileStorage {
    fn recover(&mut self) -> Result<Recovered, QuorumError> {
        for name in [LOG_FILE, HARD_STATE_FILE, SNAPSHOT_FILE] {
            // A leftover temporary file is a replacement that never happened.
            let _ = fs::remove_file(self.path(&format!("{name}{TMP_SUFFIX}")));
        }
        let snapshot = self.read_snapshot()?;
        let hard = self.read_hard_state()?;
        let log = self.scan_log()?;
        let mut out = Recovered::default();
        if let Some(h) = &hard {
            out.hard_state.term = h.term;
            out.hard_state.vote = h.vote;
            out.hard_state.commit = h.commit;
            out.voters.clone_from(&h.voters);
        }
        let snap_generation = snapshot.as_ref().map_or(0, |s| s.generation);
        match (log, &snapshot) {
            (Some(log), _) if log.generation == snap_generation => {
                if log.valid_len < log.file_len {
                    // Cut the torn tail, durably, so later appends follow the valid prefix.
                    let f = OpenOptions::new()
                        .write(true)
                        .open(self.path(LOG_FILE))
                        .map_err(|e| QuorumError::io("open raft.log", e))?;
                    f.set_len(log.valid_len)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| QuorumError::io("cut raft.log", e))?;
                }
                self.generation = log.generation;
                self.offset = log.offset;
                self.positions = log.positions;
                self.end = log.valid_len;
                out.offset = log.offset;
                out.entries = log.entries;
                self.open_log()?;
            }
            (Some(log), Some(s)) if log.generation + 1 == s.generation => {
                // A crash between writing the snapshot and rewriting the log.
                let (offset, entries) = if s.installed {
                    ((s.offset_index, s.offset_term), Vec::new())
                } else {
                    (log.offset, log.entries)
                };
                self.rewrite_log(s.generation, offset, &entries)?;
                out.offset = offset;
                out.entries = entries;
            }
            (None, None) => {
                self.rewrite_log(0, (0, 0), &[])?;
            }
            (None, Some(s)) => {
                let offset = (s.offset_index, s.offset_term);
                self.rewrite_log(s.generation, offset, &[])?;
                out.offset = offset;
            }
            (Some(log), _) => {
                return Err(QuorumError::Corrupt(format!(
                    "log generation {} does not go with snapshot generation {snap_generation}",
                    log.generation
                )));
            }
        }
        if let Some(s) = &snapshot {
            let term_in_log = out
                .entries
                .iter()
                .find(|e| e.index == s.index)
                .map(|e| e.term);
            if term_in_log.is_some_and(|t| t != s.term) {
                return Err(QuorumError::Corrupt(format!(
                    "snapshot at {} has term {}, the log says otherwise",
                    s.index, s.term
                )));
            }
            out.snapshot = to_snapshot(s);
        }
        Ok(out)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), QuorumError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let last = self.offset.0 + self.positions.len() as u64;
        if first.index <= self.offset.0 || first.index > last + 1 {
            return Err(QuorumError::Corrupt(format!(
                "append at {} to a log of {}..={last}",
                first.index,
                self.offset.0 + 1
            )));
        }
        let keep = usize::try_from(first.index - self.offset.0 - 1).unwrap_or(usize::MAX);
        if let Some(&cut) = self.positions.get(keep) {
            self.log_file()?
                .set_len(cut)
                .map_err(|e| QuorumError::io("cut raft.log", e))?;
            self.positions.truncate(keep);
            self.end = cut;
        }
        let mut bytes = Vec::new();
        let mut positions = Vec::with_capacity(entries.len());
        for e in entries {
            positions.push(self.end + bytes.len() as u64);
            encode_frame(e, &mut bytes);
        }
        let end = self.end;
        let f = self.log_file()?;
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(end))
            .and_then(|_| f.write_all(&bytes))
            .and_then(|()| f.sync_data())
            .map_err(|e| QuorumError::io("append raft.log", e))?;
        self.positions.extend(positions);
        self.end += bytes.len() as u64;
        Ok(())
    }

    fn save_hard_state(&mut self, hs: &HardState, voters: &[u64]) -> Result<(), QuorumError> {
        let stored = StoredHardState {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit,
            voters: voters.to_vec(),
        };
        self.replace_file(
            HARD_STATE_FILE,
            &codec::encode(HARD_STATE_FORMAT_VERSION, &stored),
        )
    }

    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        offset: (u64, u64),
        retained: &[Entry],
    ) -> Result<(), QuorumError> {
        let meta = snapshot.get_metadata();
        let generation = self.generation + 1;
        let stored = StoredSnapshot {
            index: meta.index,
            term: meta.term,
            voters: meta.get_conf_state().voters.clone(),
            data: snapshot.data.to_vec(),
            generation,
            offset_index: offset.0,
            offset_term: offset.1,
            installed: retained.is_empty() && offset == (meta.index, meta.term),
        };
        self.replace_file(
            SNAPSHOT_FILE,
            &codec::encode(SNAPSHOT_FORMAT_VERSION, &stored),
        )?;
        self.rewrite_log(generation, offset, retained)
    }
}

#[cfg(test)]
mod tests;
