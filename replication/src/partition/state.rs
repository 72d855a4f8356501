//! The state machine of one partition replica, sans I/O: its role (leader, follower,
//! offline) and leader epoch, replica set and ISR, the offsets that matter to clients (log
//! start, high watermark, last stable offset, log end), the leader-epoch cache, and the
//! producer and transaction state of the data it holds.
//!
//! Events go in through [`PartitionState::step`] and come out as [`Output`]s for the shell
//! to carry out; appends are checked ([`PartitionState::check_batch`]) before the shell
//! writes them and recorded ([`PartitionState::on_appended`]) after. Nothing here waits,
//! reads a clock or touches a file: time comes in with the inputs.
//!
//! Invariants, asserted on every change (on in release):
//! `log_start_offset <= high_watermark <= durable_end <= log_end_offset`; the high watermark
//! never moves back except when the log below it is cut; epochs only grow.

use super::epochs::EpochCache;
use super::producer::{self, ProducerState, SeqCheck};
use super::txn::{AbortedTxn, TxnIndex, MARKER_NONE};
use crate::error::PartitionError;
use crate::types::{LeaderEpoch, NodeId};
use myelin_storage::batch::BatchHeader;
use myelin_storage::index::IndexEntry;
use std::collections::BTreeMap;

/// Who holds the partition, as cluster metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Every replica, preferred leader first.
    pub replicas: Vec<NodeId>,
    /// Replicas in sync with the leader.
    pub isr: Vec<NodeId>,
    /// The leader, or [`NodeId::NONE`] when the partition is offline.
    pub leader: NodeId,
    /// The leader epoch.
    pub leader_epoch: LeaderEpoch,
}

impl Assignment {
    /// A partition held by `node` alone, at epoch 0.
    pub fn single(node: NodeId) -> Assignment {
        Assignment {
            replicas: vec![node],
            isr: vec![node],
            leader: node,
            leader_epoch: LeaderEpoch(0),
        }
    }
}

/// This replica's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It leads: it takes produces and serves consumers.
    Leader,
    /// It follows `leader` (which may be [`NodeId::NONE`] while the partition is offline).
    Follower {
        /// The current leader.
        leader: NodeId,
    },
}

/// The offsets a client may ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offsets below this are committed: durable on every in-sync replica, visible to
    /// consumers.
    pub high_watermark: i64,
    /// Offsets below this are in no open transaction: `read_committed` consumers read here.
    pub last_stable_offset: i64,
    /// Next offset to be assigned.
    pub log_end_offset: i64,
}

/// What goes into the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Cluster metadata changed the partition's assignment (leader, epoch, replicas, ISR).
    Assign(Assignment),
    /// The local log made everything below `end` durable.
    Durable {
        /// The local durable end.
        end: i64,
    },
    /// The local log was cut at `end`; state derived from the cut batches must be rebuilt by
    /// replaying what is left ([`PartitionState::begin_replay`]).
    Truncated {
        /// The new log end offset.
        end: i64,
    },
    /// Retention moved the log start offset.
    LogStart {
        /// The new log start offset.
        start: i64,
    },
    /// A follower reports how far its log is durable (leader only).
    ReplicaProgress {
        /// The follower.
        replica: NodeId,
        /// Its durable log end offset.
        durable_end: i64,
    },
    /// Time passed: producers idle for too long are forgotten.
    Tick {
        /// Milliseconds since the epoch, from the shard's clock.
        now_ms: i64,
    },
}

/// What the shell must do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The high watermark moved: wake produces waiting on `acks=all` and long-polling
    /// fetches.
    HighWatermark(i64),
    /// The leader-epoch cache changed: write its checkpoint before appending at the new
    /// epoch.
    CheckpointEpochs,
    /// The role or epoch changed: requests in flight under the old one must fail, and
    /// waiters be woken to find out.
    RoleChanged,
}

/// One partition replica's state.
#[derive(Debug, Clone)]
pub struct PartitionState {
    local: NodeId,
    role: Role,
    assignment: Assignment,
    log_start_offset: i64,
    log_end_offset: i64,
    durable_end: i64,
    high_watermark: i64,
    /// Durable log end offsets followers reported, leader only.
    followers: BTreeMap<NodeId, i64>,
    epochs: EpochCache,
    producers: ProducerState,
    txns: TxnIndex,
}

