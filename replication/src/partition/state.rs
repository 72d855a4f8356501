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
use super::followers::{Followers, Sync};
use super::producer::{self, ProducerState, SeqCheck};
use super::txn::{AbortedTxn, TxnIndex, MARKER_NONE};
use crate::error::PartitionError;
use crate::types::{LeaderEpoch, NodeId};
use myelin_storage::batch::BatchHeader;
use myelin_storage::index::IndexEntry;

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
    /// Bumped by every change of the partition (leader or ISR).
    pub partition_epoch: i32,
}

impl Assignment {
    /// A partition held by `node` alone, at epoch 0.
    pub fn single(node: NodeId) -> Assignment {
        Assignment {
            replicas: vec![node],
            isr: vec![node],
            leader: node,
            leader_epoch: LeaderEpoch(0),
            partition_epoch: 0,
        }
    }

    /// Whether `other` is a newer view of the partition than this one.
    fn older_than(&self, other: &Assignment) -> bool {
        (self.leader_epoch, self.partition_epoch) < (other.leader_epoch, other.partition_epoch)
    }
}

/// Replication settings of a partition (topic and broker configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `min.insync.replicas`: `acks=all` needs at least this many in-sync replicas.
    pub min_insync_replicas: usize,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 30_000,
        }
    }
}

/// How long an ISR change this leader asked the controller for is awaited before it is
/// asked again (the controller may have been unreachable, or refused it).
pub const ISR_CHANGE_RETRY_MS: i64 = 2_000;

/// Least time between two pings of a silent follower.
const PING_MIN_MS: i64 = 50;

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

/// How far one follower is behind its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerLag {
    /// The follower.
    pub node: NodeId,
    /// Offsets between its durable end and the leader's log end.
    pub offsets: i64,
    /// Milliseconds since it was last caught up; 0 while it is.
    pub since_caught_up_ms: i64,
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
        /// The leader's clock.
        now_ms: i64,
    },
    /// A follower says where its log ends and the epoch of its last batch, at the leader's
    /// request (leader only): the leader decides what it must cut and where to resume.
    FollowerPosition {
        /// The follower.
        replica: NodeId,
        /// Its log end offset.
        log_end: i64,
        /// How much of its log is durable.
        durable_end: i64,
        /// The leader epoch of its last batch ([`LeaderEpoch::UNKNOWN`] when empty).
        last_epoch: LeaderEpoch,
        /// The leader's clock.
        now_ms: i64,
    },
    /// The leader's shell has sent a catching-up follower everything below `next`.
    CaughtUpTo {
        /// The follower.
        replica: NodeId,
        /// Next offset to send.
        next: i64,
    },
    /// The connection to a follower broke: it must say where it is again.
    FollowerLost {
        /// The follower.
        replica: NodeId,
    },
    /// A live follower could not take a batch pushed at `next` (its connection's queue was
    /// full): it catches up from the log from there.
    FellBehind {
        /// The follower.
        replica: NodeId,
        /// The first offset it did not get.
        next: i64,
    },
    /// The leader's high watermark, as it came with replicated batches (follower only).
    LeaderHighWatermark {
        /// The leader's high watermark.
        high_watermark: i64,
    },
    /// Topic or broker replication settings changed.
    Configure(ReplicationConfig),
    /// Time passed: producers idle for too long are forgotten; a leader checks its ISR.
    Tick {
        /// Milliseconds since the epoch, from the shard's clock.
        now_ms: i64,
    },
}

/// What the shell must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The high watermark moved: wake produces waiting on `acks=all` and long-polling
    /// fetches.
    HighWatermark(i64),
    /// The leader-epoch cache changed: write its checkpoint before appending at the new
    /// epoch.
    CheckpointEpochs,
    /// Ask `replica` to say where its log is: it has been silent for a while, and an idle
    /// partition has no appends to acknowledge.
    PingFollower {
        /// The follower.
        replica: NodeId,
    },
    /// The role or epoch changed: requests in flight under the old one must fail, and
    /// waiters be woken to find out.
    RoleChanged,
    /// Tell the follower where this log's `epoch` ends (`end`): it cuts its log where
    /// both logs agree ([`PartitionState::agreed_end`]) and says where it is again.
    TruncateFollower {
        /// The follower.
        replica: NodeId,
        /// The largest epoch of this log not above the follower's last one.
        epoch: LeaderEpoch,
        /// Where that epoch ends in this log.
        end: i64,
    },
    /// Tell the follower to drop its whole log and start over empty at `start` (it has
    /// nothing this log still holds).
    ResetFollower {
        /// The follower.
        replica: NodeId,
        /// The leader's log start offset.
        start: i64,
    },
    /// Start sending the follower this log from `from` (read from the log until it has
    /// caught up with the durable part, then batch by batch as they become durable).
    SyncFollower {
        /// The follower.
        replica: NodeId,
        /// First offset to send.
        from: i64,
    },
    /// Ask the controller for this ISR (AlterPartition), at the assignment's epochs.
    AlterIsr {
        /// The ISR wanted.
        isr: Vec<NodeId>,
        /// The leader epoch it applies to.
        leader_epoch: LeaderEpoch,
        /// The partition epoch it applies to.
        partition_epoch: i32,
    },
}

