//! The transaction coordinator shell of one shard (a thread-local, like the group
//! coordinator): transactional ids hashed to this shard's `__transaction_state` partitions,
//! their persistence, the markers that end transactions, and the timer that aborts
//! transactions past their timeout.

use super::state::{TxnMeta, TxnState};
use crate::codes;
use crate::group::store::partition_for;
use crate::internal_log::{self, append_durably, decode, encode, encode_batch, record};
use crate::server::Ctx;
use bytes::Bytes;
use glommio::sync::Semaphore;
use myelin_shards::Shard;
use myelin_storage::{records, Log};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
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
    loaded: RefCell<HashSet<i32>>,
    ticking: Cell<bool>,
    /// Serialises every read-modify-write of transaction state on this shard (requests and
    /// the timer): each spans awaits (persisting, writing markers), and two of them
    /// interleaving on one id would write markers twice or save a stale copy over a newer
    /// state.
    lock: Semaphore,
}

impl Default for TxnCoordinator {
    fn default() -> Self {
        TxnCoordinator {
            txns: RefCell::new(HashMap::new()),
            loaded: RefCell::new(HashSet::new()),
            ticking: Cell::new(false),
            lock: Semaphore::new(1),
        }
    }
}

thread_local! {
    static TXN_COORDINATOR: Rc<TxnCoordinator> = Rc::new(TxnCoordinator::default());
}

/// This shard's transaction coordinator.
pub fn local() -> Rc<TxnCoordinator> {
    TXN_COORDINATOR.with(Rc::clone)
}

/// The control batch that ends a transaction for `producer` in one partition.
pub fn marker_batch(producer_id: i64, epoch: i16, commit: bool) -> Result<Bytes, i16> {
    let kind: i16 = if commit { 1 } else { 0 };
    let mut key = vec![0u8, 0];
    key.extend_from_slice(&kind.to_be_bytes());
    // Value: version 0, coordinator epoch 0.
    let value = Bytes::from_static(&[0, 0, 0, 0, 0, 0]);
    encode_batch(&[record(
        0,
        (producer_id, epoch),
        true,
        true,
        Bytes::from(key),
        Some(value),
    )])
}

impl TxnCoordinator {
    async fn persist(&self, log: &Rc<Log>, id: &str, meta: &TxnMeta) -> Result<(), i16> {
        let key = Bytes::from(id.as_bytes().to_vec());
        append_durably(
            log,
            encode_batch(&[record(0, (-1, -1), false, false, key, Some(encode(meta)?))])?,
        )
        .await
    }

