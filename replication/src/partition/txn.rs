//! Transactions as one partition sees them: which producers have a transaction open here
//! (and from which offset), which transactions were aborted, and so the last stable offset
//! (LSO) that `read_committed` consumers read up to.
//!
//! Built from the batch index alone: every entry records whether its batch is
//! transactional, and control batches record their marker (commit or abort).

use myelin_storage::index::IndexEntry;
pub use myelin_storage::txn::{AbortedTxn, MARKER_ABORT, MARKER_COMMIT, MARKER_NONE};
use std::collections::BTreeMap;

/// Aborted transactions one partition remembers; the oldest are dropped beyond this (they
/// are also dropped once retention removes their data).
pub const ABORTED_PER_PARTITION_MAX: usize = 100_000;

/// Transaction state of one partition.
#[derive(Debug, Default, Clone)]
pub struct TxnIndex {
    ongoing: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Takes a batch into account, in offset order.
    pub fn on_batch(&mut self, e: &IndexEntry) {
        if e.producer_id < 0 {
            return;
        }
        if e.control_type != MARKER_NONE {
            if let Some(first) = self.ongoing.remove(&e.producer_id) {
                if e.control_type == MARKER_ABORT {
                    if self.aborted.len() >= ABORTED_PER_PARTITION_MAX {
                        self.aborted.remove(0);
                    }
                    self.aborted.push(AbortedTxn {
                        producer_id: e.producer_id,
                        first_offset: first,
                        last_offset: e.base_offset,
                    });
                }
            }
        } else if e.is_transactional() {
            self.ongoing.entry(e.producer_id).or_insert(e.base_offset);
        }
    }

    /// The first offset of `producer_id`'s open transaction here, if it has one.
    pub fn open_since(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// The last stable offset: below the first offset of any open transaction, and never
    /// above the high watermark.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// Aborted transactions that overlap offsets `from..=to`, for a `read_committed` fetch.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset <= to)
            .copied()
            .collect()
    }

    /// Forgets aborted transactions wholly below `log_start_offset`.
    pub fn trim(&mut self, log_start_offset: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(base: i64, pid: i64, txn: bool, control: i8) -> IndexEntry {
        IndexEntry {
            base_offset: base,
            last_offset: base,
            position: 0,
            size: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            attributes: if txn {
                myelin_storage::batch::ATTR_TRANSACTIONAL
            } else {
                0
            },
            control_type: control,
        }
    }

    #[test]
    fn lso_follows_open_transactions_and_aborts_are_remembered() {
        let mut t = TxnIndex::default();
        t.on_batch(&entry(0, -1, false, MARKER_NONE));
        assert_eq!(t.last_stable_offset(1), 1);
        t.on_batch(&entry(1, 7, true, MARKER_NONE));
        t.on_batch(&entry(2, 8, true, MARKER_NONE));
        t.on_batch(&entry(3, 7, true, MARKER_NONE));
        assert_eq!(t.last_stable_offset(4), 1);
        assert_eq!(
            (t.open_since(7), t.open_since(8), t.open_since(9)),
            (Some(1), Some(2), None)
        );
        t.on_batch(&entry(4, 7, true, MARKER_ABORT));
        assert_eq!(t.open_since(7), None);
        assert_eq!(t.last_stable_offset(5), 2);
        t.on_batch(&entry(5, 8, true, MARKER_COMMIT));
        assert_eq!(t.last_stable_offset(6), 6);
        assert_eq!(
            t.aborted_between(0, 10),
            vec![AbortedTxn {
                producer_id: 7,
                first_offset: 1,
                last_offset: 4
            }]
        );
        assert!(t.aborted_between(5, 10).is_empty());
        t.trim(5);
        assert!(t.aborted_between(0, 10).is_empty());
    }
}
