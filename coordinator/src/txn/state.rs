//! One transactional id's transaction as a sans-IO state machine: requests come in with the
//! current time, decisions come out; the coordinator shell persists every change and writes
//! the markers.
//!
//! Empty → Ongoing (first AddPartitions/AddOffsets) → PrepareCommit | PrepareAbort (EndTxn,
//! or a timeout for abort) → CompleteCommit | CompleteAbort (markers written) → Ongoing …

use crate::codes;
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeSet;

/// Transaction states, named as DescribeTransactions reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction yet.
    Empty,
    /// Partitions are being written.
    Ongoing,
    /// Commit decided; markers being written.
    PrepareCommit,
    /// Abort decided; markers being written.
    PrepareAbort,
    /// Last transaction committed.
    CompleteCommit,
    /// Last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// Most partitions one transaction may touch.
pub const PARTITIONS_PER_TXN_MAX: usize = 10_000;

/// A transactional id's state (also its persisted record).
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct TxnMeta {
    /// Producer id bound to the transactional id.
    pub producer_id: i64,
    /// Current epoch; older epochs are fenced.
    pub epoch: i16,
    /// Transaction timeout asked for in InitProducerId.
    pub timeout_ms: i32,
    /// State.
    pub state: TxnState,
    /// Partitions written in the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the current transaction commits.
    pub groups: BTreeSet<String>,
    /// When the current transaction started.
    pub start_ms: i64,
}

/// What EndTxn (or a timeout) asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndAction {
    /// Write markers (commit or abort) to these partitions and groups, then complete.
    WriteMarkers {
        /// Commit or abort.
        commit: bool,
    },
    /// The same EndTxn was already carried out (a retry): answer success.
    AlreadyDone,
}

impl TxnMeta {
    /// A new transactional id bound to `producer_id` at epoch 0.
    pub fn new(producer_id: i64, timeout_ms: i32) -> TxnMeta {
        TxnMeta {
            producer_id,
            epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: 0,
        }
    }

    /// Checks that a request comes from the current producer.
    pub fn check(&self, producer_id: i64, epoch: i16) -> Result<(), i16> {
        if producer_id != self.producer_id {
            return Err(codes::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch != self.epoch {
            return Err(codes::INVALID_PRODUCER_EPOCH);
        }
        Ok(())
    }

    fn begin_if_needed(&mut self, now: i64) -> Result<(), i16> {
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(codes::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => Ok(()),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                self.state = TxnState::Ongoing;
                self.start_ms = now;
                self.partitions.clear();
                self.groups.clear();
                Ok(())
            }
        }
    }

    /// AddPartitionsToTxn. Returns whether anything changed (and must be persisted).
    pub fn add_partitions(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<bool, i16> {
        self.check(producer_id, epoch)?;
        let fresh = self.state != TxnState::Ongoing;
        self.begin_if_needed(now)?;
        if self.partitions.len() + partitions.len() > PARTITIONS_PER_TXN_MAX {
            return Err(codes::INVALID_REQUEST);
        }
        let before = self.partitions.len();
        self.partitions.extend(partitions.iter().cloned());
        Ok(fresh || self.partitions.len() != before)
    }

    /// AddOffsetsToTxn: the group's offsets partition joins the transaction.
    pub fn add_group(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets_partition: (String, i32),
        now: i64,
    ) -> Result<bool, i16> {
        let changed = self.add_partitions(
            producer_id,
            epoch,
            std::slice::from_ref(&offsets_partition),
            now,
        )?;
        Ok(self.groups.insert(group.to_string()) || changed)
    }

    /// EndTxn.
    pub fn end(&mut self, producer_id: i64, epoch: i16, commit: bool) -> Result<EndAction, i16> {
        self.check(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                self.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                Ok(EndAction::WriteMarkers { commit })
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndAction::AlreadyDone)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(codes::CONCURRENT_TRANSACTIONS)
            }
            // Nothing was begun (clients end a transaction without partitions themselves):
            // Kafka refuses it, and so a commit that reaches a coordinator which lost the
            // transaction's state fails instead of passing for done.
            _ => Err(codes::INVALID_TXN_STATE),
        }
    }

