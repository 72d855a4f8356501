//! A seeded, deterministic simulation of partition replication: three brokers running the
//! real [`PartitionState`] of every replica of one topic, driven the way the glommio shell
//! (`partition/shell.rs`, `partition/replicate.rs`) and the shard (`shards/src/shard.rs`,
//! `shards/src/cluster.rs`) drive it, and the real controller deciding leaders and ISRs.
//!
//! * Brokers register, heartbeat, fetch the metadata image and install it, ask for ISR
//!   changes; a producer appends with `acks=all` at whichever broker it believes leads.
//! * Leaders push batches to followers over connections (ordered streams that break),
//!   catch them up from the log, cut what diverged; followers append and acknowledge what
//!   their disk made durable.
//! * Faults: datagrams (controller requests, metadata, produces) dropped, delayed,
//!   reordered and duplicated; partitions between any nodes; connections broken (what the
//!   receiver had buffered still arrives, possibly after frames of the next connection);
//!   connection queues full; brokers crashing (losing what was not durable, the last batch
//!   possibly torn, and epoch checkpoints not yet written), at random and right after
//!   appends, pausing (a zombie that wakes up believing it still leads) and restarting;
//!   disks slow or full (a flush that fails discards what was not written); controller
//!   fail-overs; preferred-leader elections.
//! * Invariants ([`check`]) are checked after every event and at the end, after the faults
//!   heal and the cluster converges.
//!
//! Everything random comes from one seed, so a failing seed replays exactly.
//!
//! [`PartitionState`]: myelin_replication::partition::PartitionState

mod broker;
pub mod check;
mod controller;
mod disk;
mod producer;
mod replica;

use super::net::{Agenda, Faults, Flight, Net};
use broker::Broker;
use check::Checker;
use controller::ControllerNode;
use disk::Batch;
use myelin_replication::cluster::MetadataImage;
use myelin_replication::controller::ControllerResponse;
use myelin_replication::controller::{ControllerConfig, ControllerRequest, NewTopic};
use myelin_replication::error::ControllerError;
use myelin_replication::replica::wire::ReplicaMessage;
use myelin_replication::rng::SplitMix64;
use myelin_replication::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use producer::Producer;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The brokers; every partition has a replica on each.
pub const BROKERS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];
/// The controller's node.
const CONTROLLER: NodeId = NodeId(100);
/// The producer's node.
const CLIENT: NodeId = NodeId(200);
/// The topic every partition belongs to.
const TOPIC: &str = "events";

// Production's timings, scaled down together so a few virtual seconds hold many failovers:
// heartbeats well inside the session, the lag bound a few round trips of catch-up.
const HEARTBEAT_MS: u64 = 100;
const SESSION_TIMEOUT_MS: u64 = 700;
const REPLICA_LAG_MS: i64 = 500;
const FETCH_MS: u64 = 50;
const REGISTER_RETRY_MS: u64 = 100;
const CONTROLLER_TICK_MS: u64 = 50;
const LEADER_IMBALANCE_CHECK_MS: u64 = 700;
/// `shards::replicas::REPLICATION_TICK_MS`.
const REPLICATION_TICK_MS: u64 = 100;
/// `partition::replicate`'s `LEAD_RETRY_MS`.
const LEAD_RETRY_MS: i64 = 300;
/// `replica::net`'s `RECONNECT_MS`.
const RECONNECT_MS: u64 = 200;
/// How often the chaos monkey rolls its dice.
const CHAOS_EVERY_MS: u64 = 10;
/// A produce not answered by then is given up (it may still have been written).
const PRODUCE_TIMEOUT_MS: u64 = 1_000;
/// Batches one catch-up read takes (a 1 MiB read of small batches).
const CATCH_UP_BATCHES: usize = 8;
/// Produces one client keeps in flight.
const PRODUCES_IN_FLIGHT_MAX: usize = 8;