/// Where a follower says its log is.
#[derive(Debug, Clone, Copy)]
struct Position {
    log_end: i64,
    durable_end: i64,
    last_epoch: LeaderEpoch,
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
    /// The followers, leader only.
    followers: Followers,
    config: ReplicationConfig,
    /// An ISR change asked of the controller and when, until metadata answers it.
    isr_change: Option<(Vec<NodeId>, i64)>,
    epochs: EpochCache,
    producers: ProducerState,
    txns: TxnIndex,
}

impl PartitionState {
    /// The state of a replica on `local` whose log holds `log_start_offset..log_end_offset`
    /// (all of it durable, as after opening), with the checkpointed epoch cache and the
    /// topic's replication settings. Producer and transaction state come from replaying the
    /// log's index afterwards.
    ///
    /// The high watermark starts at the log start: a log just opened may end in batches the
    /// ISR never had (a leader deposed before its followers got them), and only a leader can
    /// say how much is committed. A sole replica that leads knows at once: everything its log
    /// holds durably.
    pub fn new(
        local: NodeId,
        assignment: Assignment,
        log_start_offset: i64,
        log_end_offset: i64,
        mut epochs: EpochCache,
        config: ReplicationConfig,
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
            high_watermark: log_start_offset,
            followers: Followers::default(),
            // Known before the assignment applies: a leader alone in its ISR must not commit
            // under a `min.insync.replicas` it has not been told yet.
            config,
            isr_change: None,
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
                // What followers hold past the cut is not what this log will hold there: they
                // must say where they are again, and cut what this log no longer has.
                for (_, f) in self.followers.iter_mut() {
                    f.durable_end = f.durable_end.min(end);
                    f.sync = Sync::Unknown;
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
                now_ms,
            } => {
                let synced = self
                    .followers
                    .get(replica)
                    .is_some_and(|f| f.sync != Sync::Unknown);
                // Before its position is known, a follower's log may hold what this leader
                // will have it cut: its acknowledgements count only from then on.
                if self.role == Role::Leader && synced {
                    // Followers are sent only what this log made durable: that is what they
                    // catch up with.
                    let durable = self.durable_end;
                    self.followers
                        .entry(replica, now_ms)
                        .ack(durable_end, durable, now_ms);
                    self.advance_high_watermark(&mut out);
                    self.maybe_expand_isr(replica, now_ms, &mut out);
                }
            }
            Input::FollowerPosition {
                replica,
                log_end,
                durable_end,
                last_epoch,
                now_ms,
            } => {
                let at = Position {
                    log_end,
                    durable_end,
                    last_epoch,
                };
                self.follower_position(replica, at, now_ms, &mut out)
            }
            Input::CaughtUpTo { replica, next } => {
                let durable = self.durable_end;
                if let Some(f) = self.followers.by_node_mut(replica) {
                    if let Sync::CatchingUp { .. } = f.sync {
                        // What is not durable yet is pushed once it is.
                        f.sync = if next >= durable {
                            Sync::Live { next }
                        } else {
                            Sync::CatchingUp { next }
                        };
                    }
                }
            }
            Input::FollowerLost { replica } => {
                if let Some(f) = self.followers.by_node_mut(replica) {
                    f.sync = Sync::Unknown;
                }
            }
            Input::FellBehind { replica, next } => {
                if let Some(f) = self.followers.by_node_mut(replica) {
                    if let Sync::Live { .. } = f.sync {
                        f.sync = Sync::CatchingUp { next };
                    }
                }
            }
            Input::LeaderHighWatermark { high_watermark } => {
                if self.role != Role::Leader {
                    let hw = high_watermark.min(self.log_end_offset);
                    if hw > self.high_watermark {
                        self.high_watermark = hw;
                        out.push(Output::HighWatermark(hw));
                    }
                }
            }
            Input::Configure(config) => {
                self.config = config;
                self.advance_high_watermark(&mut out);
            }
            Input::Tick { now_ms } => {
                self.producers
                    .expire(now_ms, producer::PRODUCER_EXPIRATION_MS);
                self.check_isr(now_ms, &mut out);
                self.ping_silent(now_ms, &mut out);
            }
        }
        self.check();
        out
    }

    fn assign(&mut self, a: Assignment, out: &mut Vec<Output>) {
        if a != self.assignment && !self.assignment.older_than(&a) {
            // Metadata only moves forward; an older view is ignored.
            return;
        }
        if self
            .isr_change
            .as_ref()
            .is_some_and(|_| a.isr != self.assignment.isr)
        {
            self.isr_change = None;
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
            self.isr_change = None;
        }
        if role == Role::Leader && self.epochs.assign(a.leader_epoch, self.log_end_offset) {
            out.push(Output::CheckpointEpochs);
        }
        self.role = role;
        self.assignment = a;
        self.advance_high_watermark(out);
    }

    /// The leader's high watermark: the smallest durable end across the ISR (its own
    /// included, and any replica it asked to add). It never moves back, and it does not move
    /// while the ISR is smaller than `min.insync.replicas` (capped at the replica count), as
    /// in Kafka since KIP-966 (KAFKA-15583): a replica fenced out of an ISR that fell below
    /// the minimum becomes an eligible leader replica, which the controller may elect
    /// because it holds everything committed; committing more without it would make that
    /// untrue.
    fn advance_high_watermark(&mut self, out: &mut Vec<Output>) {
        if self.role != Role::Leader {
            return;
        }
        let min_isr = self
            .config
            .min_insync_replicas
            .min(self.assignment.replicas.len());
        if self.assignment.isr.len() < min_isr {
            return;
        }
        // Over the maximal ISR, as Kafka computes it: a replica this leader asked the
        // controller to add may be in the ISR there, and electable, before the metadata
        // saying so arrives here.
        let asked = self.isr_change.as_ref().map(|(isr, _)| isr.as_slice());
        let mut hw = self.durable_end;
        for replica in self.assignment.isr.iter().chain(asked.unwrap_or(&[])) {
            if *replica != self.local {
                hw = hw.min(self.followers.durable_end(*replica));
            }
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            out.push(Output::HighWatermark(hw));
        }
    }

    /// A follower said where its log ends: cut what diverged from this log, or start
    /// sending it what it lacks.
    ///
    /// Divergence is found as KIP-279 does: this log's answer to OffsetForLeaderEpoch for
    /// the follower's last epoch is the largest epoch here not above it and where that epoch
    /// ends here; the follower cuts at that end or where the same epoch ends in its own log,
    /// whichever is lower, and says where it is again, until the two agree.
    fn follower_position(
        &mut self,
        replica: NodeId,
        at: Position,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        let Position {
            log_end,
            durable_end,
            last_epoch,
        } = at;
        if self.role != Role::Leader || !self.assignment.replicas.contains(&replica) {
            return;
        }
        let leo = self.log_end_offset;
        let start = self.log_start_offset;
        let f = self.followers.entry(replica, now_ms);
        f.sync = Sync::Unknown;
        if log_end > 0 && last_epoch != LeaderEpoch::UNKNOWN {
            match self.epochs.end_offset_for(last_epoch, leo) {
                Some((epoch, end)) if epoch < last_epoch || end < log_end => {
                    out.push(Output::TruncateFollower {
                        replica,
                        epoch,
                        end,
                    });
                    return;
                }
                Some(_) => {}
                // No epoch here is as old as the follower's: nothing it has is known here.
                None => {
                    out.push(Output::ResetFollower { replica, start });
                    return;
                }
            }
        }
        if last_epoch == LeaderEpoch::UNKNOWN && log_end > start {
            // Batches of no known epoch (the follower's epoch checkpoint never reached its
            // disk): nothing says whose they are, so none of them can be kept. (A known
            // epoch never leaves a follower ending past this log: it is cut above.)
            out.push(Output::ResetFollower { replica, start });
            return;
        }
        if log_end < start {
            // What it lacks is gone here (retention): it starts over at the log start.
            out.push(Output::ResetFollower { replica, start });
            return;
        }
        let durable = self.durable_end;
        let f = self.followers.entry(replica, now_ms);
        // Its log agrees with this one up to `log_end`: what of it is durable counts as
        // replicated, so a follower with nothing to catch up joins the ISR without waiting
        // for new data. It is sent only what this log made durable, so that is what it
        // catches up with.
        f.ack(durable_end.min(log_end), durable, now_ms);
        // It may hold more than this log made durable (what both had from an earlier
        // leader): it gets each batch from its log end on as it becomes durable here.
        f.sync = if log_end >= durable {
            Sync::Live { next: log_end }
        } else {
            Sync::CatchingUp { next: log_end }
        };
        out.push(Output::SyncFollower {
            replica,
            from: log_end,
        });
        self.advance_high_watermark(out);
        self.maybe_expand_isr(replica, now_ms, out);
    }

    /// A follower told where its leader's `epoch` ends (`end`): where its own log agrees
    /// with the leader's, so where to cut. Its own end of the same epoch is where its next
    /// epoch begins (or its log end).
    pub fn agreed_end(&self, epoch: LeaderEpoch, end: i64) -> i64 {
        let own = match self.epochs.end_offset_for(epoch, self.log_end_offset) {
            Some((_, o)) => o,
            None => self.log_start_offset,
        };
        end.min(own)
            .min(self.log_end_offset)
            .max(self.log_start_offset)
    }

    /// What a follower reports of its log: its end, and the epoch of its last batch. The
    /// latest epoch may hold no batch (this replica led it and wrote nothing): the last
    /// batch belongs to the latest epoch that starts below the log end.
    pub fn position(&self) -> (i64, LeaderEpoch) {
        let last = if self.log_end_offset > self.log_start_offset {
            self.epochs.epoch_at(self.log_end_offset - 1)
        } else {
            None
        };
        (self.log_end_offset, last.unwrap_or(LeaderEpoch::UNKNOWN))
    }

    /// Where the part of the local log known to be durable ends: what a follower's
    /// position reports, and all a leader sends its followers.
    pub fn durable_end(&self) -> i64 {
        self.durable_end
    }

    /// Followers that get a batch at `base..=last`, which this log just made durable, as it
    /// is: those live and waiting for exactly `base`. Their next offset moves past it.
    ///
    /// A leader sends followers only what its own log made durable. A leader's log may
    /// lose what was not durable (a full disk makes it discard what it could not write)
    /// and then take other batches at the same offsets in the same epoch; a follower given
    /// the lost batches would hold data no epoch comparison can tell from the new.
    pub fn push_targets(&mut self, base: i64, last: i64, now_ms: i64) -> Vec<NodeId> {
        let mut targets = Vec::new();
        if self.role != Role::Leader {
            return targets;
        }
        for (node, f) in self.followers.iter_mut() {
            if let Sync::Live { next } = f.sync {
                if next == base {
                    f.sync = Sync::Live { next: last + 1 };
                    f.sample(last + 1, now_ms);
                    targets.push(*node);
                } else if next < base {
                    // It missed a batch (sent while it was not live): catch up from the log.
                    f.sync = Sync::CatchingUp { next };
                }
            }
        }
        targets
    }

    /// Notes, before sending a catching-up follower what this log made durable, where the
    /// durable part ends.
    pub fn sending(&mut self, replica: NodeId, now_ms: i64) {
        let durable = self.durable_end;
        if let Some(f) = self.followers.by_node_mut(replica) {
            f.sample(durable, now_ms);
        }
    }

    /// The followers being caught up from the log, and from where.
    pub fn catching_up(&self) -> Vec<(NodeId, i64)> {
        self.followers
            .iter()
            .filter_map(|(n, f)| match f.sync {
                Sync::CatchingUp { next } => Some((*n, next)),
                _ => None,
            })
            .collect()
    }

    /// A leader drops followers not caught up for `replica.lag.time.max.ms` from the ISR,
    /// through the controller; one change is asked for at a time.
    fn check_isr(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if self.role != Role::Leader {
            return;
        }
        if let Some((_, at)) = &self.isr_change {
            if now_ms - at < ISR_CHANGE_RETRY_MS {
                return;
            }
        }
        let lag_max = self.config.replica_lag_time_max_ms;
        let lagging: Vec<NodeId> = self
            .assignment
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.local)
            .filter(|r| {
                let f = self.followers.entry(*r, now_ms);
                now_ms - f.last_caught_up_ms > lag_max
            })
            .collect();
        if lagging.is_empty() {
            if let Some((isr, _)) = self.isr_change.clone() {
                // The change is still wanted: ask again.
                self.ask_isr(isr, now_ms, out);
            }
            return;
        }
        let isr: Vec<NodeId> = self
            .assignment
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        self.ask_isr(isr, now_ms, out);
    }

    /// Pings followers in sync with this leader that have been silent for a third of
    /// `replica.lag.time.max.ms`: their answer keeps a caught-up follower of an idle
    /// partition in the ISR, and silence still lets a dead one drop out.
    fn ping_silent(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if self.role != Role::Leader {
            return;
        }
        let every = (self.config.replica_lag_time_max_ms / 3).max(PING_MIN_MS);
        for (replica, f) in self.followers.iter_mut() {
            if f.sync != Sync::Unknown && now_ms - f.last_contact_ms >= every {
                f.last_contact_ms = now_ms;
                out.push(Output::PingFollower { replica: *replica });
            }
        }
    }

    /// A follower outside the ISR that has caught up with the high watermark joins it.
    fn maybe_expand_isr(&mut self, replica: NodeId, now_ms: i64, out: &mut Vec<Output>) {
        if self.assignment.isr.contains(&replica) || self.isr_change.is_some() {
            return;
        }
        let epoch_start = self
            .epochs
            .latest()
            .map_or(self.log_start_offset, |e| e.start_offset);
        let caught_up = self.followers.durable_end(replica) >= self.high_watermark.max(epoch_start);
        if caught_up {
            let mut isr = self.assignment.isr.clone();
            isr.push(replica);
            self.ask_isr(isr, now_ms, out);
        }
    }

    fn ask_isr(&mut self, isr: Vec<NodeId>, now_ms: i64, out: &mut Vec<Output>) {
        self.isr_change = Some((isr.clone(), now_ms));
        out.push(Output::AlterIsr {
            isr,
            leader_epoch: self.assignment.leader_epoch,
            partition_epoch: self.assignment.partition_epoch,
        });
    }

    /// `acks=all` may go ahead: enough replicas are in sync.
    pub fn check_min_isr(&self) -> Result<(), PartitionError> {
        let isr = self.assignment.isr.len();
        let min = self.config.min_insync_replicas;
        if isr < min {
            return Err(PartitionError::NotEnoughReplicas { isr, min });
        }
        Ok(())
    }

    /// The replication settings.
    pub fn config(&self) -> ReplicationConfig {
        self.config
    }

    fn check(&self) {
        assert!(self.log_start_offset <= self.high_watermark);
        assert!(self.high_watermark <= self.log_end_offset);
        assert!(self.durable_end <= self.log_end_offset);
    }

    /// This replica's node.
    pub fn local(&self) -> NodeId {
        self.local
    }

    /// How `replica` is being brought up to date, if this leader knows it.
    pub fn follower_sync(&self, replica: NodeId) -> Option<Sync> {
        self.followers.get(replica).map(|f| f.sync)
    }

    /// A leader's view of each follower: how many offsets its durable log is behind this
    /// log's end, and how long since it was last caught up (0 while it is).
    pub fn follower_lags(&self, now_ms: i64) -> Vec<FollowerLag> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        let end = self.offsets().log_end_offset;
        self.followers
            .iter()
            .map(|(node, f)| FollowerLag {
                node: *node,
                offsets: (end - f.durable_end).max(0),
                since_caught_up_ms: if f.durable_end >= end {
                    0
                } else {
                    (now_ms - f.last_caught_up_ms).max(0)
                },
            })
            .collect()
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
    /// transaction state, and (for a replica's append) a new leader epoch. Returns whether
    /// the epoch cache changed (and must be checkpointed).
    pub fn on_appended(&mut self, header: &BatchHeader, entry: &IndexEntry, now_ms: i64) -> bool {
        assert!(
            entry.base_offset >= self.log_end_offset,
            "append below the log end"
        );
        self.log_end_offset = entry.last_offset + 1;
        self.replay(header.partition_leader_epoch, entry, now_ms)
    }

    /// Starts rebuilding producer and transaction state from the log (after opening, or
    /// after a cut): every batch is then fed to [`PartitionState::replay`] in order.
    pub fn begin_replay(&mut self) {
        self.producers = ProducerState::default();
        self.txns = TxnIndex::default();
    }

    /// Replays one batch of the log (`epoch` is its partition leader epoch when known).
    /// Returns whether the epoch cache changed.
    pub fn replay(&mut self, epoch: i32, e: &IndexEntry, now_ms: i64) -> bool {
        let changed = self.expect_epoch(epoch, e.base_offset);
        self.txns.on_batch(e);
        if e.control_type != MARKER_NONE {
            self.producers
                .fence(e.producer_id, e.producer_epoch, e.max_timestamp, now_ms);
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
                e.max_timestamp,
                now_ms,
            );
        }
        changed
    }

    /// A follower is about to append a batch of `epoch` at `start` (its log end): the
    /// epoch cache takes it, so that the checkpoint can hold it before the batch is
    /// written. Returns whether the cache changed. A leader's epochs come from its
    /// assignment instead, and `-1` (unknown) changes nothing.
    pub fn expect_epoch(&mut self, epoch: i32, start: i64) -> bool {
        if epoch < 0 || self.role == Role::Leader {
            return false;
        }
        let epoch = LeaderEpoch(epoch);
        if self
            .epochs
            .latest()
            .is_some_and(|l| l.epoch == epoch && l.start_offset <= start)
        {
            return false;
        }
        // Entries from where the batch lands on describe no batch (an epoch this replica
        // led without writing anything): the batch's own epoch, older or not, holds from
        // there, or the replica would report an epoch its batches do not have.
        let stale = self.epochs.truncate_from_end(start);
        self.epochs.assign(epoch, start) || stale
    }

    /// The producers this replica remembers, as DescribeProducers reports them.
    pub fn active_producers(&self) -> Vec<producer::ActiveProducer> {
        self.producers.active(|pid| self.txns.open_since(pid))
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
        let mut p = PartitionState::new(
            me,
            Assignment::single(me),
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
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
            partition_epoch: 5,
        };
        let mut p = PartitionState::new(
            me,
            a.clone(),
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        assert!(p.step(Input::Durable { end: 10 }).is_empty());
        let early = p.step(Input::ReplicaProgress {
            replica: other,
            durable_end: 6,
            now_ms: 0,
        });
        assert!(
            early.is_empty(),
            "no acknowledgement counts before the position"
        );
        p.step(Input::FollowerPosition {
            replica: other,
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 0,
        });
        let out = p.step(Input::ReplicaProgress {
            replica: other,
            durable_end: 6,
            now_ms: 0,
        });
        assert_eq!(out, vec![Output::HighWatermark(6)]);
        // A stale view of the ISR changes nothing.
        let stale = p.step(Input::Assign(Assignment {
            isr: vec![me],
            partition_epoch: 4,
            ..a.clone()
        }));
        assert!(stale.is_empty());
        // Out of the ISR, the follower no longer holds the high watermark back.
        let out = p.step(Input::Assign(Assignment {
            isr: vec![me],
            partition_epoch: 6,
            ..a
        }));
        assert_eq!(out, vec![Output::HighWatermark(10)]);
    }

    #[test]
    fn a_follower_with_nothing_to_catch_up_joins_the_isr_from_its_position() {
        let (me, other) = (NodeId(1), NodeId(2));
        let a = Assignment {
            replicas: vec![me, other],
            isr: vec![me],
            leader: me,
            leader_epoch: LeaderEpoch(2),
            partition_epoch: 4,
        };
        let mut p = PartitionState::new(
            me,
            a,
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        // Empty logs on both sides: the position alone shows it caught up.
        let out = p.step(Input::FollowerPosition {
            replica: other,
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 10,
        });
        assert!(
            out.contains(&Output::AlterIsr {
                isr: vec![me, other],
                leader_epoch: LeaderEpoch(2),
                partition_epoch: 4,
            }),
            "{out:?}"
        );
        // Data it has not made durable yet does not count.
        let mut p = PartitionState::new(
            me,
            p.assignment().clone(),
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        p.on_appended(&header(0, 4), &entry(0, 3), 0);
        p.step(Input::Durable { end: 4 });
        let out = p.step(Input::FollowerPosition {
            replica: other,
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 10,
        });
        assert!(
            !out.iter().any(|o| matches!(o, Output::AlterIsr { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn an_idle_partition_pings_its_followers_and_keeps_the_live_ones() {
        let (me, live, dead) = (NodeId(1), NodeId(2), NodeId(3));
        let a = Assignment {
            replicas: vec![me, live, dead],
            isr: vec![me, live, dead],
            leader: me,
            leader_epoch: LeaderEpoch(1),
            partition_epoch: 1,
        };
        let mut p = PartitionState::new(
            me,
            a,
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        p.step(Input::Configure(ReplicationConfig {
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 3_000,
        }));
        for r in [live, dead] {
            p.step(Input::FollowerPosition {
                replica: r,
                log_end: 0,
                durable_end: 0,
                last_epoch: LeaderEpoch::UNKNOWN,
                now_ms: 0,
            });
        }
        let mut pinged = Vec::new();
        let mut shrunk = None;
        for now in (100..=6_000).step_by(100) {
            for o in p.step(Input::Tick { now_ms: now }) {
                match o {
                    Output::PingFollower { replica } => {
                        pinged.push((replica, now));
                        if replica == live {
                            p.step(Input::ReplicaProgress {
                                replica,
                                durable_end: 0,
                                now_ms: now,
                            });
                        }
                    }
                    Output::AlterIsr { isr, .. } => {
                        shrunk.get_or_insert((isr, now));
                    }
                    _ => {}
                }
            }
        }
        assert!(pinged.contains(&(live, 1_000)), "{pinged:?}");
        assert!(pinged.iter().any(|(r, _)| *r == dead));
        let (isr, at) = shrunk.expect("the silent follower leaves");
        assert_eq!(isr, vec![me, live]);
        assert!(at > 3_000, "only after the lag time: {at}");
    }

    /// Three replicas, led here at `epoch`, with `isr`, `min.insync.replicas` `min_isr`.
    fn led(isr: &[i32], epoch: i32, min_isr: usize) -> PartitionState {
        let me = NodeId(1);
        let a = Assignment {
            replicas: vec![me, NodeId(2), NodeId(3)],
            isr: isr.iter().map(|n| NodeId(*n)).collect(),
            leader: me,
            leader_epoch: LeaderEpoch(epoch),
            partition_epoch: 1,
        };
        let config = ReplicationConfig {
            min_insync_replicas: min_isr,
            replica_lag_time_max_ms: 30_000,
        };
        PartitionState::new(me, a, 0, 0, EpochCache::default(), config)
    }

    /// A follower of `p` says its log is empty, then that it made `durable` durable.
    fn synced(p: &mut PartitionState, follower: i32, durable: i64) -> Vec<Output> {
        p.step(Input::FollowerPosition {
            replica: NodeId(follower),
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 0,
        });
        p.step(Input::ReplicaProgress {
            replica: NodeId(follower),
            durable_end: durable,
            now_ms: 0,
        })
    }

    #[test]
    fn the_high_watermark_stands_still_below_min_insync_replicas() {
        let mut p = led(&[1, 2], 1, 2);
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 10 });
        assert_eq!(synced(&mut p, 2, 4), vec![Output::HighWatermark(4)]);
        // The follower is fenced out: the ISR is below the minimum, and the controller
        // makes it an eligible leader replica, holding everything committed. The leader
        // alone commits nothing more.
        let alone = Assignment {
            isr: vec![NodeId(1)],
            partition_epoch: 2,
            ..p.assignment().clone()
        };
        assert!(p.step(Input::Assign(alone.clone())).is_empty());
        assert_eq!(p.offsets().high_watermark, 4);
        // The minimum is capped at the replica count.
        let config = ReplicationConfig {
            min_insync_replicas: 5,
            replica_lag_time_max_ms: 30_000,
        };
        let one = Assignment {
            replicas: vec![NodeId(1)],
            ..alone
        };
        let mut p = PartitionState::new(NodeId(1), one, 0, 0, EpochCache::default(), config);
        p.on_appended(&header(0, 3), &entry(0, 2), 0);
        assert_eq!(
            p.step(Input::Durable { end: 3 }),
            vec![Output::HighWatermark(3)]
        );
    }

    #[test]
    fn a_replica_asked_into_the_isr_holds_the_high_watermark_back() {
        let mut p = led(&[1, 2], 1, 1);
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 10 });
        synced(&mut p, 2, 10);
        assert_eq!(p.offsets().high_watermark, 10);
        // Follower 3 catches up with the high watermark: the leader asks for it in the ISR.
        let out = synced(&mut p, 3, 10);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::AlterIsr { isr, .. } if isr.len() == 3)),
            "{out:?}"
        );
        // Until the metadata answers, the controller may already count it in the ISR (and
        // elect it): the high watermark does not pass what it holds.
        p.on_appended(&header(10, 5), &entry(10, 14), 0);
        p.step(Input::Durable { end: 15 });
        p.step(Input::ReplicaProgress {
            replica: NodeId(2),
            durable_end: 15,
            now_ms: 0,
        });
        assert_eq!(p.offsets().high_watermark, 10);
        p.step(Input::ReplicaProgress {
            replica: NodeId(3),
            durable_end: 15,
            now_ms: 0,
        });
        assert_eq!(p.offsets().high_watermark, 15);
    }

    #[test]
    fn followers_are_sent_only_what_is_durable_here() {
        let mut p = led(&[1, 2], 1, 1);
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 6 });
        p.step(Input::FollowerPosition {
            replica: NodeId(2),
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 0,
        });
        assert_eq!(
            p.follower_sync(NodeId(2)),
            Some(Sync::CatchingUp { next: 0 })
        );
        // Caught up with the durable part, it is live from there: what lies beyond is
        // pushed once durable, and a full disk may still discard it.
        p.step(Input::CaughtUpTo {
            replica: NodeId(2),
            next: 6,
        });
        assert_eq!(p.follower_sync(NodeId(2)), Some(Sync::Live { next: 6 }));
        p.step(Input::Durable { end: 10 });
        assert_eq!(p.push_targets(6, 9, 0), vec![NodeId(2)]);
        // A follower that holds more than the leader made durable (both had it from an
        // earlier leader) gets what follows its own end.
        let mut p = led(&[1, 2], 1, 1);
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 4 });
        p.step(Input::FollowerPosition {
            replica: NodeId(2),
            log_end: 10,
            durable_end: 10,
            last_epoch: LeaderEpoch(1),
            now_ms: 0,
        });
        assert_eq!(p.follower_sync(NodeId(2)), Some(Sync::Live { next: 10 }));
    }

    #[test]
    fn a_follower_reports_the_producers_of_the_batches_it_appended() {
        use super::super::producer::{ActiveProducer, MARKER_COORDINATOR_EPOCH};
        let (me, other) = (NodeId(1), NodeId(2));
        let following = Assignment {
            replicas: vec![me, other],
            isr: vec![me, other],
            leader: other,
            leader_epoch: LeaderEpoch(1),
            partition_epoch: 1,
        };
        let config = ReplicationConfig::default();
        let mut p = PartitionState::new(me, following, 0, 0, EpochCache::default(), config);
        let txn = |base: i64, last: i64, seq: i32, control: i8, ts: i64| IndexEntry {
            max_timestamp: ts,
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: seq,
            attributes: myelin_storage::batch::ATTR_TRANSACTIONAL,
            control_type: control,
            ..entry(base, last)
        };
        let mut h = header(0, 3);
        h.partition_leader_epoch = 1;
        p.on_appended(&h, &txn(0, 2, 0, MARKER_NONE, 500), 1);
        let open = ActiveProducer {
            producer_id: 42,
            producer_epoch: 3,
            last_sequence: 2,
            last_timestamp: 500,
            coordinator_epoch: -1,
            current_txn_start_offset: 0,
        };
        assert_eq!(p.active_producers(), vec![open]);
        let mut h = header(3, 1);
        h.partition_leader_epoch = 1;
        let marker = txn(3, 3, -1, super::super::txn::MARKER_COMMIT, 600);
        p.on_appended(&h, &marker, 2);
        let committed = ActiveProducer {
            last_timestamp: 600,
            coordinator_epoch: MARKER_COORDINATOR_EPOCH,
            current_txn_start_offset: -1,
            ..open
        };
        assert_eq!(p.active_producers(), vec![committed]);
        // Rebuilt from the same batches after a restart, the state is the same.
        p.begin_replay();
        p.replay(1, &txn(0, 2, 0, MARKER_NONE, 500), 3);
        p.replay(1, &marker, 3);
        assert_eq!(p.active_producers(), vec![committed]);
    }

    #[test]
    fn a_reopened_replica_claims_nothing_committed_until_a_leader_says_so() {
        let (me, other) = (NodeId(1), NodeId(2));
        let following = Assignment {
            replicas: vec![me, other],
            isr: vec![me, other],
            leader: other,
            leader_epoch: LeaderEpoch(2),
            partition_epoch: 3,
        };
        // Its log may end in batches no other replica has (it led before, and was deposed).
        let config = ReplicationConfig::default();
        let mut p = PartitionState::new(me, following, 0, 10, EpochCache::default(), config);
        assert_eq!(p.offsets().high_watermark, 0);
        p.step(Input::LeaderHighWatermark { high_watermark: 7 });
        assert_eq!(p.offsets().high_watermark, 7);
        // A sole replica knows at once.
        let p = PartitionState::new(
            me,
            Assignment::single(me),
            0,
            10,
            EpochCache::default(),
            config,
        );
        assert_eq!(p.offsets().high_watermark, 10);
    }

    #[test]
    fn a_lone_leader_opens_under_its_topics_min_insync_replicas() {
        let me = NodeId(1);
        let alone = Assignment {
            replicas: vec![me, NodeId(2), NodeId(3)],
            isr: vec![me],
            leader: me,
            leader_epoch: LeaderEpoch(4),
            partition_epoch: 6,
        };
        let config = ReplicationConfig {
            min_insync_replicas: 2,
            replica_lag_time_max_ms: 30_000,
        };
        let p = PartitionState::new(me, alone, 0, 10, EpochCache::default(), config);
        assert_eq!(p.offsets().high_watermark, 0, "an ISR of one is below two");
    }

    #[test]
    fn a_position_names_the_epoch_of_the_last_batch() {
        let (me, other) = (NodeId(1), NodeId(2));
        let mut p = led(&[1, 2], 1, 1);
        let mut h = header(0, 4);
        h.partition_leader_epoch = 1;
        p.on_appended(&h, &entry(0, 3), 0);
        // It leads epoch 3 from offset 4 and writes nothing there, then follows.
        let at = |leader, epoch| Assignment {
            replicas: vec![me, other, NodeId(3)],
            isr: vec![me, other],
            leader,
            leader_epoch: LeaderEpoch(epoch),
            partition_epoch: epoch,
        };
        p.step(Input::Assign(at(me, 3)));
        p.step(Input::Assign(at(other, 4)));
        assert_eq!(
            p.position(),
            (4, LeaderEpoch(1)),
            "not epoch 3, which is empty"
        );
    }

    #[test]
    fn a_follower_takes_older_batches_over_an_epoch_it_led_without_writing() {
        let other = NodeId(2);
        // It led epoch 1 over an empty log, then follows epoch 2.
        let mut p = led(&[1, 2], 1, 1);
        p.step(Input::Assign(Assignment {
            leader: other,
            leader_epoch: LeaderEpoch(2),
            partition_epoch: 2,
            ..p.assignment().clone()
        }));
        // The new leader sends what an epoch-0 leader wrote.
        let mut h = header(0, 12);
        h.partition_leader_epoch = 0;
        assert!(p.on_appended(&h, &entry(0, 11), 0));
        assert_eq!(p.position(), (12, LeaderEpoch(0)));
        assert_eq!(
            p.epochs()
                .entries()
                .iter()
                .map(|e| e.epoch)
                .collect::<Vec<_>>(),
            vec![LeaderEpoch(0)]
        );
    }

    #[test]
    fn a_follower_whose_batches_have_no_known_epoch_starts_over() {
        let mut p = led(&[1, 2], 1, 1);
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 10 });
        // Its checkpoint never reached its disk: it cannot say whose its batches are.
        let out = p.step(Input::FollowerPosition {
            replica: NodeId(2),
            log_end: 6,
            durable_end: 6,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 0,
        });
        assert_eq!(
            out,
            vec![Output::ResetFollower {
                replica: NodeId(2),
                start: 0
            }]
        );
        // Empty, it is caught up from the start.
        let out = p.step(Input::FollowerPosition {
            replica: NodeId(2),
            log_end: 0,
            durable_end: 0,
            last_epoch: LeaderEpoch::UNKNOWN,
            now_ms: 0,
        });
        assert!(out.contains(&Output::SyncFollower {
            replica: NodeId(2),
            from: 0
        }));
    }

    #[test]
    fn a_follower_records_a_new_epoch_before_its_batches() {
        let other = NodeId(2);
        let mut p = led(&[1, 2], 1, 1);
        p.step(Input::Assign(Assignment {
            leader: other,
            leader_epoch: LeaderEpoch(2),
            partition_epoch: 2,
            ..p.assignment().clone()
        }));
        // Epoch 1 is already known from offset 0 (this replica led it): nothing to write.
        assert!(!p.expect_epoch(1, 0));
        assert!(p.expect_epoch(2, 0), "a new epoch, to checkpoint first");
        assert!(!p.expect_epoch(2, 0), "once");
        assert!(!p.expect_epoch(-1, 0), "unknown epochs change nothing");
        // The append that follows finds it recorded.
        let mut h = header(0, 3);
        h.partition_leader_epoch = 2;
        assert!(!p.on_appended(&h, &entry(0, 2), 0));
        assert_eq!(p.position(), (3, LeaderEpoch(2)));
    }

    #[test]
    fn epochs_are_checked_and_followers_refuse_produces() {
        let (me, other) = (NodeId(1), NodeId(2));
        let mut p = PartitionState::new(
            me,
            Assignment::single(me),
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        let out = p.step(Input::Assign(Assignment {
            replicas: vec![me, other],
            isr: vec![me, other],
            leader: other,
            leader_epoch: LeaderEpoch(4),
            partition_epoch: 0,
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
        let mut p = PartitionState::new(
            me,
            Assignment::single(me),
            0,
            0,
            EpochCache::default(),
            ReplicationConfig::default(),
        );
        p.on_appended(&header(0, 10), &entry(0, 9), 0);
        p.step(Input::Durable { end: 10 });
        let out = p.step(Input::Truncated { end: 4 });
        assert_eq!(out, vec![Output::HighWatermark(4)]);
        assert_eq!(p.offsets().log_end_offset, 4);
        p.step(Input::LogStart { start: 2 });
        assert_eq!(p.offsets().log_start_offset, 2);
    }
}
