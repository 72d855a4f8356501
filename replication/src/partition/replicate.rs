//! What a partition's leader and followers tell each other, on the partition's shard.
//!
//! Leader: it asks each follower where its log is (`Lead`, again while the follower has not
//! answered), has it cut what diverged (`Truncate`, `Reset`), catches it up from the durable
//! part of its own log (a task per follower, waiting for room on the connection), then
//! pushes every batch as its own log makes it durable (`Append`, pipelined, not waiting for
//! the previous acknowledgement). A follower never holds what the leader could still lose:
//! a leader that discards what it could not write (a full disk) takes other batches at
//! those offsets in the same epoch, which no follower may have taken for the lost ones.
//! Acknowledgements (`Ack`) move the high watermark; the ISR changes through the controller.
//!
//! Follower: it answers only the leader its metadata names, at that leader's epoch; it takes
//! a batch only where its log ends, appends it as it is (the leader's offsets and epoch),
//! makes it durable under its own flush policy, and acknowledges what is durable.

use super::followers::Sync;
use super::shell::Partition;
use super::state::{Input, Output, Role};
use crate::replica::net::{Conn, OutFrame};
use crate::replica::wire::ReplicaMessage;
use crate::types::{LeaderEpoch, NodeId};
use bytes::Bytes;
use myelin_storage::AppendMode;
use std::rc::Rc;

/// How often a leader asks a follower that has not said where it is.
const LEAD_RETRY_MS: i64 = 300;

/// Bytes a catch-up read takes from the log at a time.
const CATCH_UP_READ_BYTES: usize = 1 << 20;

impl Partition {
    fn env_follower(&self, follower: NodeId) -> Option<Rc<Conn>> {
        let env = self.env.borrow().clone()?;
        env.follower(follower)
    }

    fn message_lead(&self, epoch: LeaderEpoch) -> ReplicaMessage {
        ReplicaMessage::Lead {
            topic: self.topic_id,
            partition: self.index,
            epoch,
        }
    }

    /// Leader: asks every follower that has not said where it is (at most every
    /// [`LEAD_RETRY_MS`] each).
    pub(super) fn announce(&self, now_ms: i64) {
        let (replicas, epoch, unknown) = {
            let st = self.state.borrow();
            if st.role() != Role::Leader {
                return;
            }
            let me = st.local();
            let replicas: Vec<NodeId> = st
                .assignment()
                .replicas
                .iter()
                .copied()
                .filter(|r| *r != me)
                .collect();
            let unknown: Vec<NodeId> = replicas
                .iter()
                .copied()
                .filter(|r| st.follower_sync(*r).is_none_or(|s| s == Sync::Unknown))
                .collect();
            (replicas, st.leader_epoch(), unknown)
        };
        if replicas.is_empty() {
            return;
        }
        for r in unknown {
            let last = self.lead_sent_ms.borrow().get(&r).copied();
            if last.is_some_and(|t| now_ms - t < LEAD_RETRY_MS) {
                continue;
            }
            if let Some(conn) = self.env_follower(r) {
                if conn.try_send(OutFrame::new(&self.message_lead(epoch), Vec::new())) {
                    self.lead_sent_ms.borrow_mut().insert(r, now_ms);
                }
            }
        }
    }

    /// Periodic work of a replicated partition: the ISR check, asking silent followers, and
    /// catching up followers that wait for it.
    pub fn replication_tick(&self) {
        let now = self.clock.now_ms();
        let out = self.state.borrow_mut().step(Input::Tick { now_ms: now });
        self.carry_out(&out);
        self.announce(now);
        let waiting = self.state.borrow().catching_up();
        for (r, _) in waiting {
            self.start_catch_up(r);
        }
    }