/// Controller traffic and produces: 3% lost, 2% duplicated, up to 25 ms late.
const RPC_FAULTS: Faults = Faults {
    drop_per_million: 30_000,
    duplicate_per_million: 20_000,
    delay_ms_max: 25,
    calm_delay_ms_max: 3,
};

/// Replication connections: ordered and lossless until they break, up to 15 ms late.
const STREAM_FAULTS: Faults = Faults {
    drop_per_million: 0,
    duplicate_per_million: 0,
    delay_ms_max: 15,
    calm_delay_ms_max: 2,
};

/// One run's shape.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// Partitions of the topic (each with a replica on every broker).
    pub partitions: i32,
    /// The topic's `min.insync.replicas`.
    pub min_insync_replicas: usize,
    /// Virtual time with faults.
    pub chaos_ms: u64,
    /// Virtual time allowed for convergence after healing.
    pub heal_budget_ms: u64,
    /// Mean time between two produces.
    pub produce_every_ms: u64,
}

impl SimConfig {
    /// The shape a seed runs with: one or two partitions, `min.insync.replicas` 1, 2 or 3.
    pub fn for_seed(seed: u64) -> SimConfig {
        SimConfig {
            partitions: 1 + (seed % 2) as i32,
            min_insync_replicas: 1 + ((seed / 2) % 3) as usize,
            chaos_ms: 3_000,
            heal_budget_ms: 20_000,
            produce_every_ms: 15,
        }
    }
}

/// What a run did, to see that the faults really happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Broker crashes.
    pub crashes: u64,
    /// Batches crashes lost because they were not durable.
    pub lost_unsynced: u64,
    /// Broker pauses.
    pub pauses: u64,
    /// Network partitions.
    pub partitions: u64,
    /// Replication connections broken.
    pub conn_breaks: u64,
    /// Flushes that failed on a full disk (and discarded what was unwritten).
    pub disk_full: u64,
    /// Controller fail-overs.
    pub failovers: u64,
    /// Followers cut back to agree with their leader.
    pub truncations: u64,
    /// The largest leader epoch any partition reached.
    pub max_leader_epoch: i32,
    /// Produces sent.
    pub produced: u64,
    /// Produces acknowledged.
    pub acked: u64,
    /// Events handled.
    pub events: u64,
}

/// Controller traffic, metadata and produces.
#[derive(Debug, Clone)]
pub enum Rpc {
    /// Broker → controller.
    Request {
        /// Matches the answer.
        id: u64,
        /// The request.
        request: ControllerRequest,
    },
    /// Controller → broker.
    Answer {
        /// The request's id.
        id: u64,
        /// The metadata index the answer is committed at.
        index: u64,
        /// The answer.
        result: Result<ControllerResponse, ControllerError>,
    },
    /// Broker → controller: send me the image if it is newer than `have`.
    Fetch {
        /// The version the broker has.
        have: u64,
    },
    /// Controller → broker: the committed image.
    Image(Rc<MetadataImage>),
    /// Client → broker.
    Produce {
        /// Matches the answer.
        id: u64,
        /// The partition.
        partition: i32,
        /// The batch's payload id.
        payload: u64,
        /// Records in the batch.
        records: i32,
    },
    /// Broker → client: where the batch went, or why not.
    Produced {
        /// The request's id.
        id: u64,
        /// Base and last offset, or the error.
        result: Result<(i64, i64), String>,
    },
}

/// A replication frame on a connection.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The connection.
    conn: u64,
    /// The partition it is about.
    partition: i32,
    /// The message, as the wire carries it.
    message: ReplicaMessage,
    /// The batches following an `Append`.
    batches: Vec<Batch>,
}

