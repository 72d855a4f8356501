//! Replication on this shard: the shard's replication listener and connections
//! (`replication::replica::net::ReplicaNet`, a service of the shard), the router that hands
//! what arrives to the shard's partitions, the environment each replicated partition uses to
//! reach its followers and the controller, and the ticker that drives them.
//!
//! A follower's replica of a partition lives on the follower's shard that the shard table
//! names for it (with the follower's own shard count), so the leader dials that shard's
//! listener: every shard registers its port as a `REPLICATION-<shard>` endpoint of its broker.

use crate::shard::Shard;
use bytes::Bytes;
use myelin_replication::controller::ControllerRequest;
use myelin_replication::partition::ReplicaEnv;
use myelin_replication::replica::net::{Conn, ReplicaNet, Router};
use myelin_replication::replica::wire::ReplicaMessage;
use myelin_replication::{LeaderEpoch, NodeId};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// How often replicated partitions check their ISR and ask silent followers.
pub const REPLICATION_TICK_MS: u64 = 100;

/// The name prefix of a broker's replication endpoints (one per shard).
pub const REPLICATION_ENDPOINT: &str = "REPLICATION-";

/// Delivers replication frames to this shard's partitions.
struct ShardRouter {
    shard: Weak<Shard>,
}

impl Router for ShardRouter {
    fn deliver(&self, from: NodeId, message: ReplicaMessage, records: Bytes, conn: Rc<Conn>) {
        let Some(shard) = self.shard.upgrade() else {
            return;
        };
        let Some((topic, partition)) = message.partition() else {
            return;
        };
        let image = shard.metadata();
        let Some(name) = image.topic_by_id(topic).map(|t| t.name.clone()) else {
            return;
        };
        let Ok(p) = shard.partition(&name, partition) else {
            return;
        };
        // Spawned in arrival order, and a partition takes a batch before its first await,
        // so batches land in the order they came.
        glommio::spawn_local(async move {
            p.deliver(from, message, records, conn).await;
        })
        .detach();
    }

    fn lost(&self, peer: NodeId, _shard: u16) {
        if let Some(shard) = self.shard.upgrade() {
            for p in shard.partitions() {
                if p.is_replicated() {
                    p.peer_lost(peer);
                }
            }
        }
    }
}

/// What one replicated partition uses to reach its followers and the controller.
pub struct PartitionEnv {
    shard: Weak<Shard>,
    topic: String,
    partition: i32,
}

impl PartitionEnv {
    /// The environment of `topic`/`partition` on `shard`.
    pub fn new(shard: &Rc<Shard>, topic: &str, partition: i32) -> PartitionEnv {
        PartitionEnv {
            shard: Rc::downgrade(shard),
            topic: topic.to_string(),
            partition,
        }
    }
}

impl ReplicaEnv for PartitionEnv {
    fn follower(&self, follower: NodeId) -> Option<Rc<Conn>> {
        let shard = self.shard.upgrade()?;
        let net = shard.service::<ReplicaNet>()?;
        let image = shard.metadata();
        let broker = image.broker(follower)?;
        let endpoints: Vec<_> = broker
            .listeners
            .iter()
            .filter(|e| e.name.starts_with(REPLICATION_ENDPOINT))
            .collect();
        if endpoints.is_empty() {
            return None;
        }
        let target = crate::table::owner(&self.topic, self.partition, endpoints.len()).0;
        let name = format!("{REPLICATION_ENDPOINT}{target}");
        let e = endpoints.iter().find(|e| e.name == name)?;
        let addr = format!("{}:{}", e.host, e.port);
        net.connection(follower, target as u16, &addr)
    }

    fn alter_isr(&self, isr: Vec<NodeId>, leader_epoch: LeaderEpoch, partition_epoch: i32) {
        let Some(shard) = self.shard.upgrade() else {
            return;
        };
        let image = shard.metadata();
        let Some(topic) = image.topic(&self.topic).map(|t| t.id) else {
            return;
        };
        let partition = self.partition;
        let me = shard.node_id();
        glommio::spawn_local(async move {
            let r = shard
                .on_cluster(move |c| async move {
                    let Some(broker_epoch) = c.broker_epoch() else {
                        return Err(
                            myelin_replication::error::ControllerError::BrokerIdNotRegistered(me),
                        );
                    };
                    c.call(ControllerRequest::AlterPartition {
                        broker: me,
                        broker_epoch,
                        topic,
                        partition,
                        leader_epoch,
                        partition_epoch,
                        isr,
                    })
                    .await
                })
                .await;
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(partition, "ISR change refused: {e}"),
                Err(e) => tracing::debug!(partition, "ISR change not sent: {e}"),
            }
        })
        .detach();
    }
}

/// Starts this shard's replication network (once) and returns its listener's port.
pub fn start(shard: &Rc<Shard>) -> Result<u16, crate::ShardError> {
    if let Some(net) = shard.service::<ReplicaNet>() {
        return Ok(net.port());
    }
    let cluster = &shard.node.cluster;
    let net = ReplicaNet::new(
        NodeId(cluster.node_id),
        shard.id.0 as u16,
        cluster.cluster_id,
    );
    net.set_router(Rc::new(ShardRouter {
        shard: Rc::downgrade(shard),
    }));
    let port = net
        .listen(cluster.replication_host)
        .map_err(|e| crate::ShardError::Runtime(format!("replication listener: {e}")))?;
    shard.install(net.clone());
    let s = shard.clone();
    glommio::spawn_local(async move {
        while !s.is_stopping() {
            glommio::timer::sleep(Duration::from_millis(REPLICATION_TICK_MS)).await;
            for p in s.partitions() {
                if p.is_replicated() {
                    p.replication_tick();
                }
            }
        }
        net.stop();
    })
    .detach();
    Ok(port)
}