    /// Leader: the log made everything below `end` durable: the batches appended below it
    /// go to the followers that take them live, and followers catching up may read further.
    pub(super) fn push_durable(&self, end: i64) {
        let (epoch, leading) = {
            let st = self.state.borrow();
            (st.leader_epoch(), st.role() == Role::Leader)
        };
        if !leading {
            self.unpushed.borrow_mut().clear();
            return;
        }
        loop {
            let next = {
                let mut unpushed = self.unpushed.borrow_mut();
                match unpushed.front() {
                    Some(u) if u.last < end => unpushed.pop_front(),
                    _ => None,
                }
            };
            let Some(u) = next else { break };
            let now = self.clock.now_ms();
            let (targets, hw) = {
                let mut st = self.state.borrow_mut();
                let targets = st.push_targets(u.base, u.last, now);
                (targets, st.offsets().high_watermark)
            };
            self.push(&targets, epoch, u.base, hw, u.stored);
        }
        let waiting = self.state.borrow().catching_up();
        for (r, _) in waiting {
            self.start_catch_up(r);
        }
    }

    /// Leader: sends batches just made durable to the followers that take them live; one
    /// that cannot take them now catches up from the log instead.
    pub(super) fn push(
        &self,
        targets: &[NodeId],
        epoch: LeaderEpoch,
        base: i64,
        high_watermark: i64,
        stored: Vec<Bytes>,
    ) {
        if targets.is_empty() {
            return;
        }
        let frame = OutFrame::new(
            &ReplicaMessage::Append {
                topic: self.topic_id,
                partition: self.index,
                epoch,
                base_offset: base,
                high_watermark,
                log_start: self.log.offsets().log_start_offset,
            },
            stored,
        );
        let bytes = frame.records_len();
        for r in targets {
            let sent = self
                .env_follower(*r)
                .is_some_and(|c| c.try_send(frame.clone()));
            if sent {
                myelin_metrics::record(|m| m.replication_bytes_out.add(bytes));
            }
            if !sent {
                let out = self.state.borrow_mut().step(Input::FellBehind {
                    replica: *r,
                    next: base,
                });
                self.carry_out(&out);
                self.start_catch_up(*r);
            }
        }
    }

    /// Carries out a replication output of the state machine.
    pub(super) fn replication_output(&self, o: &Output) {
        let epoch = self.state.borrow().leader_epoch();
        match o {
            Output::TruncateFollower {
                replica,
                epoch: upto,
                end,
            } => {
                let m = ReplicaMessage::Truncate {
                    topic: self.topic_id,
                    partition: self.index,
                    epoch,
                    upto: *upto,
                    end: *end,
                };
                self.send_to(*replica, m);
            }
            Output::ResetFollower { replica, start } => {
                let m = ReplicaMessage::Reset {
                    topic: self.topic_id,
                    partition: self.index,
                    epoch,
                    start: *start,
                };
                self.send_to(*replica, m);
            }
            Output::SyncFollower { replica, .. } => self.start_catch_up(*replica),
            Output::PingFollower { replica } => self.ping(*replica, epoch),
            Output::AlterIsr {
                isr,
                leader_epoch,
                partition_epoch,
            } => {
                let env = self.env.borrow().clone();
                if let Some(env) = env {
                    let now_in = self.state.borrow().assignment().isr.len();
                    myelin_metrics::record(|m| {
                        if isr.len() < now_in {
                            m.isr_shrinks.add(1);
                        } else if isr.len() > now_in {
                            m.isr_expands.add(1);
                        }
                    });
                    env.alter_isr(isr.clone(), *leader_epoch, *partition_epoch);
                }
            }
            Output::HighWatermark(_) | Output::CheckpointEpochs | Output::RoleChanged => {}
        }
    }

    fn ping(&self, replica: NodeId, epoch: LeaderEpoch) {
        let m = ReplicaMessage::Ping {
            topic: self.topic_id,
            partition: self.index,
            epoch,
            log_start: self.log.offsets().log_start_offset,
        };
        self.send_to(replica, m);
    }

