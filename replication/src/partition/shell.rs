//! The glommio shell of one partition replica: it owns the partition's [`Log`] and its
//! [`PartitionState`], carries out what the state machine asks for (checkpoint the epoch
//! cache, wake waiters), and offers the operations the shard's typed API exposes: produce,
//! read, wait for data, offsets, housekeeping.
//!
//! A `Partition` belongs to the shard that owns it; nothing here is `Send`. The log tells
//! the shell what became durable or was cut through its listener; the shell feeds that to
//! the state machine, which moves the high watermark. What a leader and its followers tell
//! each other is handled in `replicate.rs`.

use super::epochs::{EpochCache, CHECKPOINT_FILE};
use super::producer::SeqCheck;
use super::state::{
    Assignment, Input, Output, PartitionOffsets, PartitionState, ReplicationConfig,
};
use super::txn::AbortedTxn;
use crate::clock::Clock;
use crate::error::PartitionError;
use crate::replica::net::Conn;
use crate::types::{LeaderEpoch, NodeId, TopicId};
use bytes::Bytes;
use futures::channel::oneshot;
use myelin_storage::batch::BatchHeader;
use myelin_storage::{AppendMode, Log, LogConfig, LogEvent, StorageError};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Waiters kept before the closed ones are swept out.
const WAITERS_SWEEP_AT: usize = 1024;

/// How a produce is acknowledged (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0` or `acks=1`: once the leader's own log has the batches durably.
    Leader,
    /// `acks=all`: once the high watermark passes them.
    All,
}

/// Where a produce landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Offset of the first record (the original one for a retried batch).
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp for `LogAppendTime` topics, otherwise -1.
    pub log_append_time_ms: i64,
    /// The log start offset when it was appended.
    pub log_start_offset: i64,
}

/// Who reads a partition through [`Partition::read`]: only a consumer's read is a fetch
/// that the durable→first-fetch latency (`durable_to_fetch`) measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A Kafka consumer's Fetch.
    Consumer,
    /// Anyone else: a follower's Fetch, the console's message browser, a debugging
    /// consumer. What it reads still counts as unfetched for the next consumer.
    Other,
}

/// What a consumer's read returns.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Whole batches from the one holding the offset asked for.
    pub batches: Vec<Bytes>,
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Last stable offset at the time of the read.
    pub last_stable_offset: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// For `read_committed`: aborted transactions overlapping the batches returned.
    pub aborted: Vec<AbortedTxn>,
}

/// What a partition replica needs from the node around it: connections to its followers'
/// replicas, and the controller.
pub trait ReplicaEnv {
    /// The connection to `follower`'s replica of this partition; `None` while there is
    /// none (it is being dialed).
    fn follower(&self, follower: NodeId) -> Option<Rc<Conn>>;
    /// Asks the controller for an ISR change (AlterPartition); the outcome arrives with
    /// the metadata.
    fn alter_isr(&self, isr: Vec<NodeId>, leader_epoch: LeaderEpoch, partition_epoch: i32);
}

