//! The leader-epoch cache of one partition: for every leader epoch the log holds batches of,
//! the offset its first batch starts at. A follower that reconnects to a new leader asks for
//! the end of its own latest epoch (OffsetForLeaderEpoch) and truncates what diverged.
//!
//! It is checkpointed beside the segments as `leader-epoch-checkpoint`, in the text layout
//! Kafka uses (version line, count line, one `epoch offset` line per entry). Invariants,
//! asserted: epochs and start offsets strictly increase along the list.

use crate::types::LeaderEpoch;

/// File name of the checkpoint in the partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// Format version written on the first line.
const CHECKPOINT_VERSION: u32 = 0;

/// Entries a checkpoint may hold: one per leadership change the log still has data of.
/// Far beyond any real partition's history, small enough to read at once.
pub const EPOCH_ENTRIES_MAX: usize = 100_000;

/// One leader epoch and the offset its data starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: LeaderEpoch,
    /// First offset written in it.
    pub start_offset: i64,
}

/// Why a checkpoint could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad leader-epoch checkpoint: {0}")]
pub struct CheckpointError(pub &'static str);

/// The cache: entries in epoch (and offset) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The epoch the batch at `offset` was written in, if the cache knows it.
    pub fn epoch_at(&self, offset: i64) -> Option<LeaderEpoch> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Returns true when the cache changed
    /// (and so must be checkpointed). An epoch not newer than the latest is ignored; an entry
    /// whose start is not above the previous one replaces it (the previous epoch wrote
    /// nothing).
    pub fn assign(&mut self, epoch: LeaderEpoch, start_offset: i64) -> bool {
        if let Some(last) = self.entries.last() {
            if epoch <= last.epoch {
                return false;
            }
        }
        while self
            .entries
            .last()
            .is_some_and(|e| e.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        if self.entries.len() > EPOCH_ENTRIES_MAX {
            self.entries.remove(0);
        }
        self.check();
        true
    }

    /// Forgets epochs that start at or after `end_offset` (the log was cut there). Returns
    /// true when the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// Forgets what lies below `start_offset` (retention moved the log start): the epoch
    /// holding it now starts there. Returns true when the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let holding = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(i) = holding else {
            return false;
        };
        let changed = i > 0
            || self
                .entries
                .first()
                .is_some_and(|e| e.start_offset != start_offset);
        self.entries.drain(..i);
        if let Some(first) = self.entries.first_mut() {
            first.start_offset = start_offset;
        }
        self.check();
        changed
    }

    /// Kafka's answer to OffsetForLeaderEpoch for `requested`: the largest epoch not above
    /// it and the offset where the next epoch begins (the log end offset for the latest),
    /// or `None` (Kafka's -1, -1) when the epoch is newer than any known.
    pub fn end_offset_for(
        &self,
        requested: LeaderEpoch,
        log_end_offset: i64,
    ) -> Option<(LeaderEpoch, i64)> {
        if requested == LeaderEpoch::UNKNOWN {
            return None;
        }
        if self.latest().is_some_and(|e| e.epoch == requested) {
            return Some((requested, log_end_offset));
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested)?;
        let floor = self.entries.iter().rev().find(|e| e.epoch <= requested);
        Some((floor.map_or(requested, |f| f.epoch), higher.start_offset))
    }

    /// The checkpoint text.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch.0, e.start_offset));
        }
        out.into_bytes()
    }

    /// Reads checkpoint text; anything malformed or out of order is an error.
    pub fn decode(bytes: &[u8]) -> Result<EpochCache, CheckpointError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CheckpointError("not text"))?;
        let mut lines = text.lines();
        let version: u32 = parse(lines.next())?;
        if version != CHECKPOINT_VERSION {
            return Err(CheckpointError("unknown version"));
        }
        let count: usize = parse(lines.next())?;
        if count > EPOCH_ENTRIES_MAX {
            return Err(CheckpointError("too many entries"));
        }
        let mut entries: Vec<EpochEntry> = Vec::with_capacity(count);
        for _ in 0..count {
            let line = lines.next().ok_or(CheckpointError("short"))?;
            let mut parts = line.split(' ');
            let epoch: i32 = parse(parts.next())?;
            let start_offset: i64 = parse(parts.next())?;
            if parts.next().is_some() || epoch < 0 || start_offset < 0 {
                return Err(CheckpointError("bad entry"));
            }
            if entries
                .last()
                .is_some_and(|l| l.epoch.0 >= epoch || l.start_offset >= start_offset)
            {
                return Err(CheckpointError("entries out of order"));
            }
            entries.push(EpochEntry {
                epoch: LeaderEpoch(epoch),
                start_offset,
            });
        }
        Ok(EpochCache { entries })
    }

    fn check(&self) {
        for pair in self.entries.windows(2) {
            if let [a, b] = pair {
                assert!(a.epoch < b.epoch && a.start_offset < b.start_offset);
            }
        }
    }
}

fn parse<T: std::str::FromStr>(field: Option<&str>) -> Result<T, CheckpointError> {
    field
        .ok_or(CheckpointError("short"))?
        .trim()
        .parse()
        .map_err(|_| CheckpointError("not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(e, o) in entries {
            assert!(c.assign(LeaderEpoch(e), o));
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafka() {
        let c = cache(&[(0, 0), (2, 100), (5, 250)]);
        let e = |x| c.end_offset_for(LeaderEpoch(x), 300);
        assert_eq!(e(5), Some((LeaderEpoch(5), 300)));
        assert_eq!(e(2), Some((LeaderEpoch(2), 250)));
        assert_eq!(e(3), Some((LeaderEpoch(2), 250)), "epoch 3 wrote nothing");
        assert_eq!(e(0), Some((LeaderEpoch(0), 100)));
        assert_eq!(e(6), None);
        assert_eq!(e(-1), None);
        let late = cache(&[(4, 10)]);
        assert_eq!(
            late.end_offset_for(LeaderEpoch(1), 20),
            Some((LeaderEpoch(1), 10))
        );
    }

    #[test]
    fn assign_truncate_and_round_trip() {
        let mut c = cache(&[(0, 0), (1, 10)]);
        assert!(!c.assign(LeaderEpoch(1), 20), "not newer");
        // Epoch 1 wrote nothing before epoch 2 began at the same offset.
        assert!(c.assign(LeaderEpoch(2), 10));
        assert_eq!(c.entries().len(), 2);
        assert!(c.assign(LeaderEpoch(3), 40));
        assert!(c.truncate_from_end(40));
        assert_eq!(c.latest().map(|e| e.epoch), Some(LeaderEpoch(2)));
        assert!(c.truncate_from_start(15));
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: LeaderEpoch(2),
                start_offset: 15
            }]
        );
        let back = EpochCache::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            String::from_utf8(cache(&[(0, 0), (3, 7)]).encode()).unwrap(),
            "0\n2\n0 0\n3 7\n"
        );
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            &b""[..],
            b"1\n0\n",
            b"0\n2\n0 0\n",
            b"0\n2\n3 5\n1 9\n",
            b"0\n1\nx y\n",
            b"0\n99999999999\n",
            b"\xff\xfe",
        ] {
            assert!(EpochCache::decode(bad).is_err(), "{bad:?}");
        }
    }
}
