//! The group and transaction coordinators of Myelin.
//!
//! Each is a sans-IO state machine ([`group::state`], [`txn::state`]) with a thin shell that
//! lives on the shard owning its internal partition (`__consumer_offsets`,
//! `__transaction_state`), installed there as a shard service and driven by the shard's
//! clock. The shells write through the partition API (`myelin_replication::Partition`), so
//! their topics are stored, and later replicated, like any other. Nothing here depends on
//! the Kafka endpoint's request context: handlers call in with plain values.

pub mod codes;
pub mod group;
pub mod internal_log;
pub mod loads;
pub mod peer;
pub mod txn;

use std::rc::Rc;

/// Installs both coordinators on a shard with their settings. Called once per shard at
/// start-up, before any request is served.
pub fn install(shard: &Rc<myelin_shards::Shard>, config: group::coordinator::CoordinatorConfig) {
    shard.install(Rc::new(group::coordinator::Coordinator::new(
        config,
        shard.clock(),
    )));
    shard.install(Rc::new(txn::coordinator::TxnCoordinator::new(config)));
    shard.on_metadata(Rc::new(|shard: &Rc<myelin_shards::Shard>| {
        if let Ok(groups) = group::coordinator::of(shard) {
            groups.reconcile(shard);
        }
        let shard = shard.clone();
        glommio::spawn_local(async move { txn::coordinator::recover(&shard).await }).detach();
    }));
}

/// Fails with NOT_COORDINATOR unless this broker leads `partition` of the internal `topic`
/// (COORDINATOR_NOT_AVAILABLE while the topic does not exist or the partition has no
/// leader), so a client that asked the wrong broker looks the coordinator up again.
pub fn check_leads(shard: &myelin_shards::Shard, topic: &str, partition: i32) -> Result<(), i16> {
    let image = shard.metadata();
    let leader = image
        .topic(topic)
        .and_then(|t| t.partitions.get(partition as usize))
        .map(|p| p.leader)
        .ok_or(codes::COORDINATOR_NOT_AVAILABLE)?;
    if leader == shard.node_id() {
        Ok(())
    } else if leader.is_some() {
        Err(codes::NOT_COORDINATOR)
    } else {
        Err(codes::COORDINATOR_NOT_AVAILABLE)
    }
}
