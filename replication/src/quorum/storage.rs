//! Durable Raft state behind a small trait, and the in-memory view Raft reads from.
//!
//! [`DurableStorage`] is what must survive a crash: log entries, the hard state (term, vote,
//! commit) with the voter set, and the latest snapshot. Every write method returns only once
//! its data is durable (fsynced): the quorum node relies on that to send a vote or an append
//! acknowledgement only after what it promises is on disk.
//!
//! [`RaftStore`] keeps everything in memory as well (the metadata log is small and compacted
//! by snapshots) and implements [`raft::Storage`] over that copy, so Raft's reads never touch
//! the disk. Its invariants: entries are contiguous, they follow `offset` (the index and term
//! of the entry just before the first one kept), and the snapshot is at or after `offset`.

use crate::error::QuorumError;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};

/// What a storage holds after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// Term, vote and (possibly stale) commit index.
    pub hard_state: HardState,
    /// Voter Raft ids; empty for a storage never written.
    pub voters: Vec<u64>,
    /// The latest snapshot; index 0 when there is none.
    pub snapshot: Snapshot,
    /// Index and term of the entry just before `entries` (0, 0 for a log never compacted).
    pub offset: (u64, u64),
    /// Contiguous entries from `offset.0 + 1`.
    pub entries: Vec<Entry>,
}

/// The durable part of a quorum node. Every method is synchronous and durable on return.
pub trait DurableStorage {
    /// Reads back what survived, cutting torn or corrupt tails. Called once, at open.
    fn recover(&mut self) -> Result<Recovered, QuorumError>;

    /// Appends `entries` (contiguous). When the first one's index is at or below the last
    /// stored index, the stored log is cut there first (Raft overwrote a conflicting suffix).
    fn append(&mut self, entries: &[Entry]) -> Result<(), QuorumError>;

    /// Replaces the hard state and voter set.
    fn save_hard_state(
        &mut self,
        hard_state: &HardState,
        voters: &[u64],
    ) -> Result<(), QuorumError>;

    /// Stores `snapshot` and replaces the log by `offset` and `retained` (the entries after
    /// `offset` that stay). A snapshot from the leader retains nothing; a local compaction
    /// retains the entries after the new offset.
    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        offset: (u64, u64),
        retained: &[Entry],
    ) -> Result<(), QuorumError>;
}

/// Raft's view of the log: an in-memory copy of the durable state, written through.
#[derive(Debug)]
pub struct RaftStore<D> {
    durable: D,
    hard_state: HardState,
    persisted_hard_state: HardState,
    conf_state: ConfState,
    snapshot: Snapshot,
    offset: (u64, u64),
    entries: Vec<Entry>,
}

impl<D: DurableStorage> RaftStore<D> {
    /// Recovers `durable` and checks it against the configured `voters`; a storage never
    /// written is initialised with them.
    pub fn open(mut durable: D, voters: &[u64]) -> Result<RaftStore<D>, QuorumError> {
        let r = durable.recover()?;
        let snap_index = r.snapshot.get_metadata().index;
        if snap_index < r.offset.0 {
            return Err(QuorumError::Corrupt(format!(
                "snapshot at {snap_index} is older than the log start {}",
                r.offset.0
            )));
        }
        for (e, i) in r.entries.iter().zip(r.offset.0 + 1..) {
            if e.index != i {
                return Err(QuorumError::Corrupt(format!(
                    "entry {} where {i} belongs",
                    e.index
                )));
            }
        }
        let last = r.offset.0 + r.entries.len() as u64;
        if snap_index > last {
            return Err(QuorumError::Corrupt(format!(
                "snapshot at {snap_index} beyond the log end {last}"
            )));
        }
        let mut hard_state = r.hard_state;
        // The commit index is saved lazily (Raft relearns it); it is at least the snapshot.
        hard_state.commit = hard_state.commit.max(snap_index);
        if hard_state.commit > last {
            return Err(QuorumError::Corrupt(format!(
                "commit index {} beyond the log end {last}",
                hard_state.commit
            )));
        }
        let mut store = RaftStore {
            durable,
            persisted_hard_state: hard_state.clone(),
            hard_state,
            conf_state: ConfState::default(),
            snapshot: r.snapshot,
            offset: r.offset,
            entries: r.entries,
        };
        if r.voters.is_empty() {
            store.conf_state.voters = voters.to_vec();
            store.persist_hard_state()?;
        } else {
            let (mut want, mut have) = (voters.to_vec(), r.voters);
            want.sort_unstable();
            have.sort_unstable();
            if want != have {
                return Err(QuorumError::Config(format!(
                    "storage was formatted for voters {have:?}, config says {want:?}"
                )));
            }
            store.conf_state.voters = have;
        }
        Ok(store)
    }