/// One partition replica on its shard.
pub struct Partition {
    pub(super) topic: String,
    pub(super) topic_id: TopicId,
    pub(super) index: i32,
    pub(super) log: Rc<Log>,
    pub(super) state: RefCell<PartitionState>,
    pub(super) clock: Rc<dyn Clock>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Versions of the epoch cache: the latest, and the latest known to be checkpointed.
    /// A leader appends at a new epoch only once its start is on disk.
    epochs_version: Cell<u64>,
    epochs_written: Cell<u64>,
    checkpoint_lock: glommio::sync::Semaphore,
    /// This partition, for tasks it starts.
    pub(super) me: RefCell<Weak<Partition>>,
    /// Connections and the controller, once the node has set them.
    pub(super) env: RefCell<Option<Rc<dyn ReplicaEnv>>>,
    /// A follower's connection from its current leader (answers go back on it).
    pub(super) leader_conn: RefCell<Option<Rc<Conn>>>,
    /// A follower is cutting or resetting its log: batches are not taken meanwhile.
    pub(super) resyncing: Cell<bool>,
    /// A leader's followers being caught up from its log by a task.
    pub(super) catching_up: RefCell<HashSet<NodeId>>,
    /// When a leader last asked each follower where it is.
    pub(super) lead_sent_ms: RefCell<HashMap<NodeId, i64>>,
    /// A leader's batches appended and not yet durable, in order: they are pushed to live
    /// followers once the log makes them durable.
    pub(super) unpushed: RefCell<VecDeque<Unpushed>>,
    /// How many positions each follower has sent: a catch-up send overtaken by a newer
    /// position does not count as received.
    pub(super) positions: RefCell<HashMap<NodeId, u64>>,
    /// Where each follower's log starts, as it last said (a leader's DeleteRecords waits
    /// for its in-sync followers to pass the new start, as Kafka's low watermark does).
    pub(super) follower_log_starts: RefCell<HashMap<NodeId, i64>>,
    /// When recent batches became durable, for the durable-to-first-fetch latency.
    tailing: super::tailing::Tailing,
}

/// Batches a leader appended, waiting to be durable before they are pushed.
pub(super) struct Unpushed {
    /// First offset.
    pub(super) base: i64,
    /// Last offset.
    pub(super) last: i64,
    /// The batches as stored.
    pub(super) stored: Vec<Bytes>,
}