impl PartitionState {
    /// The state of a replica on `local` whose log holds `log_start_offset..log_end_offset`
    /// (all of it durable, as after opening), with the checkpointed epoch cache. Producer
    /// and transaction state come from replaying the log's index afterwards.
    pub fn new(
        local: NodeId,
        assignment: Assignment,
        log_start_offset: i64,
        log_end_offset: i64,
        mut epochs: EpochCache,
    ) -> PartitionState {
        // The checkpoint may be ahead of a log that lost its tail in a crash.
        epochs.truncate_from_end(log_end_offset);
        let mut state = PartitionState {
            local,
            role: Role::Follower {
                leader: NodeId::NONE,
            },
            assignment: Assignment {
                leader: NodeId::NONE,
                leader_epoch: LeaderEpoch::UNKNOWN,
                ..assignment.clone()
            },
            log_start_offset,
            log_end_offset,
            durable_end: log_end_offset,
            high_watermark: log_end_offset,
            followers: BTreeMap::new(),
            epochs,
            producers: ProducerState::default(),
            txns: TxnIndex::default(),
        };
        state.step(Input::Assign(assignment));
        state
    }

    /// Feeds one event in and says what the shell must do.
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Assign(a) => self.assign(a, &mut out),
            Input::Durable { end } => {
                assert!(end <= self.log_end_offset, "durable past the log end");
                self.durable_end = self.durable_end.max(end);
                self.advance_high_watermark(&mut out);
            }
            Input::Truncated { end } => {
                self.log_end_offset = end;
                self.durable_end = self.durable_end.min(end);
                // What followers hold past the cut is not what this log will hold there.
                for seen in self.followers.values_mut() {
                    *seen = (*seen).min(end);
                }
                if self.high_watermark > end {
                    self.high_watermark = end;
                    out.push(Output::HighWatermark(end));
                }
                let mut changed = self.epochs.truncate_from_end(end);
                if self.role == Role::Leader {
                    // A leader cut back to its epoch's start (a full disk) still writes at
                    // that epoch: from the new end.
                    changed |= self.epochs.assign(self.assignment.leader_epoch, end);
                }
                if changed {
                    out.push(Output::CheckpointEpochs);
                }
            }
            Input::LogStart { start } => {
                assert!(start <= self.log_end_offset, "log start past the log end");
                self.log_start_offset = self.log_start_offset.max(start);
                self.high_watermark = self.high_watermark.max(self.log_start_offset);
                self.txns.trim(self.log_start_offset);
                if self.epochs.truncate_from_start(self.log_start_offset) {
                    out.push(Output::CheckpointEpochs);
                }
            }
            Input::ReplicaProgress {
                replica,
                durable_end,
            } => {
                if self.role == Role::Leader && self.assignment.replicas.contains(&replica) {
                    let seen = self.followers.entry(replica).or_insert(durable_end);
                    *seen = (*seen).max(durable_end).min(self.log_end_offset);
                    self.advance_high_watermark(&mut out);
                }
            }
            Input::Tick { now_ms } => {
                self.producers
                    .expire(now_ms, producer::PRODUCER_EXPIRATION_MS);
            }
        }
        self.check();
        out
    }

    fn assign(&mut self, a: Assignment, out: &mut Vec<Output>) {
        if a.leader_epoch < self.assignment.leader_epoch {
            // Metadata only moves forward; an older view is ignored.
            return;
        }
        let role = if a.leader == self.local {
            Role::Leader
        } else {
            Role::Follower { leader: a.leader }
        };
        let changed = role != self.role || a.leader_epoch != self.assignment.leader_epoch;
        if changed {
            out.push(Output::RoleChanged);
            self.followers.clear();
        }
        if role == Role::Leader && self.epochs.assign(a.leader_epoch, self.log_end_offset) {
            out.push(Output::CheckpointEpochs);
        }
        self.role = role;
        self.assignment = a;
        self.advance_high_watermark(out);
    }

    /// The leader's high watermark: the smallest durable end across the ISR (its own
    /// included). It never moves back.
    fn advance_high_watermark(&mut self, out: &mut Vec<Output>) {
        if self.role != Role::Leader {
            return;
        }
        let mut hw = self.durable_end;
        for replica in &self.assignment.isr {
            if *replica != self.local {
                hw = hw.min(self.followers.get(replica).copied().unwrap_or(0));
            }
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            out.push(Output::HighWatermark(hw));
        }
    }

    fn check(&self) {
        assert!(self.log_start_offset <= self.high_watermark);
        assert!(self.high_watermark <= self.log_end_offset);
        assert!(self.durable_end <= self.log_end_offset);
    }

    /// This replica's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current assignment.
    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.assignment.leader_epoch
    }

    /// The leader-epoch cache.
    pub fn epochs(&self) -> &EpochCache {
        &self.epochs
    }

    /// The offsets clients see.
    pub fn offsets(&self) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: self.log_start_offset,
            high_watermark: self.high_watermark,
            last_stable_offset: self.txns.last_stable_offset(self.high_watermark),
            log_end_offset: self.log_end_offset,
        }
    }

    /// How far consumers may read: the high watermark, or the last stable offset for
    /// `read_committed`.
    pub fn read_bound(&self, committed_only: bool) -> i64 {
        let o = self.offsets();
        if committed_only {
            o.last_stable_offset
        } else {
            o.high_watermark
        }
    }

    /// Checks a request's view of the leader epoch (-1 asks for no check), as Kafka does for
    /// Fetch and ListOffsets.
    pub fn check_epoch(&self, requested: i32) -> Result<(), PartitionError> {
        let current = self.assignment.leader_epoch.0;
        if requested < 0 || requested == current {
            Ok(())
        } else if requested < current {
            Err(PartitionError::FencedLeaderEpoch { requested, current })
        } else {
            Err(PartitionError::UnknownLeaderEpoch { requested, current })
        }
    }

    /// Fails unless this replica leads.
    pub fn check_leader(&self) -> Result<(), PartitionError> {
        match self.role {
            Role::Leader => Ok(()),
            Role::Follower { .. } => Err(PartitionError::NotLeader),
        }
    }

    /// Decides what a produced batch needs: to be written, or (a retry of an idempotent
    /// batch already written) only to be answered with its original offsets.
    pub fn check_batch(&self, header: &BatchHeader) -> Result<SeqCheck, PartitionError> {
        self.check_leader()?;
        if header.producer_id < 0 || header.base_sequence < 0 {
            return Ok(SeqCheck::Append);
        }
        let last = producer::last_seq(header.base_sequence, header.last_offset_delta + 1);
        self.producers.check(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            last,
        )
    }

    /// Takes a batch the log just appended into account: the log end, producer and
    /// transaction state, and (for a replica's append) a new leader epoch.
    pub fn on_appended(&mut self, header: &BatchHeader, entry: &IndexEntry, now_ms: i64) {
        assert!(
            entry.base_offset >= self.log_end_offset,
            "append below the log end"
        );
        self.log_end_offset = entry.last_offset + 1;
        self.replay(header.partition_leader_epoch, entry, now_ms);
    }

    /// Starts rebuilding producer and transaction state from the log (after opening, or
    /// after a cut): every batch is then fed to [`PartitionState::replay`] in order.
    pub fn begin_replay(&mut self) {
        self.producers = ProducerState::default();
        self.txns = TxnIndex::default();
    }

    /// Replays one batch of the log (`epoch` is its partition leader epoch when known).
    pub fn replay(&mut self, epoch: i32, e: &IndexEntry, now_ms: i64) {
        if epoch >= 0 && self.role != Role::Leader {
            self.epochs.assign(LeaderEpoch(epoch), e.base_offset);
        }
        self.txns.on_batch(e);
        if e.control_type != MARKER_NONE {
            self.producers
                .fence(e.producer_id, e.producer_epoch, now_ms);
        }
        if e.producer_id >= 0 && e.base_sequence >= 0 {
            let count = (e.last_offset - e.base_offset + 1) as i32;
            let last = producer::last_seq(e.base_sequence, count);
            self.producers.record(
                e.producer_id,
                e.producer_epoch,
                e.base_sequence,
                last,
                e.base_offset,
                e.last_offset,
                now_ms,
            );
        }
    }

    /// Aborted transactions overlapping `from..=to`, for `read_committed` fetches.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.txns.aborted_between(from, to)
    }

    /// OffsetForLeaderEpoch: the end of `epoch` in this log.
    pub fn end_offset_for(&self, epoch: LeaderEpoch) -> Option<(LeaderEpoch, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }
}

