//! Idempotent producers: per partition, each producer id's epoch and the sequence ranges of
//! its last five batches, so a retried batch is answered with its original offsets instead
//! of being written twice, and a gap or a stale epoch is refused.
//!
//! The state is rebuilt on start-up from the batch index (every entry carries its batch's
//! producer id, epoch and base sequence), so it survives restarts and crashes exactly as far
//! as the log does.

use crate::error::PartitionError;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer: Kafka's `max.in.flight.requests.per.connection` bound
/// for idempotence, so any retry a client may send is recognised.
pub const BATCHES_PER_PRODUCER: usize = 5;

/// Producers one partition remembers; beyond this the least recently active is forgotten.
pub const PRODUCERS_PER_PARTITION_MAX: usize = 50_000;

/// A producer that has not written for this long is forgotten (`producer.id.expiration.ms`).
pub const PRODUCER_EXPIRATION_MS: i64 = 24 * 3600 * 1000;

/// No producer id: the batch is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;

/// The coordinator epoch every transaction marker carries: Myelin's transaction
/// coordinators write their markers at this epoch (`coordinator/src/txn/markers.rs`), and the
/// batch index the state is rebuilt from keeps no record values, so a producer that has had
/// a marker reports it as its coordinator epoch.
pub const MARKER_COORDINATOR_EPOCH: i32 = 0;

/// No coordinator epoch: the producer has had no transaction marker here (Kafka's -1).
pub const NO_COORDINATOR_EPOCH: i32 = -1;