    /// The durable backend (tests inspect it).
    pub fn durable(&self) -> &D {
        &self.durable
    }

    /// Index of the last entry.
    pub fn last(&self) -> u64 {
        self.offset.0 + self.entries.len() as u64
    }

    /// Index of the first entry kept.
    pub fn first(&self) -> u64 {
        self.offset.0 + 1
    }

    /// The latest snapshot (index 0 when none).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The hard state as last set (its commit index may be ahead of the durable copy).
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The entry at `index`, if kept.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let i = usize::try_from(index.checked_sub(self.first())?).ok()?;
        self.entries.get(i)
    }

    /// Term of the entry at `index`, if known (the offset's term counts).
    pub fn term_of(&self, index: u64) -> Option<u64> {
        if index == self.offset.0 {
            return Some(self.offset.1);
        }
        if index == self.snapshot.get_metadata().index {
            return Some(self.snapshot.get_metadata().term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// Writes `entries` through (durable on return).
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), QuorumError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        assert!(first.index > self.offset.0, "append below the log start");
        assert!(first.index <= self.last() + 1, "append leaves a gap");
        self.durable.append(entries)?;
        let keep = usize::try_from(first.index - self.first()).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Sets the hard state; it is written durably when term or vote changed (the commit
    /// index alone is not worth an fsync: Raft relearns it from the leader).
    pub fn set_hard_state(&mut self, hs: &HardState) -> Result<(), QuorumError> {
        self.hard_state = hs.clone();
        let p = &self.persisted_hard_state;
        if hs.term != p.term || hs.vote != p.vote {
            self.persist_hard_state()?;
        }
        Ok(())
    }

    /// Records a commit index learnt after a ready was persisted.
    pub fn set_commit(&mut self, commit: u64) {
        self.hard_state.commit = commit;
    }

    fn persist_hard_state(&mut self) -> Result<(), QuorumError> {
        self.durable
            .save_hard_state(&self.hard_state, &self.conf_state.voters)?;
        self.persisted_hard_state = self.hard_state.clone();
        Ok(())
    }

    /// Installs a snapshot sent by the leader: the whole log is replaced.
    pub fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), QuorumError> {
        let meta = snapshot.get_metadata();
        let offset = (meta.index, meta.term);
        self.durable.save_snapshot(snapshot, offset, &[])?;
        self.snapshot = snapshot.clone();
        self.offset = offset;
        self.entries.clear();
        if self.hard_state.commit < meta.index {
            self.hard_state.commit = meta.index;
        }
        Ok(())
    }

    /// Stores a snapshot of the applied state at `index` and drops the log before
    /// `index - trailing` (trailing entries spare slightly lagging followers a snapshot).
    pub fn compact(&mut self, index: u64, data: Vec<u8>, trailing: u64) -> Result<(), QuorumError> {
        let term = self.term_of(index).ok_or_else(|| {
            QuorumError::Raft(format!("snapshot index {index} is not in the log"))
        })?;
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.conf_state.clone());
        let mut snapshot = Snapshot {
            data: data.into(),
            ..Snapshot::default()
        };
        snapshot.set_metadata(meta);
        let new_start = index.saturating_sub(trailing).max(self.offset.0);
        let offset_term = self.term_of(new_start).unwrap_or(term);
        let drop = usize::try_from(new_start - self.offset.0).unwrap_or(usize::MAX);
        let retained = self.entries.get(drop..).unwrap_or(&[]).to_vec();
        self.durable
            .save_snapshot(&snapshot, (new_start, offset_term), &retained)?;
        self.snapshot = snapshot;
        self.offset = (new_start, offset_term);
        self.entries = retained;
        Ok(())
    }
}

fn unavailable() -> raft::Error {
    raft::Error::Store(StorageError::Unavailable)
}

impl<D> raft::Storage for RaftStore<D> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.offset.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        let first = self.offset.0 + 1;
        let lo = usize::try_from(low - first).map_err(|_| unavailable())?;
        let hi = usize::try_from(high.saturating_sub(first)).map_err(|_| unavailable())?;
        let mut out = self.entries.get(lo..hi).ok_or_else(unavailable)?.to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.offset.0 {
            return Ok(self.offset.1);
        }
        if idx < self.offset.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        let i = usize::try_from(idx - self.offset.0 - 1).map_err(|_| unavailable())?;
        self.entries.get(i).map(|e| e.term).ok_or_else(unavailable)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.offset.0 + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.offset.0 + self.entries.len() as u64)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snapshot.get_metadata().index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}
