//! One shard: the partitions it owns, its copy of the cluster metadata image, the services
//! that live on it (the coordinators), its clock, and the way to run work on another shard.
//!
//! All state here belongs to the shard's own thread. Other shards reach it only by sending a
//! [`Job`] over the channel mesh; the job runs here and its result travels back through a
//! oneshot channel. Payloads inside a job (`bytes::Bytes`) move by pointer. Handlers reach
//! partitions only through the typed API in [`crate::partitions`].

use crate::cluster::{ClusterConfig, ClusterNode};
use crate::error::ShardError;
use crate::table::{self, ShardId};
use crate::topic_config;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use glommio::channels::channel_mesh::Senders;
use glommio::sync::Semaphore;
use myelin_replication::cluster::image::{MetadataImage, TopicImage};
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use myelin_replication::partition::ReplicationConfig;
use myelin_replication::types::TopicId;
use myelin_replication::{Assignment, Clock, NodeId, Partition};
use myelin_storage::LogConfig;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Work sent to another shard: a closure that runs there with that shard's state.
pub type Job = Box<dyn FnOnce(Rc<Shard>) -> LocalBoxFuture<'static, ()> + Send>;

/// Node-wide settings every shard reads.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This broker's id (`node.id`).
    pub node_id: i32,
    /// Root of the data directory.
    pub data_dir: PathBuf,
    /// Log settings for topics that do not override them.
    pub log_defaults: LogConfig,
    /// Partitions of an automatically created topic.
    pub default_partitions: i32,
    /// Create unknown topics on Metadata and Produce, as Kafka's `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// How often retention runs over every partition.
    pub housekeeping_interval_ms: u64,
    /// This node's place in the cluster.
    pub cluster: ClusterConfig,
}

struct OwnedPartition {
    topic_id: TopicId,
    partition: Rc<Partition>,
}

/// What [`Shard::on_metadata`] calls.
pub type MetadataListener = Rc<dyn Fn(&Rc<Shard>)>;

/// One shard's state.
pub struct Shard {
    /// This shard's index.
    pub id: ShardId,
    /// Number of shards in the process.
    pub count: usize,
    /// Node-wide settings.
    pub node: Arc<NodeConfig>,
    senders: Senders<Job>,
    metadata: RefCell<Arc<MetadataImage>>,
    metadata_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Called after every metadata image this shard applies (coordinators following the
    /// leadership of their partitions).
    metadata_listeners: RefCell<Vec<MetadataListener>>,
    partitions: RefCell<HashMap<(String, i32), OwnedPartition>>,
    services: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    clock: Rc<dyn Clock>,
    /// Serialises metadata installs on this shard (each spans awaits: opening partitions).
    installing: Semaphore,
    installed_once: std::cell::Cell<bool>,
    stopping: Arc<AtomicBool>,
    /// The node's cluster work (shard 0 only).
    cluster: RefCell<Option<Rc<ClusterNode>>>,
    /// The active controller as shard 0 last said, with the image.
    controller_leader: std::cell::Cell<NodeId>,
}

/// Where the single node's topic catalog lived before cluster metadata (read once, to import
/// it into a new metadata log).
pub fn catalog_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("meta").join("catalog.rkyv")
}

/// Directory of one partition's log.
pub fn partition_dir(data_dir: &std::path::Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join("topics").join(format!("{topic}-{partition}"))
}

impl Shard {
    pub(crate) fn new(
        id: ShardId,
        count: usize,
        node: Arc<NodeConfig>,
        senders: Senders<Job>,
        stopping: Arc<AtomicBool>,
        clock: Rc<dyn Clock>,
    ) -> Shard {
        Shard {
            id,
            count,
            node,
            senders,
            metadata: RefCell::new(Arc::new(MetadataImage::new())),
            metadata_waiters: RefCell::new(Vec::new()),
            metadata_listeners: RefCell::new(Vec::new()),
            partitions: RefCell::new(HashMap::new()),
            services: RefCell::new(HashMap::new()),
            clock,
            installing: Semaphore::new(1),
            installed_once: std::cell::Cell::new(false),
            stopping,
            cluster: RefCell::new(None),
            controller_leader: std::cell::Cell::new(NodeId::NONE),
        }
    }

