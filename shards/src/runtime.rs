//! Start-up and shutdown of the shards: one glommio executor per core, pinned, joined by a
//! channel mesh built once and kept for the life of the process.

use crate::error::ShardError;
use crate::limits;
use crate::shard::{catalog_path, Job, NodeConfig, Shard};
use crate::table::ShardId;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use myelin_replication::cluster::records::{MetadataRecord, PartitionAssignment};
use myelin_replication::types::{NodeId, TopicId};
use myelin_replication::Catalog;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the shards run.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Number of shards; 0 means one per available core.
    pub shards: usize,
    /// Pin each shard to its own core.
    pub pin: bool,
    /// How long an idle shard polls before it parks (ignored when not pinned).
    pub spin_before_park: Duration,
}

/// A handle to stop running shards from another thread.
#[derive(Clone)]
pub struct StopHandle {
    /// Shutdown was asked for: the node first hands its leaderships over.
    requested: Arc<AtomicBool>,
    /// Every shard stops serving and closes its partitions.
    stopping: Arc<AtomicBool>,
}

impl StopHandle {
    /// Begins an orderly shutdown: a controlled shutdown first (leadership moves to other
    /// in-sync replicas, bounded in time), then the shards stop. Asked a second time, the
    /// shards stop at once.
    pub fn stop(&self) {
        if self.requested.swap(true, Ordering::Relaxed) {
            self.stopping.store(true, Ordering::Relaxed);
        }
    }
}

/// On shard 0: waits for a shutdown request, runs the controlled shutdown, then stops
/// every shard.
async fn stop_when_asked(shard: Rc<Shard>, requested: Arc<AtomicBool>) {
    while !requested.load(Ordering::Relaxed) && !shard.is_stopping() {
        glommio::timer::sleep(Duration::from_millis(limits::STOP_CHECK_MS)).await;
    }
    if let Some(cluster) = shard.cluster() {
        cluster.controlled_shutdown().await;
    }
    shard.stop_now();
}

/// The records that import a single node's older topic catalog (`meta/catalog.rkyv`, and
/// the producer ids it handed out) into a new metadata log, so an upgraded node keeps its
/// topics, their ids and their data. Empty when there is nothing to import or the metadata
/// log already exists.
pub fn legacy_catalog_records(
    data_dir: &std::path::Path,
    node_id: i32,
) -> Result<Vec<MetadataRecord>, ShardError> {
    if data_dir.join("meta").join("quorum").exists() {
        return Ok(Vec::new());
    }
    let catalog = match std::fs::read(catalog_path(data_dir)) {
        Ok(bytes) => Catalog::from_bytes(&bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ShardError::Storage(e.into())),
    };
    let me = NodeId(node_id);
    let mut records: Vec<MetadataRecord> = catalog
        .topics
        .values()
        .map(|t| MetadataRecord::CreateTopic {
            name: t.name.clone(),
            id: TopicId(t.id),
            configs: t.configs.clone(),
            partitions: (0..t.partitions)
                .map(|_| PartitionAssignment::new(vec![me]))
                .collect(),
        })
        .collect();
    // Producer ids the old node reserved are never handed out again.
    let reserved = std::fs::read_to_string(data_dir.join("meta").join("producer_ids"))
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|n| *n > 0);
    if let Some(n) = reserved {
        records.push(MetadataRecord::ProducerIdBlock {
            broker: me,
            start: 0,
            len: n,
        });
    }
    Ok(records)
}

/// Raises the locked-memory limit as far as permitted and returns the io_memory each of
/// `shards` executors can register.
pub fn io_memory_per_shard(shards: usize) -> usize {
    let want = (limits::IO_MEMORY_BYTES * shards + (4 << 20)) as libc::rlim_t;
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) == 0 && lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max.max(want),
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) != 0 {
                let soft = libc::rlimit {
                    rlim_cur: lim.rlim_max.min(want),
                    rlim_max: lim.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &soft);
            }
            libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim);
        }
        let per_shard = (lim.rlim_cur as usize).saturating_sub(1 << 20) / shards.max(1);
        let io_memory = per_shard.min(limits::IO_MEMORY_BYTES);
        if io_memory < limits::IO_MEMORY_BYTES {
            tracing::warn!(
                memlock = lim.rlim_cur,
                io_memory,
                "locked-memory limit is low; io_memory per shard reduced (raise `ulimit -l`)"
            );
        }
        io_memory.max(limits::IO_MEMORY_BYTES_MIN)
    }
}

