//! This node's place in the cluster, run on shard 0: the controller shell when the node is a
//! controller (`process.roles` includes `controller`), the broker's registration and
//! heartbeats with the active controller, the metadata image the node serves from (the local
//! controller's committed image, or a copy fetched from the controllers on a broker-only
//! node), and installing each new image on every shard.
//!
//! Requests to the controller from any shard go through [`ClusterNode::call`]: to the local
//! shell while it is the active controller, otherwise over the transport to the leader it
//! knows (or, not knowing, to each voter in turn), retried until a deadline. An answer is
//! returned only once this node's shards all serve from an image that includes it, so a
//! client that created a topic through this broker finds it here at once.

use crate::shard::Shard;
use crate::table::ShardId;
use futures::channel::oneshot;
use myelin_replication::cluster::image::MetadataImage;
use myelin_replication::cluster::records::{Endpoint, MetadataRecord};
use myelin_replication::cluster::replica::MetadataReplica;
use myelin_replication::controller::{ControllerConfig, ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use myelin_replication::metadata_node::MetadataNodeConfig;
use myelin_replication::quorum::frame::{Frame, FrameKind};
use myelin_replication::quorum::node::{QuorumConfig, QuorumStatus};
use myelin_replication::quorum::rpc::{self, FetchMetadata, MetadataAnswer, Payload, RpcRequest};
use myelin_replication::quorum::shell::{Committed, ControllerShell, TICK_MS};
use myelin_replication::quorum::transport::Transport;
use myelin_replication::types::{BrokerEpoch, NodeId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a request to the controller is retried before it fails (the Kafka client's
/// request timeout is 30 s; admin tools wait about as long).
pub const CONTROLLER_CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// How long one attempt at a remote controller may take before another is tried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// Wait between attempts while there is no active controller (an election).
const RETRY_MS: u64 = 100;

/// How often a broker-only node asks for new metadata once it has caught up.
const FETCH_IDLE_MS: u64 = 200;

/// How long a controlled shutdown waits for the controller to move leadership away.
const CONTROLLED_SHUTDOWN_MS: u64 = 5_000;

/// A voter of the metadata quorum (`controller.quorum.voters`: `id@host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterAddr {
    /// Its `node.id`.
    pub id: i32,
    /// Host of its controller listener.
    pub host: String,
    /// Port of its controller listener.
    pub port: u16,
}

/// This node's cluster settings, under Kafka's names.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `node.id`.
    pub node_id: i32,
    /// `process.roles` includes `broker`.
    pub broker: bool,
    /// `process.roles` includes `controller`.
    pub controller: bool,
    /// `controller.quorum.voters`; empty: this node alone, with no controller listener.
    pub voters: Vec<VoterAddr>,
    /// Where this node's controller listener binds, when it has one.
    pub controller_listen: Option<SocketAddr>,
    /// The client listeners this broker advertises.
    pub listeners: Vec<Endpoint>,
    /// Where every shard's replication listener binds (an ephemeral port each, registered
    /// as `REPLICATION-<shard>` endpoints at the first client listener's host).
    pub replication_host: std::net::IpAddr,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: u64,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `num.partitions`.
    pub default_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` of topics that do not set it.
    pub default_min_insync_replicas: i32,
    /// `unclean.leader.election.enable` of topics that do not set it.
    pub unclean_leader_election: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`, in milliseconds.
    pub leader_imbalance_check_interval_ms: u64,
    /// The cluster id frames carry and the first leader writes.
    pub cluster_id: [u8; 16],
    /// Records a new log starts with after its cluster id (an older catalog's import).
    pub initial_records: Vec<MetadataRecord>,
}

impl ClusterConfig {
    /// The voters as node ids; this node alone when none are configured.
    pub fn voter_ids(&self) -> Vec<NodeId> {
        if self.voters.is_empty() {
            vec![NodeId(self.node_id)]
        } else {
            self.voters.iter().map(|v| NodeId(v.id)).collect()
        }
    }
}

/// A producer-id block being handed out: `[next, end)`.
#[derive(Debug, Clone, Copy, Default)]
struct IdBlock {
    next: i64,
    end: i64,
}

/// This node in the cluster (on shard 0).
pub struct ClusterNode {
    config: ClusterConfig,
    me: NodeId,
    transport: Rc<Transport>,
    controller: Option<Rc<ControllerShell>>,
    replica: RefCell<MetadataReplica>,
    image: RefCell<Arc<MetadataImage>>,
    image_changed: RefCell<Vec<oneshot::Sender<()>>>,
    installed: Cell<u64>,
    installed_once: Cell<bool>,
    installed_waiters: RefCell<Vec<(u64, oneshot::Sender<()>)>>,
    rpcs: RefCell<HashMap<u64, oneshot::Sender<rpc::RpcResponse>>>,
    fetches: RefCell<HashMap<u64, oneshot::Sender<MetadataAnswer>>>,
    next_rpc: Cell<u64>,
    leader_hint: Cell<NodeId>,
    next_voter: Cell<usize>,
    incarnation: [u8; 16],
    broker_epoch: Cell<Option<BrokerEpoch>>,
    registered: RefCell<Vec<oneshot::Sender<()>>>,
    fenced: Cell<bool>,
    unfenced: RefCell<Vec<oneshot::Sender<()>>>,
    ids: Cell<IdBlock>,
    id_lock: glommio::sync::Semaphore,
    replication_endpoints: RefCell<Vec<Endpoint>>,
}

fn random_bytes() -> [u8; 16] {
    myelin_replication::rng::SplitMix64::from_entropy().uuid()
}

impl ClusterNode {
    /// Starts this node's cluster work on shard 0: the controller shell and its listener
    /// (controllers), the metadata source, the installer, the broker's registration and
    /// heartbeats (brokers). Returns once every shard serves from the first image.
    pub async fn start(
        shard: &Rc<Shard>,
        config: ClusterConfig,
    ) -> Result<Rc<ClusterNode>, crate::ShardError> {
        let me = NodeId(config.node_id);
        let peers = config
            .voters
            .iter()
            .map(|v| (NodeId(v.id), format!("{}:{}", v.host, v.port)));
        let transport = Transport::new(me, config.cluster_id, peers);
        let controller = if config.controller {
            let mut quorum = QuorumConfig::new(me, config.voter_ids());
            quorum.jitter_seed = myelin_replication::rng::SplitMix64::from_entropy().next_u64();
            let mut controller = ControllerConfig::new(config.cluster_id);
            controller.session_timeout_ms = config.session_timeout_ms;
            controller.default_partitions = config.default_partitions;
            controller.default_replication_factor = config.default_replication_factor;
            controller.default_min_insync_replicas = config.default_min_insync_replicas;
            controller.unclean_leader_election = config.unclean_leader_election;
            controller.auto_leader_rebalance = config.auto_leader_rebalance;
            controller.leader_imbalance_check_interval_ms =
                config.leader_imbalance_check_interval_ms;
            let node_config = MetadataNodeConfig {
                quorum,
                controller,
                id_seed: myelin_replication::rng::SplitMix64::from_entropy().next_u64(),
                initial_records: config.initial_records.clone(),
            };
            let dir = shard.node.data_dir.join("meta").join("quorum");
            let shell = ControllerShell::open(node_config, &dir, transport.clone(), shard.clock())
                .map_err(|e| crate::ShardError::Runtime(format!("metadata quorum: {e}")))?;
            Some(shell)
        } else {
            None
        };
        let image = controller
            .as_ref()
            .map_or_else(|| Arc::new(MetadataImage::new()), |c| c.image());
        let node = Rc::new(ClusterNode {
            me,
            transport: transport.clone(),
            controller,
            replica: RefCell::new(MetadataReplica::new()),
            image: RefCell::new(image),
            image_changed: RefCell::new(Vec::new()),
            installed: Cell::new(0),
            installed_once: Cell::new(false),
            installed_waiters: RefCell::new(Vec::new()),
            rpcs: RefCell::new(HashMap::new()),
            fetches: RefCell::new(HashMap::new()),
            next_rpc: Cell::new(1),
            leader_hint: Cell::new(NodeId::NONE),
            next_voter: Cell::new(0),
            incarnation: random_bytes(),
            broker_epoch: Cell::new(None),
            registered: RefCell::new(Vec::new()),
            fenced: Cell::new(true),
            unfenced: RefCell::new(Vec::new()),
            ids: Cell::new(IdBlock::default()),
            id_lock: glommio::sync::Semaphore::new(1),
            replication_endpoints: RefCell::new(Vec::new()),
            config,
        });
        let weak = Rc::downgrade(&node);
        transport.set_inbound(Box::new(move |frame| {
            if let Some(n) = weak.upgrade() {
                n.route(frame);
            }
        }));
        if let (true, Some(addr)) = (node.config.controller, node.config.controller_listen) {
            transport.listen(addr).map_err(|e| {
                crate::ShardError::Runtime(format!("cannot listen for controllers on {addr}: {e}"))
            })?;
        }
        if node.config.broker {
            node.listen_for_replicas(shard).await?;
        }
        // Other shards find the node as soon as they have an image to serve from.
        shard.set_cluster(node.clone());
        node.spawn_tasks(shard);
        node.install(shard).await;
        Ok(node)
    }

    /// Starts every shard's replication listener and adds their ports to what this broker
    /// registers.
    async fn listen_for_replicas(&self, shard: &Rc<Shard>) -> Result<(), crate::ShardError> {
        let host = self
            .config
            .listeners
            .first()
            .map(|e| e.host.clone())
            .unwrap_or_else(|| self.config.replication_host.to_string());
        let mut endpoints = Vec::with_capacity(shard.count);
        for s in 0..shard.count {
            let port = shard
                .invoke_on(ShardId(s), |sh| async move { crate::replicas::start(&sh) })
                .await??;
            endpoints.push(Endpoint {
                name: format!("{}{s}", crate::replicas::REPLICATION_ENDPOINT),
                host: host.clone(),
                port,
            });
        }
        self.replication_endpoints.borrow_mut().extend(endpoints);
        Ok(())
    }

    /// This broker's epoch, once registered.
    pub fn broker_epoch(&self) -> Option<BrokerEpoch> {
        self.broker_epoch.get()
    }

    fn spawn_tasks(self: &Rc<Self>, shard: &Rc<Shard>) {
        if let Some(c) = self.controller.clone() {
            let (node, shard) = (self.clone(), shard.clone());
            glommio::spawn_local(async move {
                while !shard.is_stopping() {
                    glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
                    c.tick();
                }
                node.transport.stop();
            })
            .detach();
            // The local controller's committed image is this node's.
            let (node, c) = (self.clone(), self.controller.clone());
            glommio::spawn_local(async move {
                let Some(c) = c else { return };
                loop {
                    c.changed().await;
                    node.set_image(c.image());
                }
            })
            .detach();
        } else {
            let (node, shard) = (self.clone(), shard.clone());
            glommio::spawn_local(async move { node.fetch_loop(&shard).await }).detach();
        }
        let (node, s) = (self.clone(), shard.clone());
        glommio::spawn_local(async move { node.install_loop(&s).await }).detach();
        if self.config.broker {
            let (node, s) = (self.clone(), shard.clone());
            glommio::spawn_local(async move { node.broker_loop(&s).await }).detach();
        }
    }

    /// The image this node serves from.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    fn set_image(&self, image: Arc<MetadataImage>) {
        if image.version() < self.image.borrow().version() {
            return;
        }
        *self.image.borrow_mut() = image;
        for w in self.image_changed.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    async fn image_changed(&self) {
        let (tx, rx) = oneshot::channel();
        self.image_changed.borrow_mut().push(tx);
        let _ = rx.await;
    }

    /// Installs every new image on every shard, in order.
    async fn install_loop(&self, shard: &Rc<Shard>) {
        while !shard.is_stopping() {
            self.install(shard).await;
            if self.image().version() > self.installed.get() {
                // It moved while the last one was being installed.
                continue;
            }
            let changed = self.image_changed();
            futures::pin_mut!(changed);
            let stop = glommio::timer::sleep(Duration::from_millis(200));
            futures::future::select(changed, Box::pin(stop)).await;
        }
    }

    async fn install(&self, shard: &Rc<Shard>) {
        let image = self.image();
        let version = image.version();
        if version <= self.installed.get() && self.installed_once.get() {
            return;
        }
        let leader = self.controller_leader();
        for s in 0..shard.count {
            let img = image.clone();
            let r = shard
                .invoke_on(ShardId(s), move |sh| async move {
                    sh.set_controller_leader(leader);
                    sh.apply_metadata(img).await
                })
                .await;
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(shard = s, "installing metadata failed: {e}"),
                Err(e) => tracing::debug!(shard = s, "installing metadata: {e}"),
            }
        }
        self.installed.set(self.installed.get().max(version));
        self.installed_once.set(true);
        let installed = version;
        let mut waiters = self.installed_waiters.borrow_mut();
        let (done, rest): (Vec<_>, Vec<_>) = waiters.drain(..).partition(|(v, _)| *v <= installed);
        *waiters = rest;
        for (_, w) in done {
            let _ = w.send(());
        }
    }

    async fn wait_installed(&self, version: u64) {
        if self.installed_once.get() && self.installed.get() >= version {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.installed_waiters.borrow_mut().push((version, tx));
        let _ = rx.await;
    }

    /// A frame from a peer: quorum traffic to the local controller, answers to the callers
    /// waiting for them.
    fn route(&self, frame: Frame) {
        match frame.kind {
            FrameKind::Raft | FrameKind::ControllerRequest | FrameKind::FetchMetadata => {
                if let Some(c) = &self.controller {
                    c.receive(&frame);
                }
            }
            FrameKind::ControllerResponse | FrameKind::MetadataAnswer => {
                match rpc::decode_payload(frame.kind, &frame.payload) {
                    Ok(Payload::Response(r)) => {
                        if let Some(w) = self.rpcs.borrow_mut().remove(&r.request_id) {
                            let _ = w.send(r);
                        }
                    }
                    Ok(Payload::Metadata(m)) => {
                        let id = match &m {
                            MetadataAnswer::Entries { request_id, .. }
                            | MetadataAnswer::Snapshot { request_id, .. } => *request_id,
                        };
                        if let Some(w) = self.fetches.borrow_mut().remove(&id) {
                            let _ = w.send(m);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(from = frame.from.0, "bad answer frame: {e}"),
                }
            }
        }
    }

    /// The controller to try next: the known leader, else the voters in turn.
    fn target(&self) -> NodeId {
        let local = self.controller.as_ref().map(|c| c.leader());
        let hint = local
            .filter(|l| l.is_some())
            .unwrap_or(self.leader_hint.get());
        if hint.is_some() {
            return hint;
        }
        let voters = self.config.voter_ids();
        let i = self.next_voter.get();
        self.next_voter.set(i.wrapping_add(1));
        voters
            .get(i % voters.len().max(1))
            .copied()
            .unwrap_or(self.me)
    }

    /// Sends a request to the active controller and waits for its committed answer, then
    /// until this node's shards serve from an image that includes it.
    pub async fn call(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        let committed = self.call_uninstalled(&request).await?;
        self.wait_installed(committed.index).await;
        Ok(committed.response)
    }

    async fn call_uninstalled(
        &self,
        request: &ControllerRequest,
    ) -> Result<Committed, ControllerError> {
        let deadline = Instant::now() + CONTROLLER_CALL_TIMEOUT;
        loop {
            let attempt = self.attempt(request).await;
            match attempt {
                Err(ControllerError::NotController { leader }) => {
                    self.leader_hint.set(leader);
                }
                Err(ControllerError::NotCommitted(why)) if Instant::now() >= deadline => {
                    return Err(ControllerError::NotCommitted(why));
                }
                Err(ControllerError::NotCommitted(_)) => {}
                other => return other,
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::NotController {
                    leader: self.leader_hint.get(),
                });
            }
            glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }

    async fn attempt(&self, request: &ControllerRequest) -> Result<Committed, ControllerError> {
        if let Some(c) = self.controller.as_ref().filter(|c| c.is_active()) {
            return c.submit(request).await;
        }
        let target = self.target();
        if target == self.me {
            // This node leads but is not active yet (it is catching up with its term).
            self.leader_hint.set(NodeId::NONE);
            return Err(ControllerError::NotController {
                leader: NodeId::NONE,
            });
        }
        let id = self.next_rpc.get();
        self.next_rpc.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.rpcs.borrow_mut().insert(id, tx);
        let payload = Payload::Request(RpcRequest {
            request_id: id,
            request: request.clone(),
        });
        let (kind, bytes) = payload.encode();
        self.transport.send_payload(target, kind, bytes);
        let answer = glommio::timer::timeout(ATTEMPT_TIMEOUT, async { Ok(rx.await) }).await;
        self.rpcs.borrow_mut().remove(&id);
        match answer {
            Ok(Ok(r)) => r.result.map(|response| Committed {
                response,
                index: r.index,
            }),
            _ => {
                // No answer: forget the leader we thought we knew.
                self.leader_hint.set(NodeId::NONE);
                Err(ControllerError::NotCommitted(format!(
                    "controller {target} did not answer"
                )))
            }
        }
    }

    /// A broker-only node's metadata: fetched from the controllers and applied in order.
    async fn fetch_loop(&self, shard: &Rc<Shard>) {
        while !shard.is_stopping() {
            let from = self.replica.borrow().next_fetch_index();
            let target = self.target();
            let id = self.next_rpc.get();
            self.next_rpc.set(id + 1);
            let (tx, rx) = oneshot::channel();
            self.fetches.borrow_mut().insert(id, tx);
            let (kind, bytes) = Payload::Fetch(FetchMetadata {
                request_id: id,
                from_index: from,
            })
            .encode();
            self.transport.send_payload(target, kind, bytes);
            let answer = glommio::timer::timeout(ATTEMPT_TIMEOUT, async { Ok(rx.await) }).await;
            self.fetches.borrow_mut().remove(&id);
            let moved = match answer {
                Ok(Ok(a)) => match self.replica.borrow_mut().apply(&a) {
                    Ok(moved) => moved,
                    Err(e) => {
                        tracing::warn!("metadata from controller {target} refused: {e}");
                        false
                    }
                },
                _ => {
                    self.leader_hint.set(NodeId::NONE);
                    false
                }
            };
            if moved {
                let image = Arc::new(self.replica.borrow().image().clone());
                self.set_image(image);
            } else {
                glommio::timer::sleep(Duration::from_millis(FETCH_IDLE_MS)).await;
            }
        }
    }

    /// Registration and heartbeats, and a controlled shutdown at the end.
    async fn broker_loop(&self, shard: &Rc<Shard>) {
        let interval = Duration::from_millis(self.config.heartbeat_interval_ms.max(10));
        while !shard.is_stopping() {
            match self.broker_epoch.get() {
                None => {
                    self.register().await;
                    if self.broker_epoch.get().is_some() {
                        // Heartbeat at once: the first one unfences a caught-up broker.
                        continue;
                    }
                }
                Some(epoch) => {
                    self.heartbeat(epoch, false).await;
                }
            }
            let wait = if self.broker_epoch.get().is_none() || self.fenced.get() {
                Duration::from_millis(RETRY_MS).min(interval)
            } else {
                interval
            };
            let stop = shard.stopped();
            futures::pin_mut!(stop);
            futures::future::select(stop, Box::pin(glommio::timer::sleep(wait))).await;
        }
    }

    async fn register(&self) {
        let mut listeners = self.config.listeners.clone();
        listeners.extend(self.replication_endpoints.borrow().iter().cloned());
        let request = ControllerRequest::RegisterBroker {
            id: self.me,
            incarnation: self.incarnation,
            cluster_id: self.config.cluster_id,
            listeners,
            rack: self.config.rack.clone(),
        };
        match self.call_uninstalled(&request).await {
            Ok(Committed {
                response: ControllerResponse::Registered { epoch },
                index,
            }) => {
                tracing::info!(
                    broker = self.me.0,
                    epoch = epoch.0,
                    "registered with the controller"
                );
                // The first heartbeat reports the registration applied, which unfences.
                self.wait_installed(index).await;
                self.broker_epoch.set(Some(epoch));
                for w in self.registered.borrow_mut().drain(..) {
                    let _ = w.send(());
                }
            }
            Ok(other) => tracing::warn!("unexpected registration answer: {other:?}"),
            Err(e) => tracing::warn!(broker = self.me.0, "registration refused: {e}"),
        }
    }

    async fn heartbeat(&self, epoch: BrokerEpoch, want_shutdown: bool) -> bool {
        let request = ControllerRequest::BrokerHeartbeat {
            id: self.me,
            epoch,
            metadata_offset: self.installed.get(),
            want_shutdown,
        };
        match self.call_uninstalled(&request).await {
            Ok(Committed {
                response:
                    ControllerResponse::Heartbeat {
                        fenced,
                        should_shut_down,
                    },
                index,
            }) => {
                if fenced != self.fenced.get() {
                    if !fenced {
                        // Serve as unfenced only with the leaderships that came with it.
                        self.wait_installed(index).await;
                    }
                    tracing::info!(broker = self.me.0, fenced, "broker fencing changed");
                }
                if should_shut_down {
                    // The shards must know they lead nothing any more before they stop: a
                    // produce waiting as leader would otherwise wait out the grace period.
                    let installed = async {
                        self.wait_installed(index).await;
                        Ok(())
                    };
                    let wait = Duration::from_millis(CONTROLLED_SHUTDOWN_MS);
                    let _ = glommio::timer::timeout(wait, installed).await;
                }
                self.fenced.set(fenced);
                if !fenced {
                    for w in self.unfenced.borrow_mut().drain(..) {
                        let _ = w.send(());
                    }
                }
                should_shut_down
            }
            Ok(other) => {
                tracing::warn!("unexpected heartbeat answer: {other:?}");
                false
            }
            Err(
                ControllerError::StaleBrokerEpoch { .. }
                | ControllerError::BrokerIdNotRegistered(_),
            ) => {
                tracing::warn!(broker = self.me.0, "registration lost; registering again");
                self.broker_epoch.set(None);
                self.fenced.set(true);
                false
            }
            Err(e) => {
                tracing::debug!("heartbeat failed: {e}");
                false
            }
        }
    }

    /// Asks the controller to move leadership away before stopping, when another broker can
    /// take it (a lone broker keeps its partitions: nobody else could lead them).
    pub async fn controlled_shutdown(&self) {
        let Some(epoch) = self.broker_epoch.get() else {
            return;
        };
        let others = self.image().live_brokers().any(|b| b.id != self.me);
        if !others {
            return;
        }
        let deadline = Instant::now() + Duration::from_millis(CONTROLLED_SHUTDOWN_MS);
        while Instant::now() < deadline {
            if self.heartbeat(epoch, true).await {
                tracing::info!(broker = self.me.0, "controlled shutdown complete");
                return;
            }
            glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
        }
        tracing::warn!(broker = self.me.0, "controlled shutdown timed out");
    }

    /// This broker's epoch, once registered (waits up to the call timeout).
    async fn epoch(&self) -> Result<BrokerEpoch, ControllerError> {
        let deadline = Instant::now() + CONTROLLER_CALL_TIMEOUT;
        loop {
            if let Some(e) = self.broker_epoch.get() {
                return Ok(e);
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::BrokerIdNotRegistered(self.me));
            }
            let (tx, rx) = oneshot::channel();
            self.registered.borrow_mut().push(tx);
            let _ =
                glommio::timer::timeout(Duration::from_millis(500), async { Ok(rx.await) }).await;
        }
    }

    /// A producer id never handed out before in this cluster: from this broker's block,
    /// and a new block from the controller when it runs out.
    pub async fn allocate_producer_id(&self) -> Result<i64, ControllerError> {
        let _permit = self
            .id_lock
            .acquire_permit(1)
            .await
            .map_err(|e| ControllerError::Internal(e.to_string()))?;
        let mut block = self.ids.get();
        if block.next >= block.end {
            let epoch = self.epoch().await?;
            let request = ControllerRequest::AllocateProducerIds {
                broker: self.me,
                epoch,
            };
            match self.call_uninstalled(&request).await?.response {
                ControllerResponse::ProducerIds { start, len } => {
                    block = IdBlock {
                        next: start,
                        end: start.saturating_add(len),
                    };
                }
                other => {
                    return Err(ControllerError::Internal(format!(
                        "unexpected answer {other:?}"
                    )))
                }
            }
        }
        let id = block.next;
        block.next += 1;
        self.ids.set(block);
        Ok(id)
    }

    /// Whether the controller last said this broker is fenced.
    pub fn is_fenced(&self) -> bool {
        self.fenced.get()
    }

    /// Resolves once the controller has unfenced this broker (at once if it is): a broker
    /// serves clients only from then on, as Kafka's does.
    pub async fn unfenced(&self) {
        if !self.fenced.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.unfenced.borrow_mut().push(tx);
        let _ = rx.await;
    }

    /// DescribeQuorum's view from the local controller, if this node is one.
    pub fn quorum_status(&self) -> Option<QuorumStatus> {
        self.controller.as_ref().map(|c| c.status())
    }

    /// The active controller as this node knows it.
    pub fn controller_leader(&self) -> NodeId {
        self.controller
            .as_ref()
            .map(|c| c.leader())
            .filter(|l| l.is_some())
            .unwrap_or(self.leader_hint.get())
    }
}