/// Something a broker's incarnation does at a time.
#[derive(Debug, Clone)]
enum Timer {
    /// The shard's replication ticker (`shards::replicas`): every replica's `Tick`.
    ReplicationTick,
    /// A heartbeat to the controller is due.
    Heartbeat,
    /// A metadata fetch is due.
    Fetch,
    /// A registration (retry) is due.
    Register,
    /// The flusher of a partition's log finishes a write.
    Flush(i32),
    /// A checkpoint write of the epoch cache (at this version, these bytes) lands.
    Checkpoint {
        partition: i32,
        version: u64,
        bytes: Vec<u8>,
    },
    /// The catch-up task of a follower takes its next step.
    CatchUp(i32, NodeId),
    /// A catch-up send up to `last` went out at `epoch`, after the follower's
    /// `positions`-th position.
    CatchUpSent {
        partition: i32,
        follower: NodeId,
        epoch: LeaderEpoch,
        last: i64,
        positions: u64,
    },
    /// A dial of this follower's node ends.
    DialDone(NodeId),
    /// The dial may be tried again.
    DialRetry(NodeId),
    /// The connection to this node broke.
    Lost(NodeId),
}

/// Everything that happens at a virtual time, besides messages arriving.
#[derive(Debug, Clone)]
enum Event {
    /// A broker's timer, void if its incarnation (`boot`) has ended.
    Timer {
        node: NodeId,
        boot: u64,
        timer: Timer,
    },
    /// A message held back while its receiver was paused.
    Held(Flight<Rpc>),
    /// A frame held back while its receiver was paused.
    HeldFrame(Flight<Frame>),
    /// A crashed broker starts again.
    Restart(NodeId),
    /// A crash aimed at a window: right after an append, before the flush or the epoch
    /// checkpoint that would make it safe.
    Crash(NodeId),
    /// The controller's periodic work.
    ControllerTick,
    /// The producer may send.
    ProducerTick,
    /// The chaos monkey rolls its dice.
    Chaos,
}

impl<M: Clone> Clone for Flight<M> {
    fn clone(&self) -> Self {
        Flight {
            from: self.from,
            to: self.to,
            stream: self.stream,
            message: self.message.clone(),
        }
    }
}

impl<M: std::fmt::Debug> std::fmt::Debug for Flight<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}: {:?}", self.from, self.to, self.message)
    }
}

/// Every replica's disk, by partition and broker (down brokers' too: their disks stay).
fn disks_of(brokers: &BTreeMap<NodeId, Broker>) -> BTreeMap<(i32, NodeId), &disk::Disk> {
    let mut out = BTreeMap::new();
    for (id, b) in brokers {
        for (p, d) in &b.disks {
            out.insert((*p, *id), d);
        }
    }
    out
}

/// A leader's connection to one follower node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Dialing,
    /// A dial failed; the next may start once the retry timer fires.
    Waiting,
    Up(u64),
}

/// The simulated cluster.
pub struct Sim {
    /// The run's seed.
    pub seed: u64,
    config: SimConfig,
    rng: SplitMix64,
    now: u64,
    agenda: Agenda<Event>,
    rpc: Net<Rpc>,
    frames: Net<Frame>,
    /// Connections by (dialer, acceptor).
    links: BTreeMap<(NodeId, NodeId), Link>,
    /// Every connection ever opened: its dialer and acceptor.
    conns: BTreeMap<u64, (NodeId, NodeId)>,
    next_conn: u64,
    controller: ControllerNode,
    topic_id: TopicId,
    brokers: BTreeMap<NodeId, Broker>,
    producer: Producer,
    check: Checker,
    faults: bool,
    /// Print every event (`REPLICATION_SIM_TRACE=1`), to follow a failing seed.
    trace: bool,
    /// Counters for the report.
    pub stats: Stats,
}