    async fn ensure_loaded(&self, partition: i32, log: &Rc<Log>) -> Result<(), i16> {
        if self.loaded.borrow().contains(&partition) {
            return Ok(());
        }
        internal_log::replay(log, |header, b| {
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
        .await?;
        self.loaded.borrow_mut().insert(partition);
        Ok(())
    }

    /// Saves `meta` for `id`, in memory and durably.
    pub async fn save(&self, log: &Rc<Log>, id: &str, meta: TxnMeta) -> Result<(), i16> {
        self.persist(log, id, &meta).await?;
        self.txns.borrow_mut().insert(id.to_string(), meta);
        Ok(())
    }

    /// Writes the markers of a decided transaction (state Prepare*), completes it and saves
    /// it. Markers are idempotent to repeat: a partition ignores a marker for a producer
    /// with no open transaction there.
    pub async fn finish(&self, shard: &Rc<Shard>, log: &Rc<Log>, id: &str) -> Result<(), i16> {
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
        self.save(log, id, meta).await
    }

    fn start_ticker(self: &Rc<Self>, shard: Rc<Shard>, txn_partitions: i32) {
        if self.ticking.replace(true) {
            return;
        }
        let me = self.clone();
        glommio::spawn_local(async move {
            while !shard.is_stopping() {
                glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
                let Ok(_permit) = me.lock.acquire_permit(1).await else { break };
                let now = myelin_storage::now_ms();
                let due: Vec<String> = me
                    .txns
                    .borrow_mut()
                    .iter_mut()
                    .filter_map(|(id, m)| {
                        let expired = m.expire(now);
                        let pending = matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
                        (expired || pending).then(|| id.clone())
                    })
                    .collect();
                for id in due {
                    let p = partition_for(&id, txn_partitions);
                    let Ok(log) = shard.log(TXN_TOPIC, p) else { continue };
                    if let Err(code) = me.finish(&shard, &log, &id).await {
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
    for (topic, partition) in meta.partitions.iter().cloned() {
        let owner = shard.owner(&topic, partition);
        let is_offsets = topic == crate::group::store::OFFSETS_TOPIC;
        let r = shard
            .invoke_on(owner, move |s| async move {
                // A deleted topic has nothing left to mark.
                let Ok(log) = s.log(&topic, partition) else {
                    return Ok(());
                };
                append_durably(&log, marker_batch(pid, epoch, commit)?).await?;
                if is_offsets {
                    crate::group::coordinator::local().complete_txn(pid, commit);
                }
                Ok::<(), i16>(())
            })
            .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(code)) => return Err(code),
            Err(_) => return Err(codes::COORDINATOR_NOT_AVAILABLE),
        }
    }
    Ok(())
}

/// Loads every `__transaction_state` partition this shard owns and starts the timer, so
/// transactions left open before a restart are completed or time out without waiting for
/// their producer to come back.
pub async fn recover(shard: &Rc<Shard>, config: crate::group::coordinator::CoordinatorConfig) {
    let coordinator = local();
    let Ok(_permit) = coordinator.lock.acquire_permit(1).await else {
        return;
    };
    for p in 0..config.txn_partitions {
        if shard.owner(TXN_TOPIC, p) != shard.id {
            continue;
        }
        let Ok(log) = shard.log(TXN_TOPIC, p) else {
            continue;
        };
        if let Err(code) = coordinator.ensure_loaded(p, &log).await {
            tracing::error!(partition = p, code, "loading transaction state failed");
        }
    }
    if !coordinator.txns.borrow().is_empty() {
        coordinator.start_ticker(shard.clone(), config.txn_partitions);
    }
}

/// Runs `f` on the coordinator of `transactional_id`, with its partition loaded.
pub async fn on_txn_coordinator<R, F, Fut>(
    ctx: &Ctx,
    transactional_id: &str,
    f: F,
) -> Result<R, i16>
where
    R: Send + 'static,
    F: FnOnce(Rc<TxnCoordinator>, Rc<Log>, Rc<Shard>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, i16>> + 'static,
{
    if transactional_id.is_empty()
        || transactional_id.len() > crate::group::limits::GROUP_ID_BYTES_MAX
    {
        return Err(codes::INVALID_REQUEST);
    }
    let config = ctx.server.coordinator;
    let partition = partition_for(transactional_id, config.txn_partitions);
    let owner = ctx.shard.owner(TXN_TOPIC, partition);
    let result = ctx
        .shard
        .invoke_on(owner, move |shard| async move {
            let coordinator = local();
            let log = shard
                .log(TXN_TOPIC, partition)
                .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)?;
            // Loading, and every change after it, happen one at a time on this shard.
            let _permit = coordinator
                .lock
                .acquire_permit(1)
                .await
                .map_err(|_| codes::COORDINATOR_NOT_AVAILABLE)?;
            coordinator
                .ensure_loaded(partition, &log)
                .await
                .map_err(|_| codes::COORDINATOR_LOAD_IN_PROGRESS)?;
            if coordinator.txns.borrow().len() >= TXNS_PER_SHARD_MAX {
                return Err(codes::COORDINATOR_NOT_AVAILABLE);
            }
            coordinator.start_ticker(shard.clone(), config.txn_partitions);
            f(coordinator.clone(), log, shard).await
        })
        .await;
    result.unwrap_or(Err(codes::COORDINATOR_NOT_AVAILABLE))
}
