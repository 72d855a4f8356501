//! Which of a shard's coordinator partitions are in memory, and for which leadership: a
//! coordinator serves a partition's keys only once it has read the partition back in the
//! leader epoch it leads it in, and reads it again after leadership moved away and back.

use crate::codes;
use myelin_replication::{LeaderEpoch, Partition};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

/// How far one partition is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Being read back for a leader epoch: its keys answer COORDINATOR_LOAD_IN_PROGRESS.
    Loading(LeaderEpoch),
    /// In memory, as led in that epoch.
    Loaded(LeaderEpoch),
}

/// The load state of one coordinator's partitions on a shard.
#[derive(Debug, Default)]
pub struct Loads {
    by_partition: RefCell<HashMap<i32, Load>>,
}

impl Loads {
    /// Makes sure partition `index` is loaded for the epoch this broker leads it in:
    /// `forget` drops what an earlier epoch loaded (and is called again if loading fails or
    /// leadership moves meanwhile), `load` reads the partition back. Two loads of one
    /// partition never interleave.
    pub async fn ensure<Fut>(
        &self,
        index: i32,
        partition: &Rc<Partition>,
        forget: impl Fn(i32),
        load: impl FnOnce() -> Fut,
    ) -> Result<(), i16>
    where
        Fut: Future<Output = Result<(), i16>>,
    {
        let epoch = partition.leading().ok_or(codes::NOT_COORDINATOR)?;
        let state = self.by_partition.borrow().get(&index).copied();
        match state {
            Some(Load::Loaded(e)) if e == epoch => return Ok(()),
            Some(Load::Loading(_)) => return Err(codes::COORDINATOR_LOAD_IN_PROGRESS),
            Some(Load::Loaded(_)) => forget(index),
            None => {}
        }
        self.by_partition
            .borrow_mut()
            .insert(index, Load::Loading(epoch));
        let loaded = load().await;
        match loaded {
            Ok(()) if partition.leading() == Some(epoch) => {
                self.by_partition
                    .borrow_mut()
                    .insert(index, Load::Loaded(epoch));
                tracing::debug!(
                    partition = index,
                    epoch = epoch.0,
                    "coordinator partition loaded"
                );
                Ok(())
            }
            // Leadership moved while reading: what was read may already be stale.
            Ok(()) => {
                forget(index);
                Err(codes::NOT_COORDINATOR)
            }
            Err(code) => {
                forget(index);
                Err(code)
            }
        }
    }

    /// Partition `index` is no longer in memory.
    pub fn remove(&self, index: i32) {
        self.by_partition.borrow_mut().remove(&index);
    }

    /// The loaded partitions and the epochs they were loaded in.
    pub fn loaded(&self) -> Vec<(i32, LeaderEpoch)> {
        self.by_partition
            .borrow()
            .iter()
            .filter_map(|(i, l)| match l {
                Load::Loaded(e) => Some((*i, *e)),
                Load::Loading(_) => None,
            })
            .collect()
    }

    /// Whether partition `index` is loaded for `epoch`.
    pub fn is_loaded(&self, index: i32, epoch: LeaderEpoch) -> bool {
        self.by_partition.borrow().get(&index) == Some(&Load::Loaded(epoch))
    }
}