impl Sim {
    /// A cluster for `seed`: the brokers registered and unfenced, the topic created.
    pub fn new(seed: u64, config: SimConfig) -> Result<Sim, String> {
        let mut rng = SplitMix64::new(seed);
        let cluster_id = rng.uuid();
        let mut cc = ControllerConfig::new(cluster_id);
        cc.session_timeout_ms = SESSION_TIMEOUT_MS;
        // Leadership also moves back to preferred replicas, cleanly, now and then.
        cc.leader_imbalance_check_interval_ms = LEADER_IMBALANCE_CHECK_MS;
        cc.default_min_insync_replicas = config.min_insync_replicas as i32;
        let mut controller = ControllerNode::new(cc, rng.next_u64(), 0)?;
        let mut brokers = BTreeMap::new();
        for id in BROKERS {
            let incarnation = rng.uuid();
            let register = ControllerRequest::RegisterBroker {
                id,
                incarnation,
                cluster_id,
                listeners: Vec::new(),
                rack: None,
            };
            let epoch = match controller.decide(0, &register)? {
                (_, Ok(ControllerResponse::Registered { epoch })) => epoch,
                (_, other) => return Err(format!("bootstrap: registering {id}: {other:?}")),
            };
            let clock_offset = rng.below(1 << 30) as i64;
            brokers.insert(id, Broker::new(id, incarnation, epoch, clock_offset));
        }
        for id in BROKERS {
            let epoch = brokers
                .get(&id)
                .and_then(|b| b.epoch)
                .unwrap_or(BrokerEpoch(-1));
            let heartbeat = ControllerRequest::BrokerHeartbeat {
                id,
                epoch,
                metadata_offset: u64::MAX,
                want_shutdown: false,
            };
            if let (_, Err(e)) = controller.decide(0, &heartbeat)? {
                return Err(format!("bootstrap: unfencing {id}: {e}"));
            }
        }
        let configs = BTreeMap::from([(
            "min.insync.replicas".to_string(),
            config.min_insync_replicas.to_string(),
        )]);
        let create = ControllerRequest::CreateTopics {
            topics: vec![NewTopic {
                name: TOPIC.to_string(),
                partitions: config.partitions,
                replication_factor: BROKERS.len() as i16,
                configs,
            }],
            validate_only: false,
        };
        if let (_, Err(e)) = controller.decide(0, &create)? {
            return Err(format!("bootstrap: creating the topic: {e}"));
        }
        let image = controller.image().clone();
        let topic_id = image
            .topic(TOPIC)
            .map(|t| t.id)
            .ok_or("bootstrap: the topic was not created")?;
        let mut sim = Sim {
            seed,
            config,
            rng,
            now: 0,
            agenda: Agenda::default(),
            rpc: Net::new(RPC_FAULTS),
            frames: Net::new(STREAM_FAULTS),
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            controller,
            topic_id,
            brokers,
            producer: Producer::default(),
            check: Checker::new(config.partitions),
            faults: true,
            trace: std::env::var_os("REPLICATION_SIM_TRACE").is_some(),
            stats: Stats::default(),
        };
        sim.check.observe_image(&image);
        for id in BROKERS {
            sim.start_broker(id, Some(image.clone()));
        }
        sim.agenda.push(CONTROLLER_TICK_MS, Event::ControllerTick);
        sim.agenda.push(1, Event::ProducerTick);
        sim.agenda.push(CHAOS_EVERY_MS, Event::Chaos);
        Ok(sim)
    }

    /// Runs chaos, heals, waits for convergence, and checks the end state.
    pub fn run(&mut self) -> Result<Stats, String> {
        let chaos_end = self.config.chaos_ms;
        self.run_until(chaos_end)?;
        self.heal();
        let deadline = self.now + self.config.heal_budget_ms;
        // Writes go on after healing: the cluster must take them again.
        self.producer.produce_until = Some(self.now + 1_000);
        let mut last = String::new();
        while self.now < deadline {
            let until = self.now + 100;
            self.run_until(until)?;
            if !self.producer_done() {
                last = format!(
                    "partitions {:?} took a produce after healing",
                    self.producer.acked_after_heal
                );
                continue;
            }
            match self.converged() {
                Ok(()) => {
                    self.final_check()?;
                    self.stats.max_leader_epoch = self.check.max_leader_epoch();
                    return Ok(self.stats);
                }
                Err(why) => last = why,
            }
        }
        Err(self.failure(&format!("no convergence after healing: {last}")))
    }

