//! The transaction coordinator shell of one shard (a service of the shard, like the group
//! coordinator): transactional ids hashed to this shard's `__transaction_state` partitions,
//! their persistence, the markers that end transactions, and the timer that aborts
//! transactions past their timeout.
//!
//! Ordering: every read-modify-write of one transactional id (a request, or the timer
//! completing it) spans awaits (persisting, writing markers), so each holds the id while it
//! runs; another request for the same id meanwhile is told CONCURRENT_TRANSACTIONS and
//! retries, as Kafka's coordinator answers while a transition is pending. Different ids
//! proceed independently.

pub use super::markers::marker_batch;
use super::state::{TxnMeta, TxnState};
use crate::codes;
use crate::group::coordinator::CoordinatorConfig;
use crate::group::store::partition_for;
use crate::internal_log::{self, append_committed, decode, encode, encode_batch, record};
use crate::loads::Loads;
use bytes::Bytes;
use myelin_replication::NodeId;
use myelin_replication::Partition;
use myelin_shards::Shard;
use myelin_storage::records;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Longest transaction timeout a producer may ask for (`transaction.max.timeout.ms`).
pub const TXN_TIMEOUT_MS_MAX: i32 = 15 * 60 * 1000;

/// Transactional ids one shard coordinates.
pub const TXNS_PER_SHARD_MAX: usize = 100_000;

/// How often open transactions are checked against their timeout.
const TICK_MS: u64 = 100;

/// One shard's transaction coordinator.
pub struct TxnCoordinator {
    /// Transactional ids and their state.
    pub txns: RefCell<HashMap<String, TxnMeta>>,
    loads: Loads,
    /// Ids with an operation in flight.
    busy: RefCell<HashSet<String>>,
    ticking: Cell<bool>,
    config: CoordinatorConfig,
}

/// Holds a transactional id for one operation; dropping it lets the next one in.
struct Held {
    coordinator: Rc<TxnCoordinator>,
    id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.coordinator.busy.borrow_mut().remove(&self.id);
    }
}

/// The transaction coordinator installed on `shard`.
pub fn of(shard: &Shard) -> Result<Rc<TxnCoordinator>, i16> {
    shard
        .service::<TxnCoordinator>()
        .ok_or(codes::COORDINATOR_NOT_AVAILABLE)
}

impl TxnCoordinator {
    /// A coordinator with no transactional ids yet.
    pub fn new(config: CoordinatorConfig) -> TxnCoordinator {
        TxnCoordinator {
            txns: RefCell::new(HashMap::new()),
            loads: Loads::default(),
            busy: RefCell::new(HashSet::new()),
            ticking: Cell::new(false),
            config,
        }
    }

    /// Takes `id` for one operation, or says another one is in flight.
    fn hold(self: &Rc<Self>, id: &str) -> Result<Held, i16> {
        if !self.busy.borrow_mut().insert(id.to_string()) {
            return Err(codes::CONCURRENT_TRANSACTIONS);
        }
        Ok(Held {
            coordinator: self.clone(),
            id: id.to_string(),
        })
    }

    async fn persist(
        &self,
        partition: &Rc<Partition>,
        id: &str,
        meta: &TxnMeta,
        now_ms: i64,
    ) -> Result<(), i16> {
        let key = Bytes::from(id.as_bytes().to_vec());
        let flags = internal_log::RecordFlags::plain(now_ms);
        append_committed(
            partition,
            encode_batch(&[record(0, (-1, -1), flags, key, Some(encode(meta)?))])?,
        )
        .await
    }

