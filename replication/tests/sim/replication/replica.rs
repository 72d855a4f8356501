//! One partition replica on one broker: the real [`PartitionState`] and, around it, what the
//! glommio shell does with its outputs, step for step as `partition/shell.rs` and
//! `partition/replicate.rs` do it: the leader's announcements, pushes and catch-up tasks,
//! the follower's answers, cuts and appends, the flusher and the epoch checkpoint, and
//! `acks=all` produces waiting for the high watermark.
//!
//! What the shell awaits (a log write, a checkpoint write, room on a connection) takes
//! virtual time here, so other events interleave where they can in production.

use super::disk::{Batch, Disk};
use super::{disks_of, Frame, Rpc, Sim, Timer, CATCH_UP_BATCHES, LEAD_RETRY_MS};
use myelin_replication::controller::ControllerRequest;
use myelin_replication::partition::epochs::EpochCache;
use myelin_replication::partition::followers::Sync;
use myelin_replication::partition::{Assignment, Input, Output, PartitionState};
use myelin_replication::partition::{ReplicationConfig, Role};
use myelin_replication::replica::wire::ReplicaMessage;
use myelin_replication::types::{LeaderEpoch, NodeId};
use myelin_storage::batch::BatchHeader;
use myelin_storage::index::IndexEntry;
use myelin_storage::txn::MARKER_NONE;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A produce waiting for the epoch checkpoint before it appends.
#[derive(Debug, Clone, Copy)]
struct Produce {
    client: NodeId,
    id: u64,
    payload: u64,
    records: i32,
}

/// An appended produce waiting for `acks=all`.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    client: NodeId,
    id: u64,
    batch: Batch,
    epoch: LeaderEpoch,
    /// Past the log's commit (durable on the leader), waiting for the high watermark.
    durable: bool,
}

/// A follower's batches of a new epoch, waiting for the checkpoint that holds it.
#[derive(Debug, Clone)]
struct Held {
    /// The leader epoch they came in.
    epoch: LeaderEpoch,
    /// The connection they came on.
    conn: u64,
    /// Their base offset.
    base: i64,
    /// The leader's high watermark that came with them.
    high_watermark: i64,
    batches: Vec<Batch>,
}

/// One replica and its shell's state (`Partition`'s fields).
pub struct Replica {
    /// The state machine.
    pub state: PartitionState,
    epochs_version: u64,
    epochs_written: u64,
    checkpoint_writing: bool,
    leader_conn: Option<u64>,
    catching_up: BTreeSet<NodeId>,
    lead_sent_ms: BTreeMap<NodeId, i64>,
    flushing: bool,
    parked: Vec<Produce>,
    waiting: Vec<Waiter>,
    /// Batches appended as leader, pushed once durable.
    unpushed: VecDeque<Batch>,
    /// A follower waits for its log or its epoch checkpoint; frames from the leader are
    /// dropped meanwhile.
    resyncing: bool,
    /// Batches of a new epoch waiting for the checkpoint that holds it.
    held: Option<Held>,
    /// Positions each follower sent this leader.
    positions: BTreeMap<NodeId, u64>,
}

/// The header the state machine sees for `b`, stamped with `epoch`.
fn header(b: &Batch, epoch: i32) -> BatchHeader {
    BatchHeader {
        base_offset: b.base,
        batch_length: 0,
        partition_leader_epoch: epoch,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: (b.last - b.base) as i32,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: (b.last - b.base + 1) as i32,
    }
}