    /// Leader: the log start offset moved (DeleteRecords): every follower hears it now, not
    /// at its next batch (an idle partition sends none). One that misses it hears it with
    /// the next `Append` or `Ping`.
    pub(super) fn announce_log_start(&self) {
        let (replicas, epoch) = {
            let st = self.state.borrow();
            if st.role() != Role::Leader {
                return;
            }
            let me = st.local();
            let replicas: Vec<NodeId> = st
                .assignment()
                .replicas
                .iter()
                .copied()
                .filter(|r| *r != me)
                .collect();
            (replicas, st.leader_epoch())
        };
        for r in replicas {
            if let Some(conn) = self.env_follower(r) {
                let m = ReplicaMessage::Ping {
                    topic: self.topic_id,
                    partition: self.index,
                    epoch,
                    log_start: self.log.offsets().log_start_offset,
                };
                conn.try_send(OutFrame::new(&m, Vec::new()));
            }
        }
    }

    /// Follower: the leader's log starts at `start`; this log follows as far as it holds
    /// (one that ends before it is reset by the leader instead, see `Reset`).
    async fn follow_log_start(&self, start: i64) {
        if start <= self.log.offsets().log_start_offset {
            return;
        }
        match self.log.advance_start(start).await {
            Ok(now) => self.log_start_moved(now),
            Err(e) => tracing::warn!(
                topic = self.topic,
                partition = self.index,
                "following the leader's log start {start}: {e}"
            ),
        }
    }

    fn send_to(&self, replica: NodeId, m: ReplicaMessage) {
        let sent = self
            .env_follower(replica)
            .is_some_and(|c| c.try_send(OutFrame::new(&m, Vec::new())));
        if !sent {
            let out = self
                .state
                .borrow_mut()
                .step(Input::FollowerLost { replica });
            self.carry_out(&out);
        }
    }

    /// Leader: a task that sends `replica` this log from where it is until it has caught
    /// up, unless one runs.
    fn start_catch_up(&self, replica: NodeId) {
        if !self.catching_up.borrow_mut().insert(replica) {
            return;
        }
        let me = self.me.borrow().clone();
        glommio::spawn_local(async move {
            if let Some(p) = me.upgrade() {
                p.catch_up(replica).await;
                p.catching_up.borrow_mut().remove(&replica);
            }
        })
        .detach();
    }