/// Starts the shards and runs `serve` on each until [`StopHandle::stop`]; then waits for
/// `serve` to return and closes every log. `on_started` receives the stop handle once all
/// shards are up.
pub fn run<S, Fut>(
    node: NodeConfig,
    config: RuntimeConfig,
    serve: S,
    on_started: impl FnOnce(StopHandle),
) -> Result<(), ShardError>
where
    S: Fn(Rc<Shard>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    crate::shard::empty_trash(&node.data_dir);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let count = match config.shards {
        0 => cores.len().max(1),
        n => n,
    }
    .min(limits::SHARDS_MAX);
    let io_memory = io_memory_per_shard(count);
    let node = Arc::new(node);
    let stopping = Arc::new(AtomicBool::new(false));
    let requested = Arc::new(AtomicBool::new(false));
    let draining = Arc::new(std::sync::atomic::AtomicUsize::new(count));
    let mesh: MeshBuilder<Job, glommio::channels::channel_mesh::Full> =
        MeshBuilder::full(count, limits::MESH_CHANNEL_CAPACITY);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let placement = match cores.get(i % cores.len().max(1)) {
            Some(core) if config.pin && count <= cores.len() => Placement::Fixed(core.id),
            _ => Placement::Unbound,
        };
        let (requested, draining) = (requested.clone(), draining.clone());
        let (mesh, node, stopping, serve, ready) = (
            mesh.clone(),
            node.clone(),
            stopping.clone(),
            serve.clone(),
            ready_tx.clone(),
        );
        let builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .io_memory(io_memory)
            .spin_before_park(config.spin_before_park);
        let handle = builder
            .spawn(move || async move {
                myelin_metrics::record(|m| m.io_memory_bytes.set(io_memory as u64));
                let shard = match start_shard(mesh, node, stopping, count).await {
                    Ok(s) => s,
                    Err(e) => {
                        draining.fetch_sub(1, Ordering::AcqRel);
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                // Shard 0 runs the node's cluster work; every shard serves only once the
                // first metadata image is installed on it.
                if shard.id == ShardId(0) {
                    let config = shard.node.cluster.clone();
                    match crate::cluster::ClusterNode::start(&shard, config).await {
                        Ok(_) => {}
                        Err(e) => {
                            draining.fetch_sub(1, Ordering::AcqRel);
                            let _ = ready.send(Err(e.to_string()));
                            return;
                        }
                    }
                    glommio::spawn_local(stop_when_asked(shard.clone(), requested)).detach();
                }
                shard.first_metadata().await;
                let _ = ready.send(Ok(()));
                // Retention and compaction share the core with produce and fetch, at a
                // small share: they may take long, but never from the latency path.
                let background = glommio::executor().create_task_queue(
                    glommio::Shares::Static(limits::HOUSEKEEPING_SHARES),
                    glommio::Latency::NotImportant,
                    "housekeeping",
                );
                let housekeeping = glommio::spawn_local_into(
                    {
                        let shard = shard.clone();
                        async move {
                            let every = Duration::from_millis(
                                shard
                                    .node
                                    .housekeeping_interval_ms
                                    .max(limits::HOUSEKEEPING_STEP_MS),
                            );
                            while !shard.is_stopping() {
                                glommio::timer::sleep(Duration::from_millis(
                                    limits::HOUSEKEEPING_STEP_MS,
                                ))
                                .await;
                                let t0 = std::time::Instant::now();
                                shard.housekeeping().await;
                                let mut waited = t0.elapsed();
                                while waited < every && !shard.is_stopping() {
                                    glommio::timer::sleep(Duration::from_millis(
                                        limits::HOUSEKEEPING_STEP_MS,
                                    ))
                                    .await;
                                    waited += Duration::from_millis(limits::HOUSEKEEPING_STEP_MS);
                                }
                            }
                        }
                    },
                    background,
                );
                serve(shard.clone()).await;
                if let Ok(task) = housekeeping {
                    task.await;
                }
                // Every shard keeps answering the others until all have drained their
                // connections: a request finishing on one shard may still need another.
                draining.fetch_sub(1, Ordering::AcqRel);
                while draining.load(Ordering::Acquire) > 0 {
                    glommio::timer::sleep(Duration::from_millis(limits::STOP_CHECK_MS)).await;
                }
                shard.close_partitions().await;
                tracing::debug!(shard = shard.id.0, "shard stopped");
            })
            .map_err(|e| ShardError::Runtime(e.to_string()))?;
        handles.push(handle);
    }
    drop(ready_tx);
    let mut failure = None;
    for _ in 0..count {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a shard exited during start-up".into()),
        }
    }
    if let Some(e) = failure {
        stopping.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        return Err(ShardError::Runtime(e));
    }
    on_started(StopHandle {
        requested,
        stopping,
    });
    for h in handles {
        h.join().map_err(|e| ShardError::Runtime(e.to_string()))?;
    }
    Ok(())
}

async fn start_shard(
    mesh: MeshBuilder<Job, glommio::channels::channel_mesh::Full>,
    node: Arc<NodeConfig>,
    stopping: Arc<AtomicBool>,
    count: usize,
) -> Result<Rc<Shard>, ShardError> {
    let (senders, mut receivers) = mesh
        .join()
        .await
        .map_err(|_| ShardError::Runtime("joining the shard mesh failed".into()))?;
    let id = ShardId(senders.peer_id());
    let shard = Rc::new(Shard::new(
        id,
        count,
        node,
        senders,
        stopping,
        Rc::new(myelin_replication::SystemClock),
    ));
    for (_, receiver) in receivers.streams() {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            while let Some(job) = receiver.recv().await {
                glommio::spawn_local(job(shard.clone())).detach();
            }
        })
        .detach();
    }
    Ok(shard)
}
