//! A simulated durable storage: what a node wrote lives in a [`SimDisk`] that outlives the
//! node, so a simulated crash (dropping the node) keeps exactly what was persisted, and a
//! restart recovers it.
//!
//! Single-threaded by design (the simulator runs every node on one thread), hence `Rc`.

use super::storage::{DurableStorage, Recovered};
use crate::error::QuorumError;
use raft::eraftpb::{Entry, HardState, Snapshot};
use std::cell::RefCell;
use std::rc::Rc;

/// The disk of one simulated node; clones share it.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    state: Rc<RefCell<Recovered>>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// A storage writing to this disk.
    pub fn storage(&self) -> SimStorage {
        SimStorage { disk: self.clone() }
    }

    /// What a restart would recover.
    pub fn contents(&self) -> Recovered {
        self.state.borrow().clone()
    }

    /// The durable (term, vote), cheaply: a simulator crashes nodes right after they change.
    pub fn term_and_vote(&self) -> (u64, u64) {
        let s = self.state.borrow();
        (s.hard_state.term, s.hard_state.vote)
    }
}

/// A [`DurableStorage`] on a [`SimDisk`]: every write is durable at once.
#[derive(Debug)]
pub struct SimStorage {
    disk: SimDisk,
}

impl DurableStorage for SimStorage {
    fn recover(&mut self) -> Result<Recovered, QuorumError> {
        Ok(self.disk.contents())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), QuorumError> {
        let mut s = self.disk.state.borrow_mut();
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let keep = first
            .index
            .checked_sub(s.offset.0 + 1)
            .and_then(|k| usize::try_from(k).ok())
            .ok_or_else(|| QuorumError::Corrupt("append below the log start".into()))?;
        if keep > s.entries.len() {
            return Err(QuorumError::Corrupt("append leaves a gap".into()));
        }
        s.entries.truncate(keep);
        s.entries.extend_from_slice(entries);
        Ok(())
    }

    fn save_hard_state(
        &mut self,
        hard_state: &HardState,
        voters: &[u64],
    ) -> Result<(), QuorumError> {
        let mut s = self.disk.state.borrow_mut();
        s.hard_state = hard_state.clone();
        s.voters = voters.to_vec();
        Ok(())
    }

    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        offset: (u64, u64),
        retained: &[Entry],
    ) -> Result<(), QuorumError> {
        let mut s = self.disk.state.borrow_mut();
        s.snapshot = snapshot.clone();
        s.offset = offset;
        s.entries = retained.to_vec();
        Ok(())
    }
}