    async fn catch_up(&self, replica: NodeId) {
        loop {
            // Only what this log made durable is sent (see the module docs).
            let (next, epoch, durable, hw) = {
                let st = self.state.borrow();
                let Some(Sync::CatchingUp { next }) = st.follower_sync(replica) else {
                    return;
                };
                let o = st.offsets();
                (next, st.leader_epoch(), st.durable_end(), o.high_watermark)
            };
            if next >= durable {
                let out = self
                    .state
                    .borrow_mut()
                    .step(Input::CaughtUpTo { replica, next });
                self.carry_out(&out);
                return;
            }
            let Some(conn) = self.env_follower(replica) else {
                let out = self
                    .state
                    .borrow_mut()
                    .step(Input::FollowerLost { replica });
                self.carry_out(&out);
                return;
            };
            let read = match self.log.read_upto(next, CATCH_UP_READ_BYTES, durable).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        topic = self.topic,
                        partition = self.index,
                        "catch-up read: {e}"
                    );
                    let out = self
                        .state
                        .borrow_mut()
                        .step(Input::FollowerLost { replica });
                    self.carry_out(&out);
                    return;
                }
            };
            let Some(last) = read.last_offset else {
                return;
            };
            // The read may start inside a batch only if the follower's end is not a batch
            // boundary here; it is (positions are agreed first), so the first batch starts at
            // `next`.
            let first_base = read
                .batches
                .first()
                .and_then(|b| myelin_storage::batch::BatchHeader::parse(b).ok())
                .map_or(next, |h| h.base_offset);
            if first_base != next {
                let out = self
                    .state
                    .borrow_mut()
                    .step(Input::FollowerLost { replica });
                self.carry_out(&out);
                return;
            }
            self.state
                .borrow_mut()
                .sending(replica, self.clock.now_ms());
            let positions = self.positions_of(replica);
            let frame = OutFrame::new(
                &ReplicaMessage::Append {
                    topic: self.topic_id,
                    partition: self.index,
                    epoch,
                    base_offset: next,
                    high_watermark: hw,
                    log_start: read.log_start_offset,
                },
                read.batches,
            );
            let bytes = frame.records_len();
            if conn.send(frame).await {
                myelin_metrics::record(|m| m.replication_bytes_out.add(bytes));
            } else {
                let out = self
                    .state
                    .borrow_mut()
                    .step(Input::FollowerLost { replica });
                self.carry_out(&out);
                return;
            }
            if self.state.borrow().leader_epoch() != epoch {
                return;
            }
            if self.positions_of(replica) != positions {
                // The follower said where it is while this went out: it may have lost it
                // (a full disk), so what it said holds, not what was sent.
                continue;
            }
            let out = self.state.borrow_mut().step(Input::CaughtUpTo {
                replica,
                next: last + 1,
            });
            self.carry_out(&out);
        }
    }

    /// How many positions `replica` has sent this leader.
    fn positions_of(&self, replica: NodeId) -> u64 {
        self.positions.borrow().get(&replica).copied().unwrap_or(0)
    }

    /// Follower: acknowledges what its log made durable to the leader.
    pub(super) fn ack_leader(&self, durable_end: i64) {
        let (role, epoch) = {
            let st = self.state.borrow();
            (st.role(), st.leader_epoch())
        };
        if role == Role::Leader {
            return;
        }
        let conn = self.leader_conn.borrow().clone();
        if let Some(c) = conn {
            self.send_ack(&c, epoch, durable_end);
        }
    }

    /// Follower: tells the leader on `conn` where this log ends.
    fn send_position(&self, conn: &Conn) {
        conn.try_send(OutFrame::new(&self.position_message(), Vec::new()));
    }

    fn send_ack(&self, conn: &Conn, epoch: LeaderEpoch, durable_end: i64) {
        let m = ReplicaMessage::Ack {
            topic: self.topic_id,
            partition: self.index,
            epoch,
            durable_end,
        };
        conn.try_send(OutFrame::new(&m, Vec::new()));
    }

    /// Follower: its own log was cut (a full disk discarded what it could not write): the
    /// leader, which believes it sent those batches, must learn where the log ends now, or
    /// the follower waits for a batch that is never sent again (an idle partition sends
    /// none). A cut the leader asked for is answered once it is done (`resync`).
    pub(super) fn cut_locally(&self) {
        if self.state.borrow().role() == Role::Leader || self.resyncing.get() {
            return;
        }
        let conn = self.leader_conn.borrow().clone();
        if let Some(c) = conn {
            self.send_position(&c);
        }
    }

    fn position_message(&self) -> ReplicaMessage {
        let st = self.state.borrow();
        let (log_end, last_epoch) = st.position();
        ReplicaMessage::Position {
            topic: self.topic_id,
            partition: self.index,
            epoch: st.leader_epoch(),
            log_end,
            durable_end: st.durable_end(),
            last_epoch,
            log_start: st.offsets().log_start_offset,
        }
    }

    /// A message from `from` about this partition.
    pub async fn deliver(
        &self,
        from: NodeId,
        message: ReplicaMessage,
        records: Bytes,
        conn: Rc<Conn>,
    ) {
        let (role, epoch) = {
            let st = self.state.borrow();
            (st.role(), st.leader_epoch())
        };
        let now = self.clock.now_ms();
        match message {
            // Leader side.
            ReplicaMessage::Position {
                epoch: e,
                log_end,
                durable_end,
                last_epoch,
                log_start,
                ..
            } if role == Role::Leader && e == epoch => {
                *self.positions.borrow_mut().entry(from).or_insert(0) += 1;
                self.follower_log_starts
                    .borrow_mut()
                    .insert(from, log_start);
                // A DeleteRecords may be waiting for this follower's log start.
                self.wake();
                let out = self.state.borrow_mut().step(Input::FollowerPosition {
                    replica: from,
                    log_end,
                    durable_end,
                    last_epoch,
                    now_ms: now,
                });
                self.carry_out(&out);
            }
            ReplicaMessage::Ack {
                epoch: e,
                durable_end,
                ..
            } if role == Role::Leader && e == epoch => {
                let out = self.state.borrow_mut().step(Input::ReplicaProgress {
                    replica: from,
                    durable_end,
                    now_ms: now,
                });
                self.carry_out(&out);
            }
            ReplicaMessage::Fenced { epoch: e, .. } if role == Role::Leader => {
                tracing::info!(
                    topic = self.topic,
                    partition = self.index,
                    follower = from.0,
                    follower_epoch = e.0,
                    epoch = epoch.0,
                    "a follower knows a newer leader epoch"
                );
            }
            // Follower side: only from the leader the metadata names, at its epoch.
            ReplicaMessage::Ping {
                epoch: e,
                log_start,
                ..
            } if role == (Role::Follower { leader: from })
                && e == epoch
                && !self.resyncing.get() =>
            {
                self.follow_log_start(log_start).await;
                // Where the log ends, not only how far it is durable: a follower that lost
                // batches the leader counts as sent (a full disk discarded them, and what
                // said so was lost) is caught up again, where an acknowledgement would leave
                // it waiting for batches that are never resent.
                self.send_position(&conn);
            }
            ReplicaMessage::Lead { epoch: e, .. } => {
                if role == (Role::Follower { leader: from }) && e == epoch {
                    *self.leader_conn.borrow_mut() = Some(conn.clone());
                    if !self.resyncing.get() {
                        self.send_position(&conn);
                    }
                } else if e < epoch {
                    let m = ReplicaMessage::Fenced {
                        topic: self.topic_id,
                        partition: self.index,
                        epoch,
                    };
                    conn.try_send(OutFrame::new(&m, Vec::new()));
                }
                // A newer epoch than this replica knows: its metadata is behind; the
                // leader asks again.
            }
            ReplicaMessage::Truncate {
                epoch: e,
                upto,
                end,
                ..
            } if role == (Role::Follower { leader: from }) && e == epoch => {
                let to = self.state.borrow().agreed_end(upto, end);
                self.resync(&conn, async {
                    self.log.truncate_to(to).await.map_err(|e| e.to_string())
                })
                .await;
            }
            ReplicaMessage::Reset {
                epoch: e, start, ..
            } if role == (Role::Follower { leader: from }) && e == epoch => {
                self.resync(&conn, async {
                    self.log.reset_to(start).await.map_err(|e| e.to_string())?;
                    let out = self.state.borrow_mut().step(Input::LogStart { start });
                    self.carry_out(&out);
                    Ok(())
                })
                .await;
            }
            ReplicaMessage::Append {
                epoch: e,
                base_offset,
                high_watermark,
                log_start,
                ..
            } if role == (Role::Follower { leader: from }) && e == epoch => {
                if self.resyncing.get() {
                    return;
                }
                self.take_batches(&conn, base_offset, high_watermark, records)
                    .await;
                self.follow_log_start(log_start).await;
            }
            _ => {}
        }
    }

    /// Follower: cuts or resets the log, then says where it is again.
    async fn resync(
        &self,
        conn: &Rc<Conn>,
        work: impl std::future::Future<Output = Result<(), String>>,
    ) {
        if self.resyncing.replace(true) {
            return;
        }
        let result = work.await;
        self.resyncing.set(false);
        match result {
            Ok(()) => {
                self.send_position(conn);
            }
            Err(e) => {
                tracing::error!(
                    topic = self.topic,
                    partition = self.index,
                    "cutting the replica failed: {e}"
                );
            }
        }
    }

    /// Follower: appends batches from the leader where the log ends (else says where it
    /// is, so the leader resumes from there).
    ///
    /// Batches of an epoch new here land only once the epoch checkpoint holds it, as Kafka
    /// writes its epoch cache before the append: a replica that restarts with batches its
    /// checkpoint does not know would, leading, tell the others wrongly where epochs end,
    /// and they would keep what diverged. Meanwhile frames from the leader are dropped, as
    /// during a cut, and the follower says where its log ends once the batches are in.
    async fn take_batches(&self, conn: &Rc<Conn>, base: i64, high_watermark: i64, records: Bytes) {
        let log_end = self.state.borrow().offsets().log_end_offset;
        if base > log_end {
            self.send_position(conn);
            return;
        }
        let limit = myelin_storage::limits::BATCH_BYTES_MAX;
        let batches = match myelin_storage::batch::split_batches(records, limit) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(
                    topic = self.topic,
                    partition = self.index,
                    "bad batch from the leader: {e}"
                );
                return;
            }
        };
        // A resend may start below the log end (a catch-up restarted while an earlier one
        // was on its way): what it carries past the end is still new, and the leader counts
        // it sent. The batches below are the ones this log took from this leader already.
        let batches: Vec<_> = batches
            .into_iter()
            .filter(|(h, _)| h.base_offset >= log_end)
            .collect();
        let base = match batches.first() {
            None => return,
            Some((h, _)) if h.base_offset == log_end => log_end,
            // A batch across the log end: not the batches this log holds.
            Some(_) => {
                self.send_position(conn);
                return;
            }
        };
        let new_epoch = {
            let mut st = self.state.borrow_mut();
            let mut changed = false;
            for (h, _) in &batches {
                changed |= st.expect_epoch(h.partition_leader_epoch, h.base_offset);
            }
            changed
        };
        if new_epoch {
            let epoch = self.state.borrow().leader_epoch();
            self.carry_out(&[Output::CheckpointEpochs]);
            self.resyncing.set(true);
            let written = self.epochs_durable().await;
            self.resyncing.set(false);
            if let Err(e) = written {
                tracing::error!(
                    topic = self.topic,
                    partition = self.index,
                    "leader-epoch checkpoint failed: {e}"
                );
                return;
            }
            let st = self.state.borrow();
            if st.leader_epoch() != epoch || st.offsets().log_end_offset != base {
                // Another leader, or another log end, since: the batches are stale.
                return;
            }
        }
        let now = self.clock.now_ms();
        let appended = {
            let mut st = self.state.borrow_mut();
            match self.log.append(&batches, AppendMode::Replica) {
                Ok((_, entries)) => {
                    let bytes: usize = batches.iter().map(|(_, b)| b.len()).sum();
                    myelin_metrics::record(|m| m.replication_bytes_in.add(bytes as u64));
                    let mut epochs = false;
                    for ((e, _), (h, _)) in entries.iter().zip(batches.iter()) {
                        epochs |= st.on_appended(h, e, now);
                    }
                    let mut out = st.step(Input::LeaderHighWatermark { high_watermark });
                    if epochs {
                        out.push(Output::CheckpointEpochs);
                    }
                    Ok(out)
                }
                Err(e) => Err(e),
            }
        };
        match appended {
            Ok(out) => {
                self.carry_out(&out);
                if out.contains(&Output::CheckpointEpochs) {
                    self.checkpoint_soon();
                }
                self.log.start_flush();
                if new_epoch {
                    // Frames dropped during the checkpoint write: the leader resumes from
                    // where this log ends now.
                    self.send_position(conn);
                }
            }
            Err(e) => {
                tracing::warn!(
                    topic = self.topic,
                    partition = self.index,
                    "replica append refused: {e}"
                );
                self.send_position(conn);
            }
        }
    }

    /// The connection to `peer` broke: followers on it must say where they are again.
    pub fn peer_lost(&self, peer: NodeId) {
        let out = self
            .state
            .borrow_mut()
            .step(Input::FollowerLost { replica: peer });
        self.carry_out(&out);
        let leader_gone = self
            .leader_conn
            .borrow()
            .as_ref()
            .is_some_and(|c| c.peer() == peer && c.is_dead());
        if leader_gone {
            self.leader_conn.borrow_mut().take();
        }
    }

    /// Whether this replica has other replicas to talk to.
    pub fn is_replicated(&self) -> bool {
        self.state.borrow().assignment().replicas.len() > 1
    }
}
