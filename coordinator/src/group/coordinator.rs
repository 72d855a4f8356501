//! The coordinator shell of one shard: the groups whose `__consumer_offsets` partition this
//! shard owns, their committed offsets, the callers parked on JoinGroup and SyncGroup, and the
//! timer that drives sessions and rebalances.
//!
//! It is a service of its shard (installed by [`crate::install`]), and other shards reach it
//! only through jobs sent over the mesh ([`on_coordinator`]). Time comes from the shard's
//! clock.

use super::limits;
use super::state::{Group, GroupConfig, GroupState, JoinOutcome, MemberId, Reply, SyncOutcome};
use super::store::{self, Committed, OffsetKey, OFFSETS_TOPIC};
use crate::codes;
use crate::loads::Loads;
use futures::channel::oneshot;
use myelin_replication::{Clock, Partition};
use myelin_shards::Shard;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

/// Settings of the group coordinator (broker configs).
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorConfig {
    /// Timing and size settings of groups.
    pub group: GroupConfig,
    /// Partitions of `__consumer_offsets` (`offsets.topic.num.partitions`).
    pub offsets_partitions: i32,
    /// Partitions of `__transaction_state` (`transaction.state.log.num.partitions`).
    pub txn_partitions: i32,
    /// How long offsets of an empty group are kept (`offsets.retention.minutes`).
    pub offsets_retention_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            group: GroupConfig::default(),
            offsets_partitions: 50,
            txn_partitions: 50,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// An offset to set (or, with `None`, delete).
pub type OffsetChange = (OffsetKey, Option<Committed>);

/// Committed offsets of one group.
pub type GroupOffsets = BTreeMap<(String, i32), Committed>;

/// One shard's coordinator state.
pub struct Coordinator {
    /// Groups by id.
    pub groups: RefCell<HashMap<String, Group>>,
    /// Committed offsets by group.
    pub offsets: RefCell<HashMap<String, GroupOffsets>>,
    loads: Loads,
    joins: RefCell<HashMap<(String, MemberId), oneshot::Sender<JoinOutcome>>>,
    syncs: RefCell<HashMap<(String, MemberId), oneshot::Sender<SyncOutcome>>>,
    ticking: Cell<bool>,
    config: CoordinatorConfig,
    clock: Rc<dyn Clock>,
    /// Offsets committed inside open transactions, by producer id, applied at commit.
    pending_txn: RefCell<HashMap<i64, Vec<OffsetChange>>>,
}

/// The group coordinator installed on `shard`.
pub fn of(shard: &Shard) -> Result<Rc<Coordinator>, i16> {
    shard
        .service::<Coordinator>()
        .ok_or(codes::COORDINATOR_NOT_AVAILABLE)
}

impl Coordinator {
    /// A coordinator with no groups yet.
    pub fn new(config: CoordinatorConfig, clock: Rc<dyn Clock>) -> Coordinator {
        Coordinator {
            groups: RefCell::new(HashMap::new()),
            offsets: RefCell::new(HashMap::new()),
            loads: Loads::default(),
            joins: RefCell::new(HashMap::new()),
            syncs: RefCell::new(HashMap::new()),
            ticking: Cell::new(false),
            config,
            clock,
            pending_txn: RefCell::new(HashMap::new()),
        }
    }

    /// Milliseconds since the epoch, by the shard's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The configuration the coordinator runs with.
    pub fn config(&self) -> CoordinatorConfig {
        self.config
    }

    /// Delivers replies to parked callers.
    pub fn deliver(&self, group: &str, replies: Vec<Reply>) {
        for reply in replies {
            match reply {
                Reply::Join(member, out) => {
                    if let Some(tx) = self.joins.borrow_mut().remove(&(group.to_string(), member)) {
                        let _ = tx.send(out);
                    }
                }
                Reply::Sync(member, out) => {
                    if let Some(tx) = self.syncs.borrow_mut().remove(&(group.to_string(), member)) {
                        let _ = tx.send(out);
                    }
                }
            }
        }
    }

    /// Parks a JoinGroup caller until its reply.
    pub fn park_join(&self, group: &str, member: &str) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        self.joins
            .borrow_mut()
            .insert((group.to_string(), member.to_string()), tx);
        rx
    }

    /// Parks a SyncGroup caller until its reply.
    pub fn park_sync(&self, group: &str, member: &str) -> oneshot::Receiver<SyncOutcome> {
        let (tx, rx) = oneshot::channel();
        self.syncs
            .borrow_mut()
            .insert((group.to_string(), member.to_string()), tx);
        rx
    }

    /// Runs `f` on the group, creating it when `create` (bounded by the groups limit).
    pub fn with_group<R>(
        &self,
        group: &str,
        create: bool,
        f: impl FnOnce(&mut Group) -> R,
    ) -> Result<R, i16> {
        let mut groups = self.groups.borrow_mut();
        if !groups.contains_key(group) {
            if !create {
                return Err(codes::GROUP_ID_NOT_FOUND);
            }
            if groups.len() >= limits::GROUPS_PER_SHARD_MAX {
                return Err(codes::COORDINATOR_NOT_AVAILABLE);
            }
            groups.insert(group.to_string(), Group::new(group));
        }
        groups
            .get_mut(group)
            .map(f)
            .ok_or(codes::GROUP_ID_NOT_FOUND)
    }

    /// Applies a committed (or deleted) offset to memory.
    pub fn apply(&self, key: OffsetKey, value: Option<Committed>) {
        let mut offsets = self.offsets.borrow_mut();
        match value {
            Some(v) => {
                offsets
                    .entry(key.group)
                    .or_default()
                    .insert((key.topic, key.partition), v);
            }
            None => {
                if let Some(g) = offsets.get_mut(&key.group) {
                    g.remove(&(key.topic, key.partition));
                    if g.is_empty() {
                        offsets.remove(&key.group);
                    }
                }
            }
        }
    }

    /// Stages offsets committed by a transactional producer until its transaction ends.
    pub fn stage_txn(&self, producer_id: i64, entries: Vec<OffsetChange>) {
        self.pending_txn
            .borrow_mut()
            .entry(producer_id)
            .or_default()
            .extend(entries);
    }

    /// A transaction marker reached an offsets partition of this shard: apply the producer's
    /// staged offsets on commit, drop them on abort.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let staged = self
            .pending_txn
            .borrow_mut()
            .remove(&producer_id)
            .unwrap_or_default();
        if commit {
            for (k, v) in staged {
                self.apply(k, v);
            }
        }
    }

    /// Loads an offsets partition into memory for the epoch this broker leads it in. While
    /// one request loads it, others for its groups are told to retry
    /// (COORDINATOR_LOAD_IN_PROGRESS), so two loads never interleave. State loaded in an
    /// earlier epoch is dropped and read again: another leader may have written since.
    async fn ensure_loaded(&self, index: i32, partition: &Rc<Partition>) -> Result<(), i16> {
        let replay = || {
            store::replay(partition, |event| match event {
                store::Replayed::Offset {
                    key,
                    value,
                    txn: None,
                } => self.apply(key, value),
                store::Replayed::Offset {
                    key,
                    value,
                    txn: Some(pid),
                } => self.stage_txn(pid, vec![(key, value)]),
                store::Replayed::Marker {
                    producer_id,
                    commit,
                } => self.complete_txn(producer_id, commit),
            })
        };
        self.loads
            .ensure(index, partition, |i| self.unload(i), replay)
            .await
    }

    /// Forgets the groups, offsets and parked callers of offsets partition `index` (its
    /// leadership moved to another broker). Parked JoinGroup and SyncGroup callers are
    /// answered with a retriable error and find the new coordinator.
    pub fn unload(&self, index: i32) {
        let partitions = self.config.offsets_partitions;
        let here = |group: &str| store::partition_for(group, partitions) == index;
        self.groups.borrow_mut().retain(|id, _| !here(id));
        self.offsets.borrow_mut().retain(|id, _| !here(id));
        self.joins.borrow_mut().retain(|(g, _), _| !here(g));
        self.syncs.borrow_mut().retain(|(g, _), _| !here(g));
        self.pending_txn.borrow_mut().retain(|_, staged| {
            staged.retain(|(k, _)| !here(&k.group));
            !staged.is_empty()
        });
        self.loads.remove(index);
    }

    /// Follows leadership after a metadata change: offsets partitions of this shard that
    /// this broker no longer leads (or leads in a newer epoch) are dropped from memory; the
    /// ones it leads load on their first request.
    pub fn reconcile(&self, shard: &Shard) {
        for (index, epoch) in self.loads.loaded() {
            let leading = shard
                .partition(OFFSETS_TOPIC, index)
                .ok()
                .and_then(|p| p.leading());
            if leading != Some(epoch) {
                tracing::info!(
                    partition = index,
                    "offsets partition unloaded: leadership moved"
                );
                self.unload(index);
            }
        }
    }

    fn start_ticker(self: &Rc<Self>, shard: Rc<Shard>) {
        if self.ticking.replace(true) {
            return;
        }
        let me = self.clone();
        glommio::spawn_local(async move {
            let mut last_sweep = shard.now_ms();
            while !shard.is_stopping() {
                glommio::timer::sleep(Duration::from_millis(limits::TICK_MS)).await;
                let now = shard.now_ms();
                let ids: Vec<String> = me.groups.borrow().keys().cloned().collect();
                for id in ids {
                    let replies = me
                        .with_group(&id, false, |g| g.tick(now))
                        .unwrap_or_default();
                    me.deliver(&id, replies);
                }
                // Sweep a few times per retention period, but at most once a minute.
                let every = (me.config().offsets_retention_ms / 4)
                    .clamp(limits::TICK_MS as i64, limits::OFFSET_EXPIRY_SWEEP_MS);
                if now - last_sweep >= every {
                    last_sweep = now;
                    me.expire_offsets(&shard, now).await;
                }
            }
            me.ticking.set(false);
        })
        .detach();
    }

    /// Deletes offsets of groups without members older than the retention, and forgets
    /// empty groups that have no offsets left.
    async fn expire_offsets(&self, shard: &Rc<Shard>, now: i64) {
        let config = self.config();
        let empty = |id: &str| {
            self.groups
                .borrow()
                .get(id)
                .is_none_or(|g| g.members.is_empty())
        };
        let mut doomed: Vec<OffsetKey> = Vec::new();
        for (group, offsets) in self.offsets.borrow().iter() {
            if !empty(group) {
                continue;
            }
            for ((topic, partition), c) in offsets {
                if c.commit_ms < now - config.offsets_retention_ms {
                    doomed.push(OffsetKey {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    });
                }
            }
        }
        for key in doomed {
            let p = store::partition_for(&key.group, config.offsets_partitions);
            if let Ok(partition) = shard.partition(OFFSETS_TOPIC, p) {
                if store::write(&partition, &[(key.clone(), None)], now)
                    .await
                    .is_ok()
                {
                    self.apply(key, None);
                }
            }
        }
        let offsets = self.offsets.borrow();
        self.groups.borrow_mut().retain(|id, g| {
            !(g.state == GroupState::Empty && g.members.is_empty() && !offsets.contains_key(id))
        });
    }
}

