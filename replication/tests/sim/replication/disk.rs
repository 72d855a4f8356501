//! A replica's disk, in memory: the partition log as a list of batches with a durable
//! boundary, and the leader-epoch checkpoint beside it.
//!
//! It keeps what `storage::Log` promises and nothing more. Appends land at the log end and
//! become durable when the flusher syncs them. A crash keeps the durable batches and a random
//! prefix of the rest; the last batch written may be torn, and recovery cuts a torn batch,
//! so a crash loses some suffix of what was not durable. A cut (a follower diverged, or a
//! full disk discarded what it could not write) is durable at once, as the log makes it
//! before it answers. The checkpoint is replaced whole or not at all (written to a new file
//! and renamed).
//!
//! Invariants, asserted: batches are contiguous from the log start; the durable boundary
//! never passes the log end.

use myelin_replication::rng::SplitMix64;

/// One batch as the simulation sees it: where it sits, the leader epoch it was written in,
/// and the producer's payload id, which tells two batches at the same offsets apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// First offset.
    pub base: i64,
    /// Last offset.
    pub last: i64,
    /// The partition leader epoch stamped by the leader that appended it.
    pub epoch: i32,
    /// What the producer sent (unique per produced batch).
    pub payload: u64,
}

impl Batch {
    /// The offset after the batch.
    pub fn end(&self) -> i64 {
        self.last + 1
    }
}

/// One partition's files on one broker.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    start: i64,
    batches: Vec<Batch>,
    /// `batches[..durable]` are durable.
    durable: usize,
    /// The leader-epoch checkpoint, as last written whole.
    pub checkpoint: Option<Vec<u8>>,
}

impl Disk {
    /// The log start offset.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The log end offset.
    pub fn end(&self) -> i64 {
        self.batches.last().map_or(self.start, Batch::end)
    }

    /// Where the durable part ends.
    pub fn durable_end(&self) -> i64 {
        match self.durable {
            0 => self.start,
            n => self.batches.get(n - 1).map_or(self.start, Batch::end),
        }
    }

    /// Every batch, oldest first.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// Whether anything appended is not durable yet.
    pub fn has_unsynced(&self) -> bool {
        self.durable < self.batches.len()
    }

    /// Appends `batch` at the log end.
    pub fn append(&mut self, batch: Batch) {
        assert_eq!(batch.base, self.end(), "append away from the log end");
        assert!(batch.last >= batch.base);
        self.batches.push(batch);
    }

    /// Makes everything appended durable; returns the durable end.
    pub fn sync(&mut self) -> i64 {
        self.durable = self.batches.len();
        self.durable_end()
    }

    /// Cuts everything from `offset` on, rounded down to the start of the batch holding it
    /// (never below the log start); returns the new log end.
    pub fn truncate(&mut self, offset: i64) -> i64 {
        let keep = self.batches.partition_point(|b| b.end() <= offset);
        self.batches.truncate(keep);
        self.durable = self.durable.min(keep);
        self.end()
    }

    /// Drops the whole log: it starts over, empty, at `start`.
    pub fn reset(&mut self, start: i64) {
        self.batches.clear();
        self.durable = 0;
        self.start = start;
    }

    /// A crash: keeps the durable batches and a random prefix of the others. Returns how
    /// many batches were lost.
    pub fn crash(&mut self, rng: &mut SplitMix64) -> usize {
        let unsynced = self.batches.len() - self.durable;
        let kept = rng.below(unsynced as u64 + 1) as usize;
        let keep = self.durable + kept;
        self.batches.truncate(keep);
        // What survived is on disk: recovery reads it back as the log.
        self.durable = keep;
        unsynced - kept
    }

    /// The batch holding `offset`.
    pub fn batch_at(&self, offset: i64) -> Option<&Batch> {
        let i = self.batches.partition_point(|b| b.end() <= offset);
        self.batches.get(i).filter(|b| b.base <= offset)
    }

    /// Up to `max` whole batches from the one holding `from`, below `bound`.
    pub fn read(&self, from: i64, max: usize, bound: i64) -> Vec<Batch> {
        let i = self.batches.partition_point(|b| b.end() <= from);
        self.batches
            .iter()
            .skip(i)
            .take_while(|b| b.base < bound)
            .take(max)
            .copied()
            .collect()
    }
}