impl myelin_storage::TxnView for PartitionState {
    fn last_stable_offset(&self) -> i64 {
        self.offsets().last_stable_offset
    }

    fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.txns.aborted_between(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(base: i64, last: i64) -> IndexEntry {
        IndexEntry {
            base_offset: base,
            last_offset: last,
            position: 0,
            size: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            attributes: 0,
            control_type: MARKER_NONE,
        }
    }

    fn header(base: i64, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        }
    }

    #[test]
    fn a_single_replica_commits_what_is_durable() {
        let me = NodeId(1);
        let mut p = PartitionState::new(me, Assignment::single(me), 0, 0, EpochCache::default());
        assert_eq!(p.role(), Role::Leader);
        assert_eq!(p.epochs().latest().map(|e| e.epoch), Some(LeaderEpoch(0)));
        p.on_appended(&header(0, 5), &entry(0, 4), 0);
        assert_eq!(p.offsets().high_watermark, 0, "not durable yet");
        assert_eq!(
            p.step(Input::Durable { end: 5 }),
            vec![Output::HighWatermark(5)]
        );
        assert_eq!(p.offsets().high_watermark, 5);
        assert!(p.step(Input::Durable { end: 3 }).is_empty(), "never back");
    }

    #[test]
    fn the_high_watermark_waits_for_the_isr() {
        let (me, other) = (NodeId(1), NodeId(2));
        let a = Assignment {
            replicas: vec![me, other],
            isr: vec![me, other],
            leader: me,
            leader_epoch: LeaderEpoch(3),
        };
        let mut p = PartitionState::new(me, a.clone(), 0, 0, EpochCache::default());
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        assert!(p.step(Input::Durable { end: 10 }).is_empty());
        let out = p.step(Input::ReplicaProgress {
            replica: other,
            durable_end: 6,
        });
        assert_eq!(out, vec![Output::HighWatermark(6)]);
        // Out of the ISR, the follower no longer holds the high watermark back.
        let out = p.step(Input::Assign(Assignment { isr: vec![me], ..a }));
        assert_eq!(out, vec![Output::HighWatermark(10)]);
    }