/// Runs `f` on the coordinator of `group`: on the shard owning the group's offsets
/// partition, with that partition loaded. `f` gets the coordinator and the partition.
pub async fn on_coordinator<R, F, Fut>(shard: &Rc<Shard>, group: &str, f: F) -> Result<R, i16>
where
    R: Send + 'static,
    F: FnOnce(Rc<Coordinator>, Rc<Partition>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, i16>> + 'static,
{
    if group.len() > limits::GROUP_ID_BYTES_MAX {
        return Err(codes::INVALID_GROUP_ID);
    }
    let config = of(shard)?.config();
    let index = store::partition_for(group, config.offsets_partitions);
    crate::check_leads(shard, OFFSETS_TOPIC, index)?;
    let owner = shard.owner(OFFSETS_TOPIC, index);
    let result = shard
        .invoke_on(owner, move |shard| async move {
            let coordinator = of(&shard)?;
            let partition = shard
                .partition(OFFSETS_TOPIC, index)
                .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)?;
            coordinator.ensure_loaded(index, &partition).await?;
            coordinator.start_ticker(shard.clone());
            f(coordinator, partition).await
        })
        .await;
    result.unwrap_or(Err(codes::COORDINATOR_NOT_AVAILABLE))
}

/// Runs `f` on every shard's coordinator (ListGroups).
pub async fn on_every_coordinator<R, F>(shard: &Rc<Shard>, f: F) -> Vec<R>
where
    R: Send + 'static,
    F: Fn(Rc<Coordinator>) -> R + Send + Sync + Clone + 'static,
{
    let mut out = Vec::with_capacity(shard.count);
    for s in 0..shard.count {
        let f = f.clone();
        if let Ok(Some(r)) = shard
            .invoke_on(myelin_shards::ShardId(s), move |shard| async move {
                of(&shard).ok().map(f)
            })
            .await
        {
            out.push(r);
        }
    }
    out
}