    /// Markers are written: the transaction is complete and touches no partition any more.
    pub fn complete(&mut self) {
        self.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => other,
        };
        self.partitions.clear();
        self.groups.clear();
    }

    /// Whether an ongoing transaction has run past its timeout; if so it is moved to
    /// PrepareAbort with a bumped epoch, fencing the producer that let it lapse.
    pub fn expire(&mut self, now: i64) -> bool {
        if self.state == TxnState::Ongoing && now - self.start_ms > self.timeout_ms as i64 {
            self.epoch = self.epoch.saturating_add(1);
            self.state = TxnState::PrepareAbort;
            return true;
        }
        false
    }

    /// InitProducerId for this transactional id: an open transaction must first be aborted
    /// (the returned bool); the epoch is bumped. Returns `None` when the epoch is exhausted
    /// and a new producer id is needed.
    pub fn init(&mut self, timeout_ms: i32) -> Result<(bool, Option<i16>), i16> {
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(codes::CONCURRENT_TRANSACTIONS)
            }
            TxnState::Ongoing => {
                // Abort the zombie's transaction at a fencing epoch first.
                self.epoch = self.epoch.saturating_add(1);
                self.state = TxnState::PrepareAbort;
                return Ok((true, None));
            }
            _ => {}
        }
        self.timeout_ms = timeout_ms;
        if self.epoch >= i16::MAX - 1 {
            return Ok((false, None));
        }
        self.epoch += 1;
        self.state = TxnState::Empty;
        self.partitions.clear();
        self.groups.clear();
        Ok((false, Some(self.epoch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, n: i32) -> (String, i32) {
        (t.to_string(), n)
    }

    #[test]
    fn commit_cycle_retries_and_fencing() {
        let mut t = TxnMeta::new(9, 60_000);
        assert_eq!(t.init(60_000), Ok((false, Some(1))));
        assert_eq!(
            t.add_partitions(9, 0, &[p("a", 0)], 0),
            Err(codes::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            t.add_partitions(8, 1, &[p("a", 0)], 0),
            Err(codes::INVALID_PRODUCER_ID_MAPPING)
        );
        assert_eq!(
            t.add_partitions(9, 1, &[p("a", 0), p("b", 1)], 10),
            Ok(true)
        );
        assert_eq!(t.add_partitions(9, 1, &[p("a", 0)], 11), Ok(false));
        assert_eq!(
            t.add_group(9, 1, "g", p("__consumer_offsets", 3), 12),
            Ok(true)
        );
        assert_eq!(t.state, TxnState::Ongoing);
        assert_eq!(
            t.end(9, 1, true),
            Ok(EndAction::WriteMarkers { commit: true })
        );
        assert_eq!(t.end(9, 1, true), Err(codes::CONCURRENT_TRANSACTIONS));
        assert_eq!(
            t.add_partitions(9, 1, &[p("c", 0)], 13),
            Err(codes::CONCURRENT_TRANSACTIONS)
        );
        t.complete();
        assert_eq!(
            t.end(9, 1, true),
            Ok(EndAction::AlreadyDone),
            "a retried EndTxn succeeds"
        );
        assert_eq!(t.end(9, 1, false), Err(codes::INVALID_TXN_STATE));
        // The next transaction starts fresh.
        assert_eq!(t.add_partitions(9, 1, &[p("c", 0)], 20), Ok(true));
        assert_eq!(t.partitions.len(), 1);
    }

    #[test]
    fn timeouts_abort_and_a_new_producer_fences_an_open_transaction() {
        let mut t = TxnMeta::new(9, 1_000);
        t.add_partitions(9, 0, &[p("a", 0)], 0).unwrap();
        assert!(!t.expire(900));
        assert!(t.expire(1_001));
        assert_eq!((t.state, t.epoch), (TxnState::PrepareAbort, 1));
        t.complete();
        assert_eq!(
            t.add_partitions(9, 0, &[p("a", 0)], 2_000),
            Err(codes::INVALID_PRODUCER_EPOCH),
            "the lapsed producer is fenced"
        );

        let mut t = TxnMeta::new(9, 60_000);
        t.add_partitions(9, 0, &[p("a", 0)], 0).unwrap();
        assert_eq!(
            t.init(60_000),
            Ok((true, None)),
            "the open transaction is aborted first"
        );
        assert_eq!(t.state, TxnState::PrepareAbort);
        t.complete();
        assert_eq!(t.init(60_000), Ok((false, Some(2))));
    }
}