    #[test]
    fn epochs_are_checked_and_followers_refuse_produces() {
        let (me, other) = (NodeId(1), NodeId(2));
        let mut p = PartitionState::new(me, Assignment::single(me), 0, 0, EpochCache::default());
        let out = p.step(Input::Assign(Assignment {
            replicas: vec![me, other],
            isr: vec![me, other],
            leader: other,
            leader_epoch: LeaderEpoch(4),
        }));
        assert_eq!(out, vec![Output::RoleChanged]);
        assert!(matches!(
            p.check_batch(&header(0, 1)),
            Err(PartitionError::NotLeader)
        ));
        assert!(p.check_epoch(-1).is_ok() && p.check_epoch(4).is_ok());
        assert!(matches!(
            p.check_epoch(3),
            Err(PartitionError::FencedLeaderEpoch { .. })
        ));
        assert!(matches!(
            p.check_epoch(5),
            Err(PartitionError::UnknownLeaderEpoch { .. })
        ));
        // An older view of the metadata changes nothing.
        assert!(p.step(Input::Assign(Assignment::single(me))).is_empty());
        assert_eq!(p.role(), Role::Follower { leader: other });
    }

    #[test]
    fn a_cut_rolls_back_what_it_removed() {
        let me = NodeId(1);
        let mut p = PartitionState::new(me, Assignment::single(me), 0, 0, EpochCache::default());
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 10 });
        let out = p.step(Input::Truncated { end: 4 });
        assert_eq!(out, vec![Output::HighWatermark(4)]);
        assert_eq!(p.offsets().log_end_offset, 4);
        p.step(Input::LogStart { start: 2 });
        assert_eq!(p.offsets().log_start_offset, 2);
    }
}