/// The index entry of `b`.
fn entry(b: &Batch) -> IndexEntry {
    IndexEntry {
        base_offset: b.base,
        last_offset: b.last,
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

/// A frame, briefly, for traces.
fn show(m: &ReplicaMessage, batches: &[Batch]) -> String {
    let b: Vec<String> = batches
        .iter()
        .map(|b| format!("[{}..={} e{} #{}]", b.base, b.last, b.epoch, b.payload))
        .collect();
    match m {
        ReplicaMessage::Lead { epoch, .. } => format!("Lead e{}", epoch.0),
        ReplicaMessage::Position {
            epoch,
            log_end,
            durable_end,
            last_epoch,
            ..
        } => format!(
            "Position e{} end {log_end} durable {durable_end} last e{}",
            epoch.0, last_epoch.0
        ),
        ReplicaMessage::Ping { epoch, .. } => format!("Ping e{}", epoch.0),
        ReplicaMessage::Truncate {
            epoch, upto, end, ..
        } => format!("Truncate e{} upto e{} end {end}", epoch.0, upto.0),
        ReplicaMessage::Reset { epoch, start, .. } => format!("Reset e{} start {start}", epoch.0),
        ReplicaMessage::Append {
            epoch,
            base_offset,
            high_watermark,
            ..
        } => format!(
            "Append e{} base {base_offset} hw {high_watermark} {}",
            epoch.0,
            b.join("")
        ),
        ReplicaMessage::Ack {
            epoch, durable_end, ..
        } => format!("Ack e{} durable {durable_end}", epoch.0),
        ReplicaMessage::Fenced { epoch, .. } => format!("Fenced e{}", epoch.0),
        ReplicaMessage::Hello { .. } => "Hello".to_string(),
    }
}

impl Sim {
    fn replica(&mut self, id: NodeId, p: i32) -> Option<&mut Replica> {
        self.brokers.get_mut(&id)?.replicas.get_mut(&p)
    }

    fn disk(&mut self, id: NodeId, p: i32) -> Option<&mut Disk> {
        self.brokers.get_mut(&id)?.disks.get_mut(&p)
    }

    fn step(&mut self, id: NodeId, p: i32, input: Input) -> Vec<Output> {
        let traced = self.trace.then(|| format!("{input:?}"));
        let out = self
            .replica(id, p)
            .map(|r| r.state.step(input))
            .unwrap_or_default();
        if let Some(input) = traced {
            self.trace_replica(id, p, &format!("{input} -> {out:?}"));
        }
        out
    }

    fn trace_replica(&self, id: NodeId, p: i32, what: &str) {
        if !self.trace {
            return;
        }
        let Some(b) = self.brokers.get(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get(&p), b.disks.get(&p)) else {
            return;
        };
        let st = &r.state;
        self.trace(|| {
            let o = st.offsets();
            let role = match st.role() {
                Role::Leader => "L".to_string(),
                Role::Follower { leader } => format!("F({leader})"),
            };
            let isr: Vec<i32> = st.assignment().isr.iter().map(|n| n.0).collect();
            format!(
                "{id}/p{p} {role} e{} hw {} leo {} durable {} isr {isr:?}: {what}",
                st.leader_epoch().0,
                o.high_watermark,
                o.log_end_offset,
                d.durable_end(),
            )
        });
    }

    fn frame(&self, c: u64, p: i32, message: ReplicaMessage, batches: Vec<Batch>) -> Frame {
        Frame {
            conn: c,
            partition: p,
            message,
            batches,
        }
    }

    /// Opens the replica from its disk (`Partition::with_log`): the checkpointed epoch
    /// cache, the log replayed, the cache written back if opening changed it.
    pub(super) fn open_replica(
        &mut self,
        id: NodeId,
        p: i32,
        assignment: Assignment,
        min_insync_replicas: usize,
    ) {
        let now_ms = self.clock_of(id);
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let disk = b.disks.entry(p).or_default();
        let epochs = match disk.checkpoint.as_deref().map(EpochCache::decode) {
            Some(Ok(c)) => c,
            _ => EpochCache::default(),
        };
        let config = ReplicationConfig {
            min_insync_replicas,
            ..ReplicationConfig::default()
        };
        let (start, end) = (disk.start(), disk.end());
        let mut state = PartitionState::new(id, assignment, start, end, epochs.clone(), config);
        state.begin_replay();
        for batch in disk.batches() {
            state.replay(-1, &entry(batch), now_ms);
        }
        let changed = state.epochs() != &epochs;
        if changed {
            disk.checkpoint = Some(state.epochs().encode());
        }
        let replica = Replica {
            state,
            epochs_version: u64::from(changed),
            epochs_written: u64::from(changed),
            checkpoint_writing: false,
            leader_conn: None,
            catching_up: BTreeSet::new(),
            lead_sent_ms: BTreeMap::new(),
            flushing: false,
            parked: Vec::new(),
            waiting: Vec::new(),
            unpushed: VecDeque::new(),
            resyncing: false,
            held: None,
            positions: BTreeMap::new(),
        };
        b.replicas.insert(p, replica);
        self.observe(id, p);
    }

    /// `Partition::configure`.
    pub(super) fn configure(&mut self, id: NodeId, p: i32, config: ReplicationConfig) {
        let same = self
            .replica(id, p)
            .is_some_and(|r| r.state.config() == config);
        if !same {
            let out = self.step(id, p, Input::Configure(config));
            self.carry_out(id, p, &out);
            self.observe(id, p);
        }
    }

    /// `Partition::assign`.
    pub(super) fn assign(&mut self, id: NodeId, p: i32, assignment: Assignment) {
        let out = self.step(id, p, Input::Assign(assignment));
        let changed = out.contains(&Output::RoleChanged);
        if changed {
            if let Some(r) = self.replica(id, p) {
                r.leader_conn = None;
                r.lead_sent_ms.clear();
                r.unpushed.clear();
            }
        }
        self.carry_out(id, p, &out);
        if changed {
            let now_ms = self.clock_of(id);
            self.announce(id, p, now_ms);
        }
        self.observe(id, p);
    }

    /// `Partition::carry_out` and `replication_output`.
    fn carry_out(&mut self, id: NodeId, p: i32, out: &[Output]) {
        for o in out {
            let Some(epoch) = self.replica(id, p).map(|r| r.state.leader_epoch()) else {
                return;
            };
            match o {
                Output::HighWatermark(_) | Output::RoleChanged => {}
                Output::CheckpointEpochs => {
                    if let Some(r) = self.replica(id, p) {
                        r.epochs_version += 1;
                    }
                }
                Output::TruncateFollower {
                    replica,
                    epoch: upto,
                    end,
                } => {
                    let m = ReplicaMessage::Truncate {
                        topic: self.topic_id,
                        partition: p,
                        epoch,
                        upto: *upto,
                        end: *end,
                    };
                    self.send_to(id, p, *replica, m);
                }
                Output::ResetFollower { replica, start } => {
                    let m = ReplicaMessage::Reset {
                        topic: self.topic_id,
                        partition: p,
                        epoch,
                        start: *start,
                    };
                    self.send_to(id, p, *replica, m);
                }
                Output::SyncFollower { replica, .. } => self.start_catch_up(id, p, *replica),
                Output::PingFollower { replica } => {
                    let m = ReplicaMessage::Ping {
                        topic: self.topic_id,
                        partition: p,
                        epoch,
                        log_start: 0,
                    };
                    self.send_to(id, p, *replica, m);
                }
                Output::AlterIsr {
                    isr,
                    leader_epoch,
                    partition_epoch,
                } => {
                    let Some(broker_epoch) = self.broker_epoch(id) else {
                        continue;
                    };
                    let request = ControllerRequest::AlterPartition {
                        broker: id,
                        broker_epoch,
                        topic: self.topic_id,
                        partition: p,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        isr: isr.clone(),
                    };
                    self.alter_isr(id, request);
                }
            }
        }
    }

    /// `Partition::send_to`: a follower that cannot be told must say where it is again.
    fn send_to(&mut self, id: NodeId, p: i32, follower: NodeId, m: ReplicaMessage) {
        let sent = match self.follower_conn(id, follower) {
            Some(c) => {
                let f = self.frame(c, p, m, Vec::new());
                self.try_send(id, c, f)
            }
            None => false,
        };
        if !sent {
            let out = self.step(id, p, Input::FollowerLost { replica: follower });
            self.carry_out(id, p, &out);
        }
    }

    /// `Partition::replication_tick`.
    pub(super) fn replication_tick(&mut self, id: NodeId, p: i32) {
        let replicated = self
            .replica(id, p)
            .is_some_and(|r| r.state.assignment().replicas.len() > 1);
        if !replicated {
            return;
        }
        let now_ms = self.clock_of(id);
        let out = self.step(id, p, Input::Tick { now_ms });
        self.carry_out(id, p, &out);
        self.announce(id, p, now_ms);
        let waiting = self
            .replica(id, p)
            .map(|r| r.state.catching_up())
            .unwrap_or_default();
        for (r, _) in waiting {
            self.start_catch_up(id, p, r);
        }
        self.observe(id, p);
    }

    /// `Partition::announce`: a leader asks followers that have not said where they are.
    fn announce(&mut self, id: NodeId, p: i32, now_ms: i64) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.state.role() != Role::Leader {
            return;
        }
        let epoch = r.state.leader_epoch();
        let unknown: Vec<NodeId> = r
            .state
            .assignment()
            .replicas
            .iter()
            .copied()
            .filter(|n| *n != id)
            .filter(|n| r.state.follower_sync(*n).is_none_or(|s| s == Sync::Unknown))
            .collect();
        for f in unknown {
            let last = self
                .replica(id, p)
                .and_then(|r| r.lead_sent_ms.get(&f).copied());
            if last.is_some_and(|t| now_ms - t < LEAD_RETRY_MS) {
                continue;
            }
            if let Some(c) = self.follower_conn(id, f) {
                let m = ReplicaMessage::Lead {
                    topic: self.topic_id,
                    partition: p,
                    epoch,
                };
                let frame = self.frame(c, p, m, Vec::new());
                if self.try_send(id, c, frame) {
                    if let Some(r) = self.replica(id, p) {
                        r.lead_sent_ms.insert(f, now_ms);
                    }
                }
            }
        }
    }

    /// `Partition::push_durable`: the batches the log just made durable go to the live
    /// followers, and followers catching up may read further.
    fn push_durable(&mut self, id: NodeId, p: i32, end: i64) {
        let now_ms = self.clock_of(id);
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.state.role() != Role::Leader {
            r.unpushed.clear();
            return;
        }
        while let Some(batch) = self.replica(id, p).and_then(|r| {
            let due = r.unpushed.front().is_some_and(|b| b.last < end);
            if due {
                r.unpushed.pop_front()
            } else {
                None
            }
        }) {
            let Some(r) = self.replica(id, p) else {
                return;
            };
            let targets = r.state.push_targets(batch.base, batch.last, now_ms);
            let hw = r.state.offsets().high_watermark;
            self.push(id, p, &targets, batch.base, hw, batch);
        }
        let waiting = self
            .replica(id, p)
            .map(|r| r.state.catching_up())
            .unwrap_or_default();
        for (r, _) in waiting {
            self.start_catch_up(id, p, r);
        }
    }

    /// `Partition::push`: batches just made durable go to the followers that take them
    /// live; one that cannot take them now catches up from the log.
    fn push(&mut self, id: NodeId, p: i32, targets: &[NodeId], base: i64, hw: i64, batch: Batch) {
        let Some(epoch) = self.replica(id, p).map(|r| r.state.leader_epoch()) else {
            return;
        };
        for t in targets {
            let sent = match self.follower_conn(id, *t) {
                Some(c) => {
                    let m = ReplicaMessage::Append {
                        topic: self.topic_id,
                        partition: p,
                        epoch,
                        base_offset: base,
                        high_watermark: hw,
                        log_start: 0,
                    };
                    let f = self.frame(c, p, m, vec![batch]);
                    self.try_send(id, c, f)
                }
                None => false,
            };
            if !sent {
                let out = self.step(
                    id,
                    p,
                    Input::FellBehind {
                        replica: *t,
                        next: base,
                    },
                );
                self.carry_out(id, p, &out);
                self.start_catch_up(id, p, *t);
            }
        }
    }

    /// `Partition::start_catch_up`: one task per follower.
    fn start_catch_up(&mut self, id: NodeId, p: i32, follower: NodeId) {
        let started = self
            .replica(id, p)
            .is_some_and(|r| r.catching_up.insert(follower));
        if started {
            self.timer(id, 0, Timer::CatchUp(p, follower));
        }
    }

    fn end_catch_up(&mut self, id: NodeId, p: i32, follower: NodeId, lost: bool) {
        if lost {
            let out = self.step(id, p, Input::FollowerLost { replica: follower });
            self.carry_out(id, p, &out);
        }
        if let Some(r) = self.replica(id, p) {
            r.catching_up.remove(&follower);
        }
        self.observe(id, p);
    }

    /// One turn of `Partition::catch_up`'s loop, up to its send.
    pub(super) fn catch_up(&mut self, id: NodeId, p: i32, follower: NodeId) {
        let now_ms = self.clock_of(id);
        let Some(r) = self.replica(id, p) else {
            return;
        };
        let Some(Sync::CatchingUp { next }) = r.state.follower_sync(follower) else {
            return self.end_catch_up(id, p, follower, false);
        };
        let epoch = r.state.leader_epoch();
        let o = r.state.offsets();
        let durable = r.state.durable_end();
        if next >= durable {
            let out = self.step(
                id,
                p,
                Input::CaughtUpTo {
                    replica: follower,
                    next,
                },
            );
            self.carry_out(id, p, &out);
            return self.end_catch_up(id, p, follower, false);
        }
        let Some(c) = self.follower_conn(id, follower) else {
            return self.end_catch_up(id, p, follower, true);
        };
        let read = self
            .disk(id, p)
            .map(|d| d.read(next, CATCH_UP_BATCHES, durable))
            .unwrap_or_default();
        let (Some(first), Some(last)) = (read.first(), read.last()) else {
            return self.end_catch_up(id, p, follower, false);
        };
        let (first_base, last) = (first.base, last.last);
        if first_base != next {
            return self.end_catch_up(id, p, follower, true);
        }
        if let Some(r) = self.replica(id, p) {
            r.state.sending(follower, now_ms);
        }
        if !self.conn_alive(c) {
            return self.end_catch_up(id, p, follower, true);
        }
        let m = ReplicaMessage::Append {
            topic: self.topic_id,
            partition: p,
            epoch,
            base_offset: next,
            high_watermark: o.high_watermark,
            log_start: 0,
        };
        let positions = self
            .replica(id, p)
            .and_then(|r| r.positions.get(&follower).copied())
            .unwrap_or(0);
        let frame = self.frame(c, p, m, read);
        self.send_frame(id, c, frame);
        // The send waits for room on the connection; now and then that takes a while.
        let after = if self.faults && self.rng.chance(50_000) {
            5 + self.rng.below(50)
        } else {
            self.rng.below(2)
        };
        let sent = Timer::CatchUpSent {
            partition: p,
            follower,
            epoch,
            last,
            positions,
        };
        self.timer(id, after, sent);
    }

    /// The rest of a catch-up turn, once its send went out.
    pub(super) fn catch_up_sent(
        &mut self,
        id: NodeId,
        p: i32,
        follower: NodeId,
        sent: (LeaderEpoch, i64, u64),
    ) {
        let (epoch, last, positions) = sent;
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.state.leader_epoch() != epoch {
            return self.end_catch_up(id, p, follower, false);
        }
        if r.positions.get(&follower).copied().unwrap_or(0) != positions {
            // A newer position overtook the send: what it said holds.
            self.timer(id, 0, Timer::CatchUp(p, follower));
            return;
        }
        let input = Input::CaughtUpTo {
            replica: follower,
            next: last + 1,
        };
        let out = self.step(id, p, input);
        self.carry_out(id, p, &out);
        self.timer(id, 0, Timer::CatchUp(p, follower));
        self.observe(id, p);
    }

    /// `Partition::ack_leader`: a follower acknowledges what its log made durable.
    fn ack_leader(&mut self, id: NodeId, p: i32, durable_end: i64) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.state.role() == Role::Leader {
            return;
        }
        let epoch = r.state.leader_epoch();
        if let Some(c) = r.leader_conn {
            let m = ReplicaMessage::Ack {
                topic: self.topic_id,
                partition: p,
                epoch,
                durable_end,
            };
            let f = self.frame(c, p, m, Vec::new());
            self.try_send(id, c, f);
        }
    }

    /// What a follower says of its log (`Partition::position_message`).
    fn position(&mut self, id: NodeId, p: i32) -> Option<ReplicaMessage> {
        let r = self.replica(id, p)?;
        let (log_end, last_epoch) = r.state.position();
        let durable_end = r.state.durable_end();
        let epoch = r.state.leader_epoch();
        Some(ReplicaMessage::Position {
            topic: self.topic_id,
            partition: p,
            epoch,
            log_end,
            durable_end,
            last_epoch,
            log_start: 0,
        })
    }

    /// A follower says where its log is (`Partition::position_message`).
    fn say_where(&mut self, id: NodeId, p: i32, c: u64) {
        if let Some(m) = self.position(id, p) {
            let f = self.frame(c, p, m, Vec::new());
            self.try_send(id, c, f);
        }
    }

    /// `Partition::cut_locally`: a follower whose own log was cut says where it is now.
    fn cut_locally(&mut self, id: NodeId, p: i32) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.state.role() == Role::Leader {
            return;
        }
        if let Some(c) = r.leader_conn {
            self.say_where(id, p, c);
        }
    }

    /// A frame from `from` (`Partition::deliver`).
    pub(super) fn replica_receive(&mut self, id: NodeId, from: NodeId, frame: Frame) {
        let p = frame.partition;
        let c = frame.conn;
        let now_ms = self.clock_of(id);
        let Some(r) = self.replica(id, p) else {
            return;
        };
        let (role, epoch) = (r.state.role(), r.state.leader_epoch());
        let resyncing = r.resyncing;
        let following = role == Role::Follower { leader: from };
        if self.trace {
            let what = format!(
                "from {from} on {c}: {}",
                show(&frame.message, &frame.batches)
            );
            self.trace_replica(id, p, &what);
        }
        match frame.message {
            ReplicaMessage::Position {
                epoch: e,
                log_end,
                durable_end,
                last_epoch,
                ..
            } if role == Role::Leader && e == epoch => {
                if let Some(r) = self.replica(id, p) {
                    *r.positions.entry(from).or_insert(0) += 1;
                }
                let input = Input::FollowerPosition {
                    replica: from,
                    log_end,
                    durable_end,
                    last_epoch,
                    now_ms,
                };
                let out = self.step(id, p, input);
                self.carry_out(id, p, &out);
            }
            ReplicaMessage::Ack {
                epoch: e,
                durable_end,
                ..
            } if role == Role::Leader && e == epoch => {
                let input = Input::ReplicaProgress {
                    replica: from,
                    durable_end,
                    now_ms,
                };
                let out = self.step(id, p, input);
                self.carry_out(id, p, &out);
            }
            ReplicaMessage::Ping { epoch: e, .. } if following && e == epoch && !resyncing => {
                self.say_where(id, p, c);
            }
            ReplicaMessage::Lead { epoch: e, .. } => {
                if following && e == epoch {
                    if let Some(r) = self.replica(id, p) {
                        r.leader_conn = Some(c);
                    }
                    if !resyncing {
                        self.say_where(id, p, c);
                    }
                } else if e < epoch {
                    let m = ReplicaMessage::Fenced {
                        topic: self.topic_id,
                        partition: p,
                        epoch,
                    };
                    let f = self.frame(c, p, m, Vec::new());
                    self.try_send(id, c, f);
                }
            }
            ReplicaMessage::Truncate {
                epoch: e,
                upto,
                end,
                ..
            } if following && e == epoch && !resyncing => {
                let to = self
                    .replica(id, p)
                    .map_or(end, |r| r.state.agreed_end(upto, end));
                self.truncate_log(id, p, to);
                self.say_where(id, p, c);
            }
            ReplicaMessage::Reset {
                epoch: e, start, ..
            } if following && e == epoch && !resyncing => {
                if let Some(d) = self.disk(id, p) {
                    d.reset(start);
                }
                self.stats.truncations += 1;
                self.log_truncated(id, p, start);
                let out = self.step(id, p, Input::LogStart { start });
                self.carry_out(id, p, &out);
                self.say_where(id, p, c);
            }
            ReplicaMessage::Append {
                epoch: e,
                base_offset,
                high_watermark,
                ..
            } if following && e == epoch && !resyncing => {
                self.take_batches(id, p, c, base_offset, high_watermark, frame.batches);
            }
            _ => {}
        }
        self.observe(id, p);
    }

    /// `Log::truncate_to`: cuts from `offset` (rounded down to a batch start); nothing
    /// happens when that is not below the log end.
    fn truncate_log(&mut self, id: NodeId, p: i32, offset: i64) {
        let Some(d) = self.disk(id, p) else {
            return;
        };
        let offset = offset.max(d.start());
        let cut = d.batch_at(offset).map_or(offset, |b| b.base);
        if cut >= d.end() {
            return;
        }
        let end = d.truncate(cut);
        self.stats.truncations += 1;
        self.trace_replica(id, p, &format!("cut at {end}"));
        self.log_truncated(id, p, end);
    }

    /// The log's `Truncated` event (`Partition::on_log_event`): the state machine rebuilds
    /// what it derived from the cut batches.
    fn log_truncated(&mut self, id: NodeId, p: i32, end: i64) {
        let now_ms = self.clock_of(id);
        self.check.cut(p, id, end);
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get_mut(&p), b.disks.get(&p)) else {
            return;
        };
        r.unpushed.retain(|b| b.last < end);
        let out = r.state.step(Input::Truncated { end });
        r.state.begin_replay();
        for batch in d.batches() {
            r.state.replay(-1, &entry(batch), now_ms);
        }
        self.carry_out(id, p, &out);
        if out.contains(&Output::CheckpointEpochs) {
            self.ensure_checkpointer(id, p);
        }
    }

    /// `Partition::take_batches`: a follower appends batches where its log ends, once its
    /// checkpoint holds any epoch they start.
    fn take_batches(
        &mut self,
        id: NodeId,
        p: i32,
        c: u64,
        base: i64,
        hw: i64,
        batches: Vec<Batch>,
    ) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        let log_end = r.state.offsets().log_end_offset;
        if base > log_end {
            return self.say_where(id, p, c);
        }
        // A resend may start below the log end: what it carries past the end is new.
        let batches: Vec<Batch> = batches.into_iter().filter(|b| b.base >= log_end).collect();
        let base = match batches.first() {
            None => return,
            Some(b) if b.base == log_end => log_end,
            Some(_) => return self.say_where(id, p, c),
        };
        let mut new_epoch = false;
        for batch in &batches {
            new_epoch |= r.state.expect_epoch(batch.epoch, batch.base);
        }
        if new_epoch {
            r.resyncing = true;
            r.held = Some(Held {
                epoch: r.state.leader_epoch(),
                conn: c,
                base,
                high_watermark: hw,
                batches,
            });
            self.carry_out(id, p, &[Output::CheckpointEpochs]);
            self.ensure_checkpointer(id, p);
            return;
        }
        self.append_batches(id, p, hw, batches);
    }

    /// The rest of `Partition::take_batches`: the append, the leader's high watermark, the
    /// flush.
    fn append_batches(&mut self, id: NodeId, p: i32, hw: i64, batches: Vec<Batch>) {
        let now_ms = self.clock_of(id);
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get_mut(&p), b.disks.get_mut(&p)) else {
            return;
        };
        let mut epochs = false;
        for batch in &batches {
            d.append(*batch);
            epochs |= r
                .state
                .on_appended(&header(batch, batch.epoch), &entry(batch), now_ms);
        }
        let mut out = r
            .state
            .step(Input::LeaderHighWatermark { high_watermark: hw });
        if epochs {
            out.push(Output::CheckpointEpochs);
        }
        self.carry_out(id, p, &out);
        if out.contains(&Output::CheckpointEpochs) {
            // A follower's new epoch need not be on disk before its batches.
            self.ensure_checkpointer(id, p);
        }
        self.start_flush(id, p);
        self.maybe_crash_now(id);
    }

    /// `Log::start_flush`: the flusher writes what is pending, a little later.
    fn start_flush(&mut self, id: NodeId, p: i32) {
        let slow = self
            .brokers
            .get(&id)
            .is_some_and(|b| b.slow_disk_until > self.now);
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.flushing {
            return;
        }
        r.flushing = true;
        let after = if slow {
            20 + self.rng.below(200)
        } else {
            1 + self.rng.below(3)
        };
        self.timer(id, after, Timer::Flush(p));
    }

    /// The flusher's write lands: everything pending becomes durable, or, on a full disk,
    /// the log discards what it could not write (`Log::discard_unwritten`).
    pub(super) fn flush(&mut self, id: NodeId, p: i32) {
        let full = self
            .brokers
            .get(&id)
            .is_some_and(|b| b.disk_full_until > self.now);
        let Some(r) = self.replica(id, p) else {
            return;
        };
        r.flushing = false;
        let Some(d) = self.disk(id, p) else {
            return;
        };
        if !d.has_unsynced() {
            return;
        }
        if full {
            let end = d.durable_end();
            d.truncate(end);
            self.trace(|| format!("{id}/p{p} disk full: cut at {end}"));
            self.stats.disk_full += 1;
            self.log_truncated(id, p, end);
            self.cut_locally(id, p);
        } else {
            let end = d.sync();
            let out = self.step(id, p, Input::Durable { end });
            self.ack_leader(id, p, end);
            self.push_durable(id, p, end);
            self.carry_out(id, p, &out);
            if out.contains(&Output::CheckpointEpochs) {
                self.ensure_checkpointer(id, p);
            }
        }
        self.observe(id, p);
    }

    /// `Partition::ensure_checkpointer`: one checkpoint write at a time, until the one on
    /// disk is the latest.
    fn ensure_checkpointer(&mut self, id: NodeId, p: i32) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        if r.checkpoint_writing {
            return;
        }
        if r.epochs_written >= r.epochs_version {
            return self.resume_parked(id, p);
        }
        r.checkpoint_writing = true;
        self.write_checkpoint(id, p);
    }

    fn write_checkpoint(&mut self, id: NodeId, p: i32) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        let version = r.epochs_version;
        let bytes = r.state.epochs().encode();
        let after = 1 + self.rng.below(4);
        let landed = Timer::Checkpoint {
            partition: p,
            version,
            bytes,
        };
        self.timer(id, after, landed);
    }

    /// A checkpoint write landed whole.
    pub(super) fn checkpoint_landed(&mut self, id: NodeId, p: i32, version: u64, bytes: Vec<u8>) {
        if let Some(d) = self.disk(id, p) {
            d.checkpoint = Some(bytes);
        }
        let Some(r) = self.replica(id, p) else {
            return;
        };
        r.epochs_written = r.epochs_written.max(version);
        if r.epochs_written < r.epochs_version {
            return self.write_checkpoint(id, p);
        }
        r.checkpoint_writing = false;
        self.resume_parked(id, p);
        self.resume_held(id, p);
        self.observe(id, p);
    }

    /// A follower's batches of a new epoch, held for its checkpoint, land.
    fn resume_held(&mut self, id: NodeId, p: i32) {
        let Some(r) = self.replica(id, p) else {
            return;
        };
        let Some(h) = r.held.take() else {
            return;
        };
        r.resyncing = false;
        if r.state.leader_epoch() == h.epoch && r.state.offsets().log_end_offset == h.base {
            self.append_batches(id, p, h.high_watermark, h.batches);
            // Frames dropped during the checkpoint write: the leader resumes from here.
            self.say_where(id, p, h.conn);
        }
    }

    fn resume_parked(&mut self, id: NodeId, p: i32) {
        let parked = match self.replica(id, p) {
            Some(r) => std::mem::take(&mut r.parked),
            None => return,
        };
        for req in parked {
            self.append(id, p, req);
        }
    }

    /// The connection to `peer` broke (`Partition::peer_lost`).
    pub(super) fn peer_lost(&mut self, id: NodeId, peer: NodeId) {
        let parts: Vec<i32> = self
            .brokers
            .get(&id)
            .map(|b| b.replicas.keys().copied().collect())
            .unwrap_or_default();
        for p in parts {
            let out = self.step(id, p, Input::FollowerLost { replica: peer });
            self.carry_out(id, p, &out);
            let conn = self.replica(id, p).and_then(|r| r.leader_conn);
            if let Some(c) = conn {
                if self.dialed_by(c, peer) && !self.conn_alive(c) {
                    if let Some(r) = self.replica(id, p) {
                        r.leader_conn = None;
                    }
                }
            }
            self.observe(id, p);
        }
    }

    /// A produce with `acks=all` (`Partition::produce`): it waits for the epoch checkpoint,
    /// checks `min.insync.replicas`, appends, and waits for the high watermark.
    pub(super) fn produce(
        &mut self,
        id: NodeId,
        client: NodeId,
        rid: u64,
        p: i32,
        payload: u64,
        records: i32,
    ) {
        let req = Produce {
            client,
            id: rid,
            payload,
            records,
        };
        let Some(r) = self.replica(id, p) else {
            return self.answer(id, client, rid, Err("unknown partition".into()));
        };
        if r.epochs_written < r.epochs_version {
            r.parked.push(req);
            self.ensure_checkpointer(id, p);
            return;
        }
        self.append(id, p, req);
        self.observe(id, p);
    }

    fn answer(&mut self, id: NodeId, client: NodeId, rid: u64, result: Result<(i64, i64), String>) {
        let m = Rpc::Produced { id: rid, result };
        self.rpc.send(&mut self.rng, self.now, id, client, m);
    }

    /// `Partition::append` for one batch, then the push to live followers.
    fn append(&mut self, id: NodeId, p: i32, req: Produce) {
        let now_ms = self.clock_of(id);
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get_mut(&p), b.disks.get_mut(&p)) else {
            return;
        };
        if let Err(e) = r.state.check_min_isr() {
            return self.answer(id, req.client, req.id, Err(e.to_string()));
        }
        let base = r.state.offsets().log_end_offset;
        let batch = Batch {
            base,
            last: base + i64::from(req.records) - 1,
            epoch: r.state.leader_epoch().0,
            payload: req.payload,
        };
        if let Err(e) = r.state.check_batch(&header(&batch, -1)) {
            return self.answer(id, req.client, req.id, Err(e.to_string()));
        }
        assert_eq!(base, d.end(), "the state machine's log end is the log's");
        d.append(batch);
        r.state
            .on_appended(&header(&batch, -1), &entry(&batch), now_ms);
        r.unpushed.push_back(batch);
        self.trace_replica(id, p, &format!("appended {batch:?}"));
        self.start_flush(id, p);
        self.maybe_crash_now(id);
        if let Some(r) = self.replica(id, p) {
            let epoch = r.state.leader_epoch();
            r.waiting.push(Waiter {
                client: req.client,
                id: req.id,
                batch,
                epoch,
                durable: false,
            });
        }
    }

    /// After every event at a replica: the invariants, then the produces it may answer
    /// (what `Partition::wake` lets the waiters find out).
    pub(super) fn observe(&mut self, id: NodeId, p: i32) {
        let Some(b) = self.brokers.get(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get(&p), b.disks.get(&p)) else {
            return;
        };
        let grew = self.check.observe_replica(p, id, &r.state, d, b.serving);
        if grew {
            let isr = r.state.assignment().isr.clone();
            let disks = disks_of(&self.brokers);
            let image = self.controller.image().clone();
            self.check.check_replicated(p, id, &isr, &disks);
            self.check.check_electable(&image, &disks);
        }
        self.settle(id, p);
    }

    /// Answers the produces whose wait is over (`Log::commit`, then
    /// `Partition::wait_for_high_watermark` and the last `min.insync.replicas` check).
    fn settle(&mut self, id: NodeId, p: i32) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let (Some(r), Some(d)) = (b.replicas.get_mut(&p), b.disks.get(&p)) else {
            return;
        };
        let mut answers = Vec::new();
        r.waiting.retain_mut(|w| {
            if !w.durable {
                if d.batch_at(w.batch.base) != Some(&w.batch) {
                    answers.push((*w, Err("discarded".to_string())));
                    return false;
                }
                if d.durable_end() <= w.batch.last {
                    return true;
                }
                w.durable = true;
            }
            let offset = w.batch.end();
            let st = &r.state;
            let result = if st.leader_epoch() != w.epoch || st.check_leader().is_err() {
                Err("not leader".to_string())
            } else if st.offsets().high_watermark >= offset {
                match st.check_min_isr() {
                    Ok(()) => Ok((w.batch.base, w.batch.last)),
                    Err(e) => Err(format!("{e} after the append")),
                }
            } else if st.offsets().log_end_offset < offset {
                Err("discarded".to_string())
            } else {
                return true;
            };
            answers.push((*w, result));
            false
        });
        for (w, result) in answers {
            self.trace_replica(id, p, &format!("answers {:?}: {result:?}", w.batch));
            if result.is_ok() {
                self.check.acked(p, w.batch);
            }
            self.answer(id, w.client, w.id, result);
        }
    }
}