    /// Runs `f` on shard `target` and returns its result. On this shard it runs inline; on
    /// another it travels over the mesh.
    pub async fn invoke_on<R, F, Fut>(
        self: &Rc<Self>,
        target: ShardId,
        f: F,
    ) -> Result<R, ShardError>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        if target == self.id {
            return Ok(f(self.clone()).await);
        }
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |shard| {
            Box::pin(async move {
                let _ = tx.send(f(shard).await);
            })
        });
        if self.senders.send_to(target.0, job).await.is_err() {
            return Err(ShardError::Unreachable(target.0));
        }
        rx.await.map_err(|_| ShardError::Unreachable(target.0))
    }

    /// Stops every shard of this node (they all watch the same flag).
    pub fn stop_now(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Resolves when shutdown begins.
    pub async fn stopped(&self) {
        while !self.is_stopping() {
            glommio::timer::sleep(Duration::from_millis(crate::limits::STOP_CHECK_MS)).await;
        }
    }

    /// This shard's copy of the cluster metadata image.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.metadata.borrow().clone()
    }

    /// Resolves once this shard has installed its first metadata image.
    pub async fn first_metadata(&self) {
        if self.installed_once.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.metadata_waiters.borrow_mut().push(tx);
        let _ = rx.await;
    }

    /// The active controller as this shard last heard (with its latest image).
    pub fn controller_leader(&self) -> NodeId {
        self.controller_leader.get()
    }

    pub(crate) fn set_controller_leader(&self, leader: NodeId) {
        self.controller_leader.set(leader);
    }

    /// The node's cluster work, on shard 0.
    pub fn cluster(&self) -> Option<Rc<ClusterNode>> {
        self.cluster.borrow().clone()
    }

    pub(crate) fn set_cluster(&self, node: Rc<ClusterNode>) {
        *self.cluster.borrow_mut() = Some(node);
    }

    /// Runs `f` with the node's cluster work on shard 0.
    pub async fn on_cluster<R, F, Fut>(self: &Rc<Self>, f: F) -> Result<R, ShardError>
    where
        R: Send + 'static,
        F: FnOnce(Rc<ClusterNode>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        self.invoke_on(ShardId(0), move |s| async move {
            match s.cluster() {
                Some(c) => Ok(f(c).await),
                None => Err(ShardError::Runtime("the cluster is not started".into())),
            }
        })
        .await?
    }

    /// Sends a request to the active controller and waits until every shard of this node
    /// serves from an image that includes its outcome.
    pub async fn controller(
        self: &Rc<Self>,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        match self
            .on_cluster(move |c| async move { c.call(request).await })
            .await
        {
            Ok(r) => r,
            Err(e) => Err(ControllerError::NotCommitted(e.to_string())),
        }
    }

    /// The shard owning a partition.
    pub fn owner(&self, topic: &str, partition: i32) -> ShardId {
        table::owner(topic, partition, self.count)
    }

    /// This broker's id.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.node.node_id)
    }

    /// The shard's clock: every state machine on it takes time from here.
    pub fn clock(&self) -> Rc<dyn Clock> {
        self.clock.clone()
    }

    /// Milliseconds since the epoch, by the shard's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A partition this shard owns.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Rc<Partition>, ShardError> {
        self.partitions
            .borrow()
            .get(&(topic.to_string(), partition))
            .map(|o| o.partition.clone())
            .ok_or(ShardError::UnknownTopicOrPartition)
    }

    /// The partitions this shard owns.
    pub fn partitions(&self) -> Vec<Rc<Partition>> {
        self.partitions
            .borrow()
            .values()
            .map(|o| o.partition.clone())
            .collect()
    }

    /// Installs a service that lives on this shard (a coordinator); one per type.
    pub fn install<T: 'static>(&self, service: Rc<T>) {
        self.services
            .borrow_mut()
            .insert(TypeId::of::<T>(), service as Rc<dyn Any>);
    }

    /// Calls `listener` after each metadata image this shard applies, once its partitions
    /// have their new assignments.
    pub fn on_metadata(&self, listener: MetadataListener) {
        self.metadata_listeners.borrow_mut().push(listener);
    }

    /// The service of type `T` on this shard, if installed.
    pub fn service<T: 'static>(&self) -> Option<Rc<T>> {
        let any = self.services.borrow().get(&TypeId::of::<T>())?.clone();
        any.downcast::<T>().ok()
    }

    /// The effective log config of a topic.
    pub fn topic_log_config(&self, topic: &TopicImage) -> Result<LogConfig, ShardError> {
        Ok(topic_config::log_config(
            &self.node.log_defaults,
            &topic.configs,
        )?)
    }

    /// Installs a new metadata image: opens the partitions this shard now hosts, gives every
    /// hosted partition its assignment (leader, epoch, ISR) and configs, and closes and
    /// deletes those whose topic is gone or that no longer have a replica here.
    pub async fn apply_metadata(
        self: &Rc<Self>,
        next: Arc<MetadataImage>,
    ) -> Result<(), ShardError> {
        let _permit = self
            .installing
            .acquire_permit(1)
            .await
            .map_err(|e| ShardError::Runtime(e.to_string()))?;
        if next.version() < self.metadata.borrow().version() {
            return Ok(());
        }
        *self.metadata.borrow_mut() = next.clone();
        let me = self.node_id();
        // Close what is gone first, so a re-created topic of the same name starts empty.
        let gone: Vec<((String, i32), OwnedPartition)> = {
            let mut owned = self.partitions.borrow_mut();
            let keys: Vec<_> = owned
                .iter()
                .filter(|((t, p), o)| {
                    next.topic(t).is_none_or(|m| {
                        m.id != o.topic_id
                            || m.partitions
                                .get(*p as usize)
                                .is_none_or(|a| !a.replicas.contains(&me))
                    })
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| owned.remove(&k).map(|o| (k, o)))
                .collect()
        };
        for ((topic, partition), owned) in gone {
            if let Err(e) = owned.partition.close().await {
                tracing::warn!(topic, partition, "closing removed partition: {e}");
            }
            let dir = owned.partition.dir().to_path_buf();
            drop(owned);
            let trash = trash_dir(&self.node.data_dir);
            glommio::executor()
                .spawn_blocking(move || retire_partition_dir(&dir, &trash))
                .await
                .ok();
        }
        let mut opening = Vec::new();
        for topic in next.topics() {
            let config = self.topic_log_config(topic)?;
            for (p, placed) in topic.partitions.iter().enumerate() {
                let p = p as i32;
                if !placed.replicas.contains(&me) || self.owner(&topic.name, p) != self.id {
                    continue;
                }
                let assignment = Assignment {
                    replicas: placed.replicas.clone(),
                    isr: placed.isr.clone(),
                    leader: placed.leader,
                    leader_epoch: placed.leader_epoch,
                    partition_epoch: placed.partition_epoch,
                };
                let replication = ReplicationConfig {
                    min_insync_replicas: config.min_insync_replicas.max(1) as usize,
                    replica_lag_time_max_ms: self.node.cluster.replica_lag_time_max_ms as i64,
                };
                let key = (topic.name.clone(), p);
                let existing = self
                    .partitions
                    .borrow()
                    .get(&key)
                    .map(|o| o.partition.clone());
                match existing {
                    Some(partition) => {
                        partition.set_config(config.clone());
                        partition.configure(replication);
                        partition.assign(assignment);
                    }
                    None => {
                        let dir = partition_dir(&self.node.data_dir, &topic.name, p);
                        let (config, topic_id) = (config.clone(), topic.id);
                        let clock = self.clock.clone();
                        opening.push(async move {
                            let opened = Partition::open(
                                &key.0, topic_id, key.1, dir, config, me, assignment, clock,
                            )
                            .await;
                            (key, topic_id, replication, opened)
                        });
                    }
                }
            }
        }
        // Logs open concurrently: after a crash each scans its active segment, and several
        // scans in flight keep the disk busy instead of waiting on one at a time; a bounded
        // number, so their scan buffers do not add up to gigabytes.
        let opened: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
            futures::stream::iter(opening),
            crate::limits::PARTITION_OPENS_IN_FLIGHT,
        ))
        .await;
        for (key, topic_id, replication, opened) in opened {
            let partition = opened?;
            partition.set_env(Rc::new(crate::replicas::PartitionEnv::new(
                self, &key.0, key.1,
            )));
            partition.configure(replication);
            partition.replication_tick();
            self.partitions.borrow_mut().insert(
                key,
                OwnedPartition {
                    topic_id,
                    partition,
                },
            );
        }
        self.installed_once.set(true);
        for w in self.metadata_waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
        let listeners = self.metadata_listeners.borrow().clone();
        for listener in listeners {
            listener(self);
        }
        Ok(())
    }

    /// A producer id never handed out before in this cluster.
    pub async fn allocate_producer_id(self: &Rc<Self>) -> Result<i64, ShardError> {
        self.on_cluster(|c| async move { c.allocate_producer_id().await })
            .await?
            .map_err(ShardError::Controller)
    }

    /// Flushes and closes every partition this shard owns.
    pub async fn close_partitions(&self) {
        let owned: Vec<OwnedPartition> = self
            .partitions
            .borrow_mut()
            .drain()
            .map(|(_, o)| o)
            .collect();
        for o in owned {
            if let Err(e) = o.partition.close().await {
                tracing::error!(dir = %o.partition.dir().display(), "close failed: {e}");
            }
        }
    }

    /// Applies retention and compaction to every owned partition.
    pub async fn housekeeping(&self) {
        for partition in self.partitions() {
            partition.housekeeping().await;
        }
    }
}

/// Where the segment files of deleted partitions wait for the reaper.
pub fn trash_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join(".deleting")
}

/// Deletes a partition's directory without a burst of I/O: its segment files move to the
/// trash directory and go to the storage reaper, which gives their space back in steps;
/// the rest (indexes, markers) is removed at once.
fn retire_partition_dir(dir: &std::path::Path, trash: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(trash)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "log") {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let to = trash.join(format!("{prefix}-{stamp}-{name}"));
            std::fs::rename(&path, &to)?;
            myelin_storage::fs::reaper::reap(to);
        }
    }
    std::fs::remove_dir_all(dir)
}

/// Hands what the trash directory still holds (deletions a stop interrupted) to the reaper.
pub fn empty_trash(data_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(trash_dir(data_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        myelin_storage::fs::reaper::reap(entry.path());
    }
}

/// Writes a file through a temporary, fsyncs it and its directory.
pub fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