/// What DescribeProducers reports of one producer a partition remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// The producer id.
    pub producer_id: i64,
    /// Its latest epoch.
    pub producer_epoch: i16,
    /// Sequence of the last record of its last batch at this epoch, or -1 for none.
    pub last_sequence: i32,
    /// Largest timestamp of its last batch or marker.
    pub last_timestamp: i64,
    /// Coordinator epoch of its last marker, or [`NO_COORDINATOR_EPOCH`].
    pub coordinator_epoch: i32,
    /// First offset of its open transaction here, or -1.
    pub current_txn_start_offset: i64,
}

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchSeq {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct Entry {
    epoch: i16,
    batches: VecDeque<BatchSeq>,
    /// Wall-clock time of the last write, for expiry.
    last_ms: i64,
    /// The last batch's (or marker's) largest timestamp, as Kafka reports it.
    last_timestamp: i64,
    coordinator_epoch: i32,
}

impl Entry {
    fn new(epoch: i16, now_ms: i64) -> Entry {
        Entry {
            epoch,
            batches: VecDeque::new(),
            last_ms: now_ms,
            last_timestamp: -1,
            coordinator_epoch: NO_COORDINATOR_EPOCH,
        }
    }
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Next in sequence: append it.
    Append,
    /// Already written: answer with these offsets and write nothing.
    Duplicate {
        /// Offset the batch was first written at.
        base_offset: i64,
        /// Its last offset.
        last_offset: i64,
    },
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Last sequence of a batch of `count` records starting at `first`, wrapping like Kafka.
pub fn last_seq(first: i32, count: i32) -> i32 {
    ((first as i64 + count as i64 - 1) % (i32::MAX as i64 + 1)) as i32
}

/// Producer state of one partition.
#[derive(Debug, Default, Clone)]
pub struct ProducerState {
    producers: HashMap<i64, Entry>,
}

impl ProducerState {
    /// Number of producers remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks a batch from producer `pid` at `epoch` carrying sequences `first..=last`.
    pub fn check(
        &self,
        pid: i64,
        epoch: i16,
        first: i32,
        last: i32,
    ) -> Result<SeqCheck, PartitionError> {
        let Some(entry) = self.producers.get(&pid) else {
            // A producer we do not know may only start at sequence 0.
            return if first == 0 {
                Ok(SeqCheck::Append)
            } else {
                Err(PartitionError::UnknownProducerId)
            };
        };
        if epoch < entry.epoch {
            return Err(PartitionError::InvalidProducerEpoch);
        }
        if epoch > entry.epoch {
            // A new epoch starts its sequences over.
            return if first == 0 {
                Ok(SeqCheck::Append)
            } else {
                Err(PartitionError::OutOfOrderSequence)
            };
        }
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
        {
            return Ok(SeqCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            });
        }
        match entry.batches.back() {
            Some(b) if first == next_seq(b.last_seq) => Ok(SeqCheck::Append),
            None if first == 0 => Ok(SeqCheck::Append),
            _ => Err(PartitionError::OutOfOrderSequence),
        }
    }

    /// Remembers a batch that was appended (`max_timestamp` is its largest timestamp).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        pid: i64,
        epoch: i16,
        first: i32,
        last: i32,
        base_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
    ) {
        if !self.producers.contains_key(&pid) && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            if let Some(oldest) = self
                .producers
                .iter()
                .min_by_key(|(_, e)| e.last_ms)
                .map(|(p, _)| *p)
            {
                self.producers.remove(&oldest);
            }
        }
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| Entry::new(epoch, now_ms));
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = max_timestamp;
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchSeq {
            first_seq: first,
            last_seq: last,
            base_offset,
            last_offset,
        });
        entry.last_ms = entry.last_ms.max(now_ms);
    }

    /// Takes a transaction marker of `pid` at `epoch` (largest timestamp `max_timestamp`):
    /// a marker written at a newer epoch fences the older one, forgetting its sequences.
    pub fn fence(&mut self, pid: i64, epoch: i16, max_timestamp: i64, now_ms: i64) {
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| Entry::new(epoch, now_ms));
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = MARKER_COORDINATOR_EPOCH;
        entry.last_timestamp = max_timestamp;
        entry.last_ms = entry.last_ms.max(now_ms);
    }

    /// Every producer remembered, by producer id; `txn_start` gives the first offset of a
    /// producer's open transaction here.
    pub fn active(&self, txn_start: impl Fn(i64) -> Option<i64>) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&pid, e)| ActiveProducer {
                producer_id: pid,
                producer_epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: txn_start(pid).unwrap_or(-1),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Forgets producers idle for longer than `ttl_ms`.
    pub fn expire(&mut self, now_ms: i64, ttl_ms: i64) {
        self.producers.retain(|_, e| now_ms - e.last_ms <= ttl_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_dedupe_fence_and_wrap() {
        let mut s = ProducerState::default();
        assert!(matches!(
            s.check(7, 0, 5, 9),
            Err(PartitionError::UnknownProducerId)
        ));
        assert!(matches!(s.check(7, 0, 0, 4), Ok(SeqCheck::Append)));
        s.record(7, 0, 0, 4, 100, 104, 50, 1);
        assert!(matches!(
            s.check(7, 0, 0, 4),
            Ok(SeqCheck::Duplicate {
                base_offset: 100,
                last_offset: 104
            })
        ));
        assert!(matches!(
            s.check(7, 0, 6, 9),
            Err(PartitionError::OutOfOrderSequence)
        ));
        assert!(matches!(s.check(7, 0, 5, 9), Ok(SeqCheck::Append)));
        for i in 1..=6 {
            s.record(
                7,
                0,
                i * 5,
                i * 5 + 4,
                100 + i as i64 * 5,
                104 + i as i64 * 5,
                60 + i as i64,
                2,
            );
        }
        // Only the last five batches are remembered.
        assert!(matches!(
            s.check(7, 0, 0, 4),
            Err(PartitionError::OutOfOrderSequence)
        ));
        assert!(matches!(
            s.check(7, 0, 30, 34),
            Ok(SeqCheck::Duplicate { .. })
        ));
        // A bumped epoch starts at 0; the old epoch is fenced.
        assert!(matches!(
            s.check(7, 1, 35, 39),
            Err(PartitionError::OutOfOrderSequence)
        ));
        assert!(matches!(s.check(7, 1, 0, 0), Ok(SeqCheck::Append)));
        s.record(7, 1, 0, 0, 200, 200, 70, 3);
        assert!(matches!(
            s.check(7, 0, 35, 39),
            Err(PartitionError::InvalidProducerEpoch)
        ));
        // Sequences wrap after i32::MAX.
        assert_eq!(last_seq(i32::MAX, 2), 0);
        s.record(8, 0, i32::MAX - 1, i32::MAX, 300, 301, 80, 4);
        assert!(matches!(s.check(8, 0, 0, 3), Ok(SeqCheck::Append)));
        s.expire(4 + PRODUCER_EXPIRATION_MS + 1, PRODUCER_EXPIRATION_MS);
        assert!(s.is_empty());
    }

    #[test]
    fn active_producers_report_sequences_markers_and_open_transactions() {
        let mut s = ProducerState::default();
        s.record(9, 0, 0, 2, 10, 12, 1_000, 1);
        s.record(4, 3, 0, 0, 13, 13, 1_001, 1);
        let open = |pid: i64| (pid == 4).then_some(13);
        assert_eq!(
            s.active(open),
            vec![
                ActiveProducer {
                    producer_id: 4,
                    producer_epoch: 3,
                    last_sequence: 0,
                    last_timestamp: 1_001,
                    coordinator_epoch: NO_COORDINATOR_EPOCH,
                    current_txn_start_offset: 13,
                },
                ActiveProducer {
                    producer_id: 9,
                    producer_epoch: 0,
                    last_sequence: 2,
                    last_timestamp: 1_000,
                    coordinator_epoch: NO_COORDINATOR_EPOCH,
                    current_txn_start_offset: -1,
                },
            ]
        );
        // A marker at the same epoch keeps the sequences; one at a newer epoch forgets them.
        s.fence(4, 3, 1_002, 2);
        let four = s.active(|_| None)[0];
        assert_eq!(
            (
                four.last_sequence,
                four.last_timestamp,
                four.coordinator_epoch
            ),
            (0, 1_002, MARKER_COORDINATOR_EPOCH)
        );
        s.fence(4, 4, 1_003, 2);
        let four = s.active(|_| None)[0];
        assert_eq!((four.producer_epoch, four.last_sequence), (4, -1));
    }
}