    /// Prints what happened now, when tracing.
    fn trace(&self, what: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>6} {}", self.now, what());
        }
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "replication simulation failed: {what}\n  seed={} ({:?}) at {} ms; replay with \
             REPLICATION_SIM_SEED={} cargo test -p myelin-replication --test replication_sim \
             -- --nocapture",
            self.seed, self.config, self.now, self.seed
        )
    }

    fn run_until(&mut self, until: u64) -> Result<(), String> {
        loop {
            let next = [
                self.agenda.next_at(),
                self.rpc.next_at(),
                self.frames.next_at(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = self.now.max(next);
            // The agenda first: what it holds back for a paused node was sent earlier than
            // anything still in flight to it.
            if let Some((_, event)) = self.agenda.pop_due(self.now) {
                self.handle(event);
            } else if let Some(f) = self.rpc.pop_due(self.now) {
                self.arrive(f);
            } else if let Some(f) = self.frames.pop_due(self.now) {
                self.arrive_frame(f);
            }
            self.stats.events += 1;
            if let Some(v) = self.check.violation() {
                return Err(self.failure(v));
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Timer { node, boot, timer } => {
                let Some(b) = self.brokers.get(&node) else {
                    return;
                };
                if !b.up || b.boot != boot {
                    return;
                }
                if b.paused_until > self.now {
                    let at = b.paused_until;
                    self.agenda.push(at, Event::Timer { node, boot, timer });
                    return;
                }
                self.broker_timer(node, timer);
            }
            Event::Held(f) => self.arrive(f),
            Event::HeldFrame(f) => self.arrive_frame(f),
            Event::Crash(node) => {
                if self.brokers.get(&node).is_some_and(|b| b.up) {
                    self.crash_broker(node);
                    let at = self.now + 50 + self.rng.below(1_200);
                    self.agenda.push(at, Event::Restart(node));
                }
            }
            Event::Restart(node) => {
                self.trace(|| format!("restart {node}"));
                if self.brokers.get(&node).is_some_and(|b| !b.up) {
                    self.start_broker(node, None);
                }
            }
            Event::ControllerTick => {
                self.agenda
                    .push(self.now + CONTROLLER_TICK_MS, Event::ControllerTick);
                match self.controller.tick(self.now) {
                    Ok(true) => self.controller_changed(),
                    Ok(false) => {}
                    Err(e) => self.check.fail(e),
                }
            }
            Event::ProducerTick => self.producer_tick(),
            Event::Chaos => {
                if self.faults {
                    self.chaos();
                    self.agenda.push(self.now + CHAOS_EVERY_MS, Event::Chaos);
                }
            }
        }
    }

    /// A controller message, produce or answer reaches its node.
    fn arrive(&mut self, f: Flight<Rpc>) {
        if f.to == CONTROLLER {
            self.controller_receive(f.from, f.message);
        } else if f.to == CLIENT {
            self.producer_receive(f.message);
        } else if let Some(b) = self.brokers.get(&f.to) {
            if !b.up {
                return;
            }
            if b.paused_until > self.now {
                let at = b.paused_until;
                self.agenda.push(at, Event::Held(f));
                return;
            }
            self.broker_receive(f.to, f.from, f.message);
        }
    }

    /// A replication frame reaches its node.
    fn arrive_frame(&mut self, f: Flight<Frame>) {
        let Some(b) = self.brokers.get(&f.to) else {
            return;
        };
        if !b.up {
            return;
        }
        if b.paused_until > self.now {
            let at = b.paused_until;
            self.agenda.push(at, Event::HeldFrame(f));
            return;
        }
        self.replica_receive(f.to, f.from, f.message);
    }

    fn controller_receive(&mut self, from: NodeId, message: Rpc) {
        match message {
            Rpc::Request { id, request } => {
                let (index, result) = match self.controller.decide(self.now, &request) {
                    Ok(x) => x,
                    Err(e) => {
                        self.check.fail(e);
                        return;
                    }
                };
                if index > self.check.seen_index() {
                    self.controller_changed();
                }
                let answer = Rpc::Answer { id, index, result };
                self.rpc
                    .send(&mut self.rng, self.now, CONTROLLER, from, answer);
            }
            Rpc::Fetch { have } => {
                let image = self.controller.image().clone();
                if image.version() > have {
                    self.rpc
                        .send(&mut self.rng, self.now, CONTROLLER, from, Rpc::Image(image));
                }
            }
            _ => {}
        }
    }

    /// The controller committed something: the checker sees every image.
    fn controller_changed(&mut self) {
        let image = self.controller.image().clone();
        self.trace(|| {
            let parts: Vec<String> = image
                .partitions()
                .map(|(_, p, a)| {
                    format!(
                        "p{p} leader {} epoch {} isr {:?} elr {:?} pe {}",
                        a.leader, a.leader_epoch.0, a.isr, a.elr, a.partition_epoch
                    )
                })
                .collect();
            let fenced: Vec<String> = image
                .brokers()
                .filter(|b| b.fenced)
                .map(|b| b.id.to_string())
                .collect();
            format!(
                "controller @{}: {parts:?} fenced {fenced:?}",
                image.version()
            )
        });
        self.check.observe_image(&image);
        let disks = disks_of(&self.brokers);
        self.check.check_electable(&image, &disks);
    }

    /// The dice of one chaos step (every 10 ms): per second about one crash, one pause,
    /// half a partition, two connection breaks, a full disk, a slow disk, and a controller
    /// fail-over every three seconds.
    fn chaos(&mut self) {
        if self.rng.chance(10_000) {
            let id = self.random_broker();
            if self.brokers.get(&id).is_some_and(|b| b.up) {
                self.crash_broker(id);
                let at = self.now + 50 + self.rng.below(1_200);
                self.agenda.push(at, Event::Restart(id));
            }
        }
        if self.rng.chance(10_000) {
            let id = self.random_broker();
            let until = self.now + 50 + self.rng.below(1_200);
            if let Some(b) = self.brokers.get_mut(&id) {
                if b.up && b.paused_until <= self.now {
                    b.paused_until = until;
                    self.stats.pauses += 1;
                    self.trace(|| format!("pause {id} until {until}"));
                }
            }
        }
        if !self.rpc.is_partitioned() && self.rng.chance(5_000) {
            let mut side = BTreeSet::new();
            for n in BROKERS.into_iter().chain([CONTROLLER, CLIENT]) {
                if self.rng.chance(500_000) {
                    side.insert(n);
                }
            }
            self.trace(|| format!("partition {side:?}"));
            self.rpc.partition(side.clone());
            self.frames.partition(side);
            self.stats.partitions += 1;
        } else if self.rpc.is_partitioned() && self.rng.chance(15_000) {
            self.trace(|| "partition healed".to_string());
            self.rpc.heal();
            self.frames.heal();
        }
        if self.rng.chance(20_000) {
            let ups: Vec<(NodeId, NodeId)> = self
                .links
                .iter()
                .filter(|(_, l)| matches!(l, Link::Up(_)))
                .map(|(k, _)| *k)
                .collect();
            if !ups.is_empty() {
                let i = self.rng.below(ups.len() as u64) as usize;
                if let Some(&(dialer, acceptor)) = ups.get(i) {
                    self.break_link(dialer, acceptor, true);
                }
            }
        }
        if self.rng.chance(10_000) {
            let id = self.random_broker();
            let until = self.now + 20 + self.rng.below(400);
            if let Some(b) = self.brokers.get_mut(&id) {
                b.disk_full_until = until;
            }
        }
        if self.rng.chance(10_000) {
            let id = self.random_broker();
            let until = self.now + 50 + self.rng.below(800);
            if let Some(b) = self.brokers.get_mut(&id) {
                b.slow_disk_until = until;
            }
        }
        if self.rng.chance(3_000) {
            if let Err(e) = self.controller.fail_over(self.now) {
                self.check.fail(e);
            }
            self.stats.failovers += 1;
        }
    }

    /// Now and then, while faulty, crashes `id` right after what it just did.
    fn maybe_crash_now(&mut self, id: NodeId) {
        if self.faults && self.rng.chance(10_000) {
            self.trace(|| format!("targeted crash of {id}"));
            self.agenda.push(self.now, Event::Crash(id));
        }
    }

    fn random_broker(&mut self) -> NodeId {
        let i = self.rng.below(BROKERS.len() as u64) as usize;
        BROKERS.get(i).copied().unwrap_or(NodeId(1))
    }

    /// Ends the faults: the network heals and calms down, disks recover, paused brokers
    /// wake and crashed ones restart.
    fn heal(&mut self) {
        self.faults = false;
        self.rpc.faulty = false;
        self.frames.faulty = false;
        self.rpc.heal();
        self.frames.heal();
        for id in BROKERS {
            let up = match self.brokers.get_mut(&id) {
                Some(b) => {
                    b.disk_full_until = 0;
                    b.slow_disk_until = 0;
                    b.up
                }
                None => continue,
            };
            if !up {
                self.start_broker(id, None);
            }
        }
    }

    /// Whether the cluster has settled: every broker serving, every partition led with
    /// every replica in sync and holding the leader's log, everything committed.
    fn converged(&self) -> Result<(), String> {
        let image = self.controller.image();
        for b in self.brokers.values() {
            if !b.up || !b.serving || b.fenced {
                return Err(format!("broker {} not serving", b.id));
            }
        }
        for p in 0..self.config.partitions {
            let Some(a) = image.partition(self.topic_id, p) else {
                return Err(format!("partition {p} missing"));
            };
            if !a.leader.is_some() {
                return Err(format!("partition {p} offline"));
            }
            if a.isr.len() != BROKERS.len() {
                return Err(format!("partition {p}: ISR {:?}", a.isr));
            }
            let leader = self
                .brokers
                .get(&a.leader)
                .and_then(|b| b.replicas.get(&p).map(|r| (b, r)));
            let Some((lb, lr)) = leader else {
                return Err(format!("partition {p}: leader {} has no replica", a.leader));
            };
            if lr.state.leader_epoch() != a.leader_epoch || lr.state.check_leader().is_err() {
                return Err(format!(
                    "partition {p}: leader {} not leading yet",
                    a.leader
                ));
            }
            let o = lr.state.offsets();
            if o.high_watermark != o.log_end_offset {
                return Err(format!("partition {p}: leader {o:?}"));
            }
            let log = lb.disks.get(&p).map(|d| d.batches().to_vec());
            for b in self.brokers.values() {
                let Some(d) = b.disks.get(&p) else {
                    return Err(format!("partition {p}: no disk on {}", b.id));
                };
                if Some(d.batches().to_vec()) != log {
                    return Err(format!("partition {p}: {} differs from the leader", b.id));
                }
            }
        }
        Ok(())
    }

    /// The end state: every acknowledged batch at its offset on the leader and every
    /// in-sync replica, every replica's log the committed one.
    fn final_check(&mut self) -> Result<(), String> {
        let image = self.controller.image().clone();
        let disks = disks_of(&self.brokers);
        let result = self.check.final_check(&image, self.topic_id, &disks);
        result.map_err(|e| self.failure(&e))
    }
}