    /// Loads a partition's transactional ids for the epoch this broker leads it in;
    /// meanwhile its ids answer COORDINATOR_LOAD_IN_PROGRESS. State from an earlier epoch is
    /// dropped and read again: another coordinator may have written since.
    async fn ensure_loaded(&self, index: i32, partition: &Rc<Partition>) -> Result<(), i16> {
        let replay = || {
            internal_log::replay(partition, |header, b| {
                records::for_each(header, records::records_section(b), |r| {
                    if let (Some(k), Some(meta)) = (r.key, r.value.and_then(decode::<TxnMeta>)) {
                        self.txns
                            .borrow_mut()
                            .insert(String::from_utf8_lossy(k).into_owned(), meta);
                    }
                    true
                })
                .map_err(|e| codes::storage(&e))
            })
        };
        self.loads
            .ensure(index, partition, |i| self.unload(i), replay)
            .await
    }

    /// Forgets the transactional ids of `__transaction_state` partition `index` (its
    /// leadership moved to another broker, which completes what is open).
    pub fn unload(&self, index: i32) {
        let partitions = self.config.txn_partitions;
        self.txns
            .borrow_mut()
            .retain(|id, _| partition_for(id, partitions) != index);
        self.loads.remove(index);
    }

    /// Saves `meta` for `id`, in memory and durably.
    pub async fn save(
        &self,
        shard: &Shard,
        partition: &Rc<Partition>,
        id: &str,
        meta: TxnMeta,
    ) -> Result<(), i16> {
        self.persist(partition, id, &meta, shard.now_ms()).await?;
        self.txns.borrow_mut().insert(id.to_string(), meta);
        Ok(())
    }

    /// Writes the markers of a decided transaction (state Prepare*), completes it and saves
    /// it. Markers are idempotent to repeat: a partition ignores a marker for a producer
    /// with no open transaction there.
    pub async fn finish(
        &self,
        shard: &Rc<Shard>,
        partition: &Rc<Partition>,
        id: &str,
    ) -> Result<(), i16> {
        let Some(mut meta) = self.txns.borrow().get(id).cloned() else {
            return Err(codes::TRANSACTIONAL_ID_NOT_FOUND);
        };
        let commit = match meta.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return Ok(()),
        };
        write_markers(shard, &meta, commit).await?;
        meta.complete();
        self.save(shard, partition, id, meta).await
    }

    fn start_ticker(self: &Rc<Self>, shard: Rc<Shard>) {
        if self.ticking.replace(true) {
            return;
        }
        let me = self.clone();
        glommio::spawn_local(async move {
            while !shard.is_stopping() {
                glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
                let now = shard.now_ms();
                let busy = me.busy.borrow().clone();
                let due: Vec<String> = me
                    .txns
                    .borrow_mut()
                    .iter_mut()
                    .filter(|(id, _)| !busy.contains(id.as_str()))
                    .filter_map(|(id, m)| {
                        let expired = m.expire(now);
                        let pending =
                            matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
                        (expired || pending).then(|| id.clone())
                    })
                    .collect();
                for id in due {
                    let Ok(_held) = me.hold(&id) else { continue };
                    let p = partition_for(&id, me.config.txn_partitions);
                    let Ok(partition) = shard.partition(TXN_TOPIC, p) else {
                        continue;
                    };
                    if let Err(code) = me.finish(&shard, &partition, &id).await {
                        tracing::warn!(transactional_id = %id, code, "completing a transaction failed; will retry");
                    }
                }
            }
            me.ticking.set(false);
        })
        .detach();
    }
}

/// Writes a commit or abort marker for `meta`'s producer to every partition of its
/// transaction, and tells the group coordinators to apply (or drop) its offsets.
async fn write_markers(shard: &Rc<Shard>, meta: &TxnMeta, commit: bool) -> Result<(), i16> {
    let (pid, epoch) = (meta.producer_id, meta.epoch);
    let image = shard.metadata();
    let me = shard.node_id();
    let mut remote: BTreeMap<NodeId, Vec<(String, i32)>> = BTreeMap::new();
    for (topic, partition) in meta.partitions.iter() {
        let leader = image
            .topic(topic)
            .and_then(|t| t.partitions.get(*partition as usize))
            .map(|p| p.leader);
        match leader {
            // A deleted topic has nothing left to mark.
            None => continue,
            Some(l) if l == me => {
                match super::markers::write_local(shard, topic, *partition, pid, epoch, commit)
                    .await
                {
                    Ok(()) | Err(codes::UNKNOWN_TOPIC_OR_PARTITION) => {}
                    Err(code) => return Err(code),
                }
            }
            // No leader right now: the transaction stays decided and the timer retries.
            Some(l) if !l.is_some() => return Err(codes::NOT_LEADER_OR_FOLLOWER),
            Some(l) => remote
                .entry(l)
                .or_default()
                .push((topic.clone(), *partition)),
        }
    }
    for (leader, partitions) in remote {
        super::markers::write_remote(shard, &image, leader, &partitions, pid, epoch, commit)
            .await?;
    }
    Ok(())
}