impl Partition {
    /// Opens (and recovers) the log in `dir` and sets up the replica on `local` with its
    /// assignment from cluster metadata.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        topic: &str,
        topic_id: TopicId,
        index: i32,
        dir: PathBuf,
        config: LogConfig,
        local: NodeId,
        assignment: Assignment,
        clock: Rc<dyn Clock>,
    ) -> Result<Rc<Partition>, PartitionError> {
        let log = Rc::new(Log::open(dir, config).await?);
        Self::with_log(topic, topic_id, index, log, local, assignment, clock).await
    }

    /// Sets up the replica over an open log (tests open logs on a simulated disk).
    pub async fn with_log(
        topic: &str,
        topic_id: TopicId,
        index: i32,
        log: Rc<Log>,
        local: NodeId,
        assignment: Assignment,
        clock: Rc<dyn Clock>,
    ) -> Result<Rc<Partition>, PartitionError> {
        let stored = log.read_side_file(CHECKPOINT_FILE).await?;
        let epochs = match stored.as_deref().map(EpochCache::decode) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                tracing::warn!(dir = %log.dir().display(), "{e}; starting a new one");
                EpochCache::default()
            }
            None => EpochCache::default(),
        };
        let offsets = log.offsets();
        // `min.insync.replicas` travels with the log's config; the rest comes with
        // `configure`.
        let config = ReplicationConfig {
            min_insync_replicas: log.config().min_insync_replicas.max(1) as usize,
            ..ReplicationConfig::default()
        };
        let mut state = PartitionState::new(
            local,
            assignment,
            offsets.log_start_offset,
            offsets.log_end_offset,
            epochs.clone(),
            config,
        );
        let now = clock.now_ms();
        state.begin_replay();
        log.for_each_entry(|e| {
            state.replay(-1, e, now);
        });
        let changed = state.epochs() != &epochs;
        let p = Rc::new(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            log: log.clone(),
            state: RefCell::new(state),
            clock,
            waiters: RefCell::new(Vec::new()),
            epochs_version: Cell::new(u64::from(changed)),
            epochs_written: Cell::new(0),
            checkpoint_lock: glommio::sync::Semaphore::new(1),
            me: RefCell::new(Weak::new()),
            env: RefCell::new(None),
            leader_conn: RefCell::new(None),
            resyncing: Cell::new(false),
            catching_up: RefCell::new(HashSet::new()),
            lead_sent_ms: RefCell::new(HashMap::new()),
            unpushed: RefCell::new(VecDeque::new()),
            positions: RefCell::new(HashMap::new()),
            follower_log_starts: RefCell::new(HashMap::new()),
            tailing: Default::default(),
        });
        let weak: Weak<Partition> = Rc::downgrade(&p);
        *p.me.borrow_mut() = weak.clone();
        log.set_listener(Box::new(move |event| {
            if let Some(p) = weak.upgrade() {
                p.on_log_event(event);
            }
        }));
        if changed {
            p.write_checkpoint().await?;
        }
        Ok(p)
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The topic id.
    pub fn topic_id(&self) -> TopicId {
        self.topic_id
    }

    /// Sets the connections and controller access a replicated partition uses.
    pub fn set_env(&self, env: Rc<dyn ReplicaEnv>) {
        *self.env.borrow_mut() = Some(env);
    }

    /// Sets `min.insync.replicas` and `replica.lag.time.max.ms`.
    pub fn configure(&self, config: ReplicationConfig) {
        if self.state.borrow().config() != config {
            let out = self.state.borrow_mut().step(Input::Configure(config));
            self.carry_out(&out);
        }
    }

    /// The directory holding the partition's files.
    pub fn dir(&self) -> &std::path::Path {
        self.log.dir()
    }

    /// Offsets as clients see them.
    pub fn offsets(&self) -> PartitionOffsets {
        self.state.borrow().offsets()
    }

    /// The idempotent and transactional producers this replica remembers (a leader's or a
    /// follower's: both rebuild them from the same log), for DescribeProducers.
    pub fn active_producers(&self) -> Vec<super::producer::ActiveProducer> {
        self.state.borrow().active_producers()
    }

    /// The leader epoch.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.state.borrow().leader_epoch()
    }

    /// The leader epoch this replica leads in, or `None` while it follows.
    pub fn leading(&self) -> Option<LeaderEpoch> {
        let st = self.state.borrow();
        st.check_leader().ok().map(|()| st.leader_epoch())
    }

    /// The current assignment.
    pub fn assignment(&self) -> Assignment {
        self.state.borrow().assignment().clone()
    }

    /// OffsetForLeaderEpoch: the end of `epoch` in this replica's log.
    pub fn end_offset_for(
        &self,
        epoch: LeaderEpoch,
    ) -> Result<Option<(LeaderEpoch, i64)>, PartitionError> {
        let st = self.state.borrow();
        st.check_leader()?;
        Ok(st.end_offset_for(epoch))
    }

    /// Applies a new assignment from cluster metadata. A new epoch's entry in the epoch cache
    /// is written before the first append at that epoch (see [`Partition::produce`]), so
    /// a leadership change costs no write until data arrives.
    pub fn assign(&self, assignment: Assignment) {
        let out = self.state.borrow_mut().step(Input::Assign(assignment));
        if out.contains(&Output::RoleChanged) {
            self.leader_conn.borrow_mut().take();
            self.lead_sent_ms.borrow_mut().clear();
            self.follower_log_starts.borrow_mut().clear();
            self.unpushed.borrow_mut().clear();
        }
        self.carry_out(&out);
        if out.contains(&Output::RoleChanged) {
            // A new leader asks its followers where they are at once.
            self.announce(self.clock.now_ms());
        }
    }

    /// Replaces the log's configuration (a topic config change).
    pub fn set_config(&self, config: LogConfig) {
        if self.log.config() != config {
            self.log.set_config(config);
        }
    }

    fn on_log_event(&self, event: LogEvent) {
        let cut = matches!(event, LogEvent::Truncated { .. });
        let out = match event {
            LogEvent::Durable { end } => {
                // Only a leader's batches are fetched by consumers.
                if self.state.borrow().role() == super::Role::Leader {
                    self.tailing.durable(end);
                }
                let out = self.state.borrow_mut().step(Input::Durable { end });
                self.ack_leader(end);
                self.push_durable(end);
                out
            }
            LogEvent::Truncated { end } => {
                self.unpushed.borrow_mut().retain(|u| u.last < end);
                let now = self.clock.now_ms();
                let mut st = self.state.borrow_mut();
                let out = st.step(Input::Truncated { end });
                st.begin_replay();
                self.log.for_each_entry(|e| {
                    st.replay(-1, e, now);
                });
                out
            }
        };
        self.carry_out(&out);
        if out.contains(&Output::CheckpointEpochs) {
            self.ensure_checkpointer();
        }
        if cut {
            self.cut_locally();
        }
        self.wake();
    }

    /// Does what a step asked for, short of awaiting anything.
    pub(super) fn carry_out(&self, out: &[Output]) {
        for o in out {
            match o {
                Output::HighWatermark(_) | Output::RoleChanged => self.wake(),
                Output::CheckpointEpochs => {
                    self.epochs_version.set(self.epochs_version.get() + 1);
                }
                Output::TruncateFollower { .. }
                | Output::ResetFollower { .. }
                | Output::SyncFollower { .. }
                | Output::PingFollower { .. }
                | Output::AlterIsr { .. } => self.replication_output(o),
            }
        }
    }

    pub(super) fn wake(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    /// A receiver that fires at the next change: the high watermark, the durable end, the
    /// role, or a cut.
    fn changed(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.borrow_mut();
        if w.len() >= WAITERS_SWEEP_AT {
            w.retain(|w| !w.is_canceled());
        }
        w.push(tx);
        rx
    }

    /// Writes the epoch cache until the checkpoint on disk is the latest. Writes are one at
    /// a time, so an older encoding can never land over a newer one.
    async fn write_checkpoint(&self) -> Result<(), PartitionError> {
        let _permit = self
            .checkpoint_lock
            .acquire_permit(1)
            .await
            .map_err(|e| PartitionError::Storage(StorageError::from(e)))?;
        loop {
            let version = self.epochs_version.get();
            if self.epochs_written.get() >= version {
                return Ok(());
            }
            let bytes = self.state.borrow().epochs().encode();
            self.log.write_side_file(CHECKPOINT_FILE, bytes).await?;
            self.epochs_written.set(version);
            self.wake();
        }
    }

    /// Writes the epoch cache's checkpoint in the background.
    pub(super) fn checkpoint_soon(&self) {
        self.ensure_checkpointer();
    }

    /// Starts a task writing the checkpoint (from a synchronous event such as a cut).
    fn ensure_checkpointer(&self) {
        let me = self.me.borrow().clone();
        glommio::spawn_local(async move {
            if let Some(p) = me.upgrade() {
                if let Err(e) = p.write_checkpoint().await {
                    tracing::error!(dir = %p.log.dir().display(), "leader-epoch checkpoint failed: {e}");
                }
            }
        })
        .detach();
    }

    /// Waits until the epoch cache on disk is current, so a replica never appends at an
    /// epoch whose start a crash could lose.
    pub(super) async fn epochs_durable(&self) -> Result<(), PartitionError> {
        if self.epochs_written.get() < self.epochs_version.get() {
            self.write_checkpoint().await?;
        }
        Ok(())
    }

    /// Appends a produce request's batches for this partition (validated by the caller)
    /// and waits until `acks` is satisfied. `placed` is dropped once the batches have their
    /// offsets (or were refused), so the connection may read its next request meanwhile.
    pub async fn produce(
        self: &Rc<Self>,
        batches: &[(BatchHeader, Bytes)],
        acks: Acks,
        placed: oneshot::Sender<()>,
    ) -> Result<Produced, PartitionError> {
        self.epochs_durable().await?;
        if acks == Acks::All {
            if let Err(e) = self.state.borrow().check_min_isr() {
                drop(placed);
                return Err(e);
            }
        }
        let placed_at = self.append(batches);
        drop(placed);
        let (produced, appended) = placed_at?;
        let epoch = self.leader_epoch();
        if let Some(info) = appended {
            self.log.commit(&info).await?;
        }
        if acks == Acks::All || appended.is_none() {
            self.wait_for_high_watermark(produced.last_offset + 1, epoch)
                .await?;
            if acks == Acks::All {
                // Committed, but the ISR may have shrunk below the minimum meanwhile.
                if let Err(PartitionError::NotEnoughReplicas { isr, min }) =
                    self.state.borrow().check_min_isr()
                {
                    return Err(PartitionError::NotEnoughReplicasAfterAppend { isr, min });
                }
            }
        }
        Ok(produced)
    }

    /// Checks and appends the batches in order; a retried idempotent batch is answered with
    /// where it went and not written again.
    fn append(
        &self,
        batches: &[(BatchHeader, Bytes)],
    ) -> Result<(Produced, Option<myelin_storage::AppendInfo>), PartitionError> {
        let now = self.clock.now_ms();
        let mut st = self.state.borrow_mut();
        let mode = AppendMode::Leader {
            leader_epoch: st.leader_epoch().0,
        };
        let mut first: Option<i64> = None;
        let mut last = -1;
        let mut appended: Option<myelin_storage::AppendInfo> = None;
        let mut append_time = -1;
        let mut stored: Vec<Bytes> = Vec::new();
        for item in batches {
            match st.check_batch(&item.0)? {
                SeqCheck::Duplicate {
                    base_offset,
                    last_offset,
                } => {
                    first.get_or_insert(base_offset);
                    last = last.max(last_offset);
                }
                SeqCheck::Append => {
                    let (info, entries) = self.log.append(std::slice::from_ref(item), mode)?;
                    for (e, bytes) in entries {
                        st.on_appended(&item.0, &e, now);
                        stored.push(bytes);
                    }
                    first.get_or_insert(info.base_offset);
                    last = last.max(info.last_offset);
                    append_time = info.log_append_time_ms;
                    appended = Some(match appended {
                        Some(a) => myelin_storage::AppendInfo {
                            last_offset: info.last_offset,
                            ..a
                        },
                        None => info,
                    });
                }
            }
        }
        if let Some(a) = &appended {
            // Followers get the batches once they are durable here (`push_durable`).
            self.unpushed.borrow_mut().push_back(Unpushed {
                base: a.base_offset,
                last: a.last_offset,
                stored,
            });
            self.log.start_flush();
        }
        let offsets = st.offsets();
        let produced = Produced {
            base_offset: first.unwrap_or(offsets.log_end_offset),
            last_offset: last,
            log_append_time_ms: append_time,
            log_start_offset: offsets.log_start_offset,
        };
        Ok((produced, appended))
    }

    /// Waits until the high watermark reaches `offset`; fails if the replica stops leading
    /// at `epoch` meanwhile.
    async fn wait_for_high_watermark(
        &self,
        offset: i64,
        epoch: LeaderEpoch,
    ) -> Result<(), PartitionError> {
        loop {
            let woken = self.changed();
            {
                let st = self.state.borrow();
                if st.leader_epoch() != epoch {
                    return Err(PartitionError::NotLeader);
                }
                st.check_leader()?;
                if st.offsets().high_watermark >= offset {
                    return Ok(());
                }
                if st.offsets().log_end_offset < offset {
                    // What was waited for was cut (a full disk).
                    return Err(PartitionError::Storage(StorageError::Discarded));
                }
            }
            let _ = woken.await;
        }
    }

    /// Appends a batch the partition's own coordinator wrote (`__consumer_offsets`,
    /// `__transaction_state`, markers) and waits until it is committed.
    pub async fn append_committed(
        self: &Rc<Self>,
        batch: Bytes,
    ) -> Result<Produced, PartitionError> {
        let limit = myelin_storage::limits::BATCH_BYTES_MAX;
        let batches = myelin_storage::batch::split_batches(batch, limit)?;
        let (placed, _) = oneshot::channel();
        self.produce(&batches, Acks::All, placed).await
    }

    /// Bytes of the log's segments.
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// A leader's followers and how far each is behind (empty on a follower).
    pub fn follower_lags(&self) -> Vec<super::state::FollowerLag> {
        self.state.borrow().follower_lags(self.clock.now_ms())
    }

    /// Reads committed batches from `offset` for `reader` (`read_committed` stops at the
    /// last stable offset). `current_leader_epoch` is the client's view (-1: unchecked).
    /// Only a [`Reader::Consumer`]'s read counts as the first fetch of what it returns.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        committed_only: bool,
        current_leader_epoch: i32,
        reader: Reader,
    ) -> Result<Fetched, PartitionError> {
        let (bound, offsets) = {
            let st = self.state.borrow();
            st.check_leader()?;
            st.check_epoch(current_leader_epoch)?;
            (st.read_bound(committed_only), st.offsets())
        };
        let out = self.log.read_upto(offset, max_bytes, bound).await?;
        if let (Some(last), Reader::Consumer) = (out.last_offset, reader) {
            self.tailing.fetched(offset, last);
        }
        let aborted = match out.last_offset {
            Some(last) if committed_only => self.state.borrow().aborted_between(offset, last),
            _ => Vec::new(),
        };
        Ok(Fetched {
            batches: out.batches,
            high_watermark: offsets.high_watermark,
            last_stable_offset: offsets.last_stable_offset,
            log_start_offset: out.log_start_offset,
            aborted,
        })
    }

    /// Reads batches for internal replay (a coordinator loading its partition): up to the
    /// log end, whatever the role. A new leader's high watermark may still lag what its
    /// predecessor committed, and its log is what its followers will hold, so a coordinator
    /// loads all of it, as Kafka's do.
    pub async fn read_for_replay(
        &self,
        offset: i64,
        max_bytes: usize,
    ) -> Result<myelin_storage::ReadOutcome, PartitionError> {
        let bound = self.state.borrow().offsets().log_end_offset;
        Ok(self.log.read_upto(offset, max_bytes, bound).await?)
    }

    /// Waits until the high watermark passes `seen`, the role changes, or `wait` ends.
    pub async fn wait_for_data(&self, seen: i64, wait: Duration) {
        let epoch = self.leader_epoch();
        let timer = glommio::timer::sleep(wait);
        futures::pin_mut!(timer);
        loop {
            let woken = self.changed();
            {
                let st = self.state.borrow();
                if st.offsets().high_watermark > seen || st.leader_epoch() != epoch {
                    return;
                }
            }
            match futures::future::select(woken, timer.as_mut()).await {
                futures::future::Either::Left(_) => continue,
                futures::future::Either::Right(_) => return,
            }
        }
    }

    /// Checks that this replica leads at the client's epoch (ListOffsets), and returns the
    /// offsets and epoch to answer with.
    pub fn leader_offsets(
        &self,
        current_leader_epoch: i32,
    ) -> Result<(PartitionOffsets, LeaderEpoch), PartitionError> {
        let st = self.state.borrow();
        st.check_leader()?;
        st.check_epoch(current_leader_epoch)?;
        Ok((st.offsets(), st.leader_epoch()))
    }

    /// The leader epoch the data at `offset` was written in (the latest epoch for the log
    /// end), as ListOffsets reports it; -1 when unknown.
    pub fn epoch_at(&self, offset: i64) -> LeaderEpoch {
        let st = self.state.borrow();
        let epochs = st.epochs();
        let found = if offset >= st.offsets().log_end_offset {
            epochs.latest().map(|e| e.epoch)
        } else {
            epochs.epoch_at(offset)
        };
        found.unwrap_or(LeaderEpoch::UNKNOWN)
    }

    /// The first committed batch whose max timestamp is at or after `timestamp`.
    pub async fn batch_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<Bytes>, PartitionError> {
        let hw = self.offsets().high_watermark;
        Ok(self.log.batch_for_timestamp(timestamp, hw).await?)
    }

    /// The committed batch holding the largest timestamp.
    pub async fn batch_with_max_timestamp(&self) -> Result<Option<Bytes>, PartitionError> {
        let hw = self.offsets().high_watermark;
        Ok(self.log.batch_with_max_timestamp(hw).await?)
    }

    /// DeleteRecords on the leader: moves the log start offset to `offset` (-1: the high
    /// watermark), which may not pass the high watermark, and tells the followers, whose
    /// logs follow. Returns the low watermark once it reaches the new start, or what it is
    /// when `wait` ends (`Ok(Err(low))`, Kafka's REQUEST_TIMED_OUT). An offset at or below
    /// the log start changes nothing.
    pub async fn delete_records(
        &self,
        offset: i64,
        wait: Duration,
    ) -> Result<Result<i64, i64>, PartitionError> {
        let offsets = {
            let st = self.state.borrow();
            st.check_leader()?;
            st.offsets()
        };
        if !self.log.config().cleanup_delete {
            return Err(PartitionError::PolicyViolation(format!(
                "Records of partition {}-{} can not be deleted due to the configured policy",
                self.topic, self.index
            )));
        }
        let target = if offset == -1 {
            offsets.high_watermark
        } else {
            offset
        };
        if target < 0 || target > offsets.high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                start: offsets.log_start_offset,
                end: offsets.high_watermark,
            }
            .into());
        }
        let start = self.log.advance_start(target).await?;
        self.log_start_moved(start);
        self.announce_log_start();
        let epoch = self.leader_epoch();
        let timer = glommio::timer::sleep(wait);
        futures::pin_mut!(timer);
        loop {
            let woken = self.changed();
            let low = self.low_watermark();
            if low >= target {
                return Ok(Ok(low));
            }
            if self.leader_epoch() != epoch {
                return Err(PartitionError::NotLeader);
            }
            match futures::future::select(woken, timer.as_mut()).await {
                futures::future::Either::Left(_) => continue,
                futures::future::Either::Right(_) => return Ok(Err(self.low_watermark())),
            }
        }
    }

    /// Kafka's low watermark: the smallest log start among this leader and its in-sync
    /// followers (one that has not said where its log starts counts as -1).
    pub fn low_watermark(&self) -> i64 {
        let st = self.state.borrow();
        let me = st.local();
        let starts = self.follower_log_starts.borrow();
        st.assignment()
            .isr
            .iter()
            .filter(|r| **r != me)
            .map(|r| starts.get(r).copied().unwrap_or(-1))
            .fold(st.offsets().log_start_offset, i64::min)
    }

    /// The log's start moved to `start` (DeleteRecords, or following the leader's): state
    /// below it (aborted transactions, epochs) goes.
    pub(super) fn log_start_moved(&self, start: i64) {
        let out = {
            let mut st = self.state.borrow_mut();
            let start = start.min(st.offsets().log_end_offset);
            st.step(Input::LogStart { start })
        };
        self.carry_out(&out);
    }

    /// Retention and compaction, then forgetting idle producers.
    pub async fn housekeeping(&self) {
        let now = self.clock.now_ms();
        let dir = self.log.dir().display().to_string();
        let hw = self.offsets().high_watermark;
        match self.log.enforce_retention(now, hw).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(dir, segments = n, "retention deleted segments"),
            Err(e) => tracing::warn!(dir, "retention failed: {e}"),
        }
        let start = self.log.offsets().log_start_offset;
        let out = {
            let mut st = self.state.borrow_mut();
            let mut out = st.step(Input::LogStart { start });
            out.extend(st.step(Input::Tick { now_ms: now }));
            out
        };
        self.carry_out(&out);
        // Compaction reads the transaction state as it is now; a snapshot keeps the state
        // unborrowed across the pass's awaits.
        let txns = self.state.borrow().clone();
        match self.log.compact(now, &txns).await {
            Ok(r) if r.segments_cleaned > 0 => tracing::info!(
                dir,
                segments = r.segments_cleaned,
                batches_removed = r.batches_removed,
                keys = r.keys,
                bytes_before = r.bytes_before,
                bytes_after = r.bytes_after,
                "compacted"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(dir, "compaction failed: {e}"),
        }
    }

    /// Writes and syncs everything and closes the log.
    pub async fn close(&self) -> Result<(), PartitionError> {
        self.wake();
        Ok(self.log.close().await?)
    }
}