/// Follows leadership of this shard's `__transaction_state` partitions: what this broker
/// no longer leads (or leads in a newer epoch) is dropped, what it leads is loaded, and the
/// timer started, so transactions left open by a restart or by the previous coordinator are
/// completed or time out without waiting for their producer to come back. Runs at start-up
/// and after every metadata change.
pub async fn recover(shard: &Rc<Shard>) {
    let Ok(coordinator) = of(shard) else {
        return;
    };
    for p in 0..coordinator.config.txn_partitions {
        if shard.owner(TXN_TOPIC, p) != shard.id {
            continue;
        }
        let leading = shard
            .partition(TXN_TOPIC, p)
            .ok()
            .filter(|partition| partition.leading().is_some());
        let Some(partition) = leading else {
            if coordinator.loads.loaded().iter().any(|(i, _)| *i == p) {
                tracing::info!(
                    partition = p,
                    "transaction state unloaded: leadership moved"
                );
                coordinator.unload(p);
            }
            continue;
        };
        if partition
            .leading()
            .is_some_and(|e| coordinator.loads.is_loaded(p, e))
        {
            continue;
        }
        match coordinator.ensure_loaded(p, &partition).await {
            Ok(()) | Err(codes::COORDINATOR_LOAD_IN_PROGRESS) | Err(codes::NOT_COORDINATOR) => {}
            Err(code) => tracing::error!(partition = p, code, "loading transaction state failed"),
        }
    }
    if !coordinator.txns.borrow().is_empty() {
        coordinator.start_ticker(shard.clone());
    }
}

/// Runs `f` on the coordinator of `transactional_id`, with its partition loaded and the id
/// held for the operation (another operation on the id meanwhile gets
/// CONCURRENT_TRANSACTIONS).
pub async fn on_txn_coordinator<R, F, Fut>(
    shard: &Rc<Shard>,
    transactional_id: &str,
    f: F,
) -> Result<R, i16>
where
    R: Send + 'static,
    F: FnOnce(Rc<TxnCoordinator>, Rc<Partition>, Rc<Shard>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, i16>> + 'static,
{
    if transactional_id.is_empty()
        || transactional_id.len() > crate::group::limits::GROUP_ID_BYTES_MAX
    {
        return Err(codes::INVALID_REQUEST);
    }
    let partitions = of(shard)?.config.txn_partitions;
    let index = partition_for(transactional_id, partitions);
    crate::check_leads(shard, TXN_TOPIC, index)?;
    let owner = shard.owner(TXN_TOPIC, index);
    let id = transactional_id.to_string();
    let result = shard
        .invoke_on(owner, move |shard| async move {
            let coordinator = of(&shard)?;
            let partition = shard
                .partition(TXN_TOPIC, index)
                .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)?;
            coordinator.ensure_loaded(index, &partition).await?;
            if coordinator.txns.borrow().len() >= TXNS_PER_SHARD_MAX {
                return Err(codes::COORDINATOR_NOT_AVAILABLE);
            }
            let _held = coordinator.hold(&id)?;
            coordinator.start_ticker(shard.clone());
            f(coordinator.clone(), partition, shard).await
        })
        .await;
    result.unwrap_or(Err(codes::COORDINATOR_NOT_AVAILABLE))
}
