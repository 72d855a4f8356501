//! A seeded, deterministic simulation of a metadata quorum: controller nodes running the real
//! `MetadataNode` (quorum + controller + image) on simulated disks, brokers that register,
//! heartbeat, fetch metadata and send admin requests, and a network that drops, delays,
//! reorders, duplicates and partitions frames. Controllers crash and restart (keeping only
//! what their disk holds) and tick at different rates.
//!
//! Everything random comes from one seed, so a failing seed replays exactly.

// The replication simulation uses parts of the network the quorum's does not.
#[allow(dead_code)]
pub mod net;
pub mod seeds;

use myelin_replication::cluster::{MetadataImage, MetadataReplica};
use myelin_replication::controller::{
    ControllerConfig, ControllerRequest, ControllerResponse, NewPartitions, NewTopic,
};
use myelin_replication::error::ControllerError;
use myelin_replication::metadata_node::{MetadataNode, MetadataNodeConfig, NodeOutput};
use myelin_replication::quorum::rpc::{decode_payload, FetchMetadata, Payload, RpcRequest};
use myelin_replication::quorum::{Frame, QuorumConfig, SimDisk, SimStorage};
use myelin_replication::rng::SplitMix64;
use myelin_replication::types::{BrokerEpoch, NodeId};
use net::{Faults, Net};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::{BTreeMap, BTreeSet};

/// Virtual milliseconds per simulation step.
const STEP_MS: u64 = 5;
/// Raft tick of a controller whose clock runs at nominal speed.
const TICK_MS: u64 = 50;
/// The simulated `broker.session.timeout.ms`.
const SESSION_TIMEOUT_MS: u64 = 1_500;
const HEARTBEAT_MS: u64 = 200;
const FETCH_MS: u64 = 150;
const REGISTER_RETRY_MS: u64 = 300;

/// Frames are lost 3% and duplicated 2% of the time, and take up to 40 ms (5 ms once healed).
const NET_FAULTS: Faults = Faults {
    drop_per_million: 30_000,
    duplicate_per_million: 20_000,
    delay_ms_max: 40,
    calm_delay_ms_max: 5,
};

/// One run's shape.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// Controller (voter) count.
    pub controllers: usize,
    /// Broker count.
    pub brokers: usize,
    /// Virtual time with faults.
    pub chaos_ms: u64,
    /// Virtual time allowed for convergence after healing.
    pub heal_budget_ms: u64,
}

impl SimConfig {
    /// The shape a seed runs with: 1, 3 or 5 controllers in turn.
    pub fn for_seed(seed: u64) -> SimConfig {
        let controllers = [1, 3, 5][(seed % 3) as usize];
        SimConfig {
            controllers,
            brokers: 3,
            chaos_ms: 10_000,
            heal_budget_ms: 20_000,
        }
    }
}

struct Ctrl {
    disk: SimDisk,
    node: Option<MetadataNode<SimStorage>>,
    tick_ms: u64,
    next_tick: u64,
    clock_offset: u64,
    restart_at: u64,
    checked_commit: u64,
    term_and_vote: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Register,
    Heartbeat,
    Admin,
}

struct Broker {
    id: NodeId,
    rack: String,
    incarnation: [u8; 16],
    epoch: Option<BrokerEpoch>,
    replica: MetadataReplica,
    /// Heartbeating and fetching; a paused broker sends nothing.
    running: bool,
    resume_at: Option<u64>,
    next_hb: u64,
    next_fetch: u64,
    next_register: u64,
    next_admin: u64,
    target: NodeId,
    next_request: u64,
    outstanding: BTreeMap<u64, Asked>,
}

/// The simulated cluster.
pub struct Sim {
    pub seed: u64,
    config: SimConfig,
    rng: SplitMix64,
    now: u64,
    cluster_id: [u8; 16],
    voters: Vec<NodeId>,
    ctrls: BTreeMap<NodeId, Ctrl>,
    brokers: BTreeMap<NodeId, Broker>,
    net: Net<Vec<u8>>,
    faults: bool,
    leaders: BTreeMap<u64, NodeId>,
    /// (voter, term) → the candidate it granted its vote to.
    votes: BTreeMap<(NodeId, u64), NodeId>,
    committed: BTreeMap<u64, (u64, u32)>,
    images: BTreeMap<u64, u32>,
    producer_blocks: Vec<(i64, i64)>,
    /// Counters for the report.
    pub stats: Stats,
}

/// What a run did, to see that the faults really happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub crashes: u64,
    pub partitions: u64,
    pub dropped: u64,
    pub delivered: u64,
    pub max_commit: u64,
    pub fenced_seen: u64,
    pub unfenced_seen: u64,
    pub snapshots_restored: u64,
    pub leaders: u64,
    pub crashes_after_vote: u64,
}

fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

impl Sim {
    /// A cluster for `seed`.
    pub fn new(seed: u64, config: SimConfig) -> Sim {
        let mut rng = SplitMix64::new(seed);
        let voters: Vec<NodeId> = (0..config.controllers as i32).map(NodeId).collect();
        let cluster_id = rng.uuid();
        let mut sim = Sim {
            seed,
            config,
            rng,
            now: 0,
            cluster_id,
            voters: voters.clone(),
            ctrls: BTreeMap::new(),
            brokers: BTreeMap::new(),
            net: Net::new(NET_FAULTS),
            faults: true,
            leaders: BTreeMap::new(),
            votes: BTreeMap::new(),
            committed: BTreeMap::new(),
            images: BTreeMap::new(),
            producer_blocks: Vec::new(),
            stats: Stats::default(),
        };
        for &v in &voters {
            // Clock skew: each controller ticks at its own rate (80%..125% of nominal).
            let tick_ms = TICK_MS * (80 + sim.rng.below(46)) / 100;
            let ctrl = Ctrl {
                disk: SimDisk::new(),
                node: None,
                tick_ms,
                next_tick: sim.rng.below(tick_ms),
                clock_offset: sim.rng.below(1 << 40),
                restart_at: 0,
                checked_commit: 0,
                term_and_vote: (0, 0),
            };
            sim.ctrls.insert(v, ctrl);
            sim.start(v);
        }
        for b in 0..config.brokers as i32 {
            let id = NodeId(100 + b);
            let broker = Broker {
                id,
                rack: format!("rack{}", b % 2),
                incarnation: sim.rng.uuid(),
                epoch: None,
                replica: MetadataReplica::new(),
                running: true,
                resume_at: None,
                next_hb: 0,
                next_fetch: 0,
                next_register: sim.rng.below(200),
                next_admin: 500 + sim.rng.below(500),
                target: sim.random_voter(),
                next_request: 1,
                outstanding: BTreeMap::new(),
            };
            sim.brokers.insert(id, broker);
        }
        sim
    }

    fn random_voter(&mut self) -> NodeId {
        let i = self.rng.below(self.voters.len() as u64) as usize;
        self.voters[i]
    }

    fn local_now(&self, v: NodeId) -> u64 {
        self.ctrls[&v].clock_offset + self.now
    }

    fn start(&mut self, v: NodeId) {
        let mut quorum = QuorumConfig::new(v, self.voters.clone());
        quorum.jitter_seed = self.rng.next_u64();
        quorum.snapshot_interval_entries = 8;
        quorum.snapshot_trailing_entries = 2;
        let mut controller = ControllerConfig::new(self.cluster_id);
        controller.session_timeout_ms = SESSION_TIMEOUT_MS;
        let config = MetadataNodeConfig {
            quorum,
            controller,
            id_seed: self.rng.next_u64(),
            initial_records: Vec::new(),
        };
        let now = self.local_now(v);
        let ctrl = self.ctrls.get_mut(&v).unwrap();
        let (mut node, out) = match MetadataNode::open(config, ctrl.disk.storage(), now) {
            Ok(x) => x,
            Err(e) => panic!("seed {}: node {v} failed to open: {e}", self.seed),
        };
        node.enable_audit();
        ctrl.node = Some(node);
        ctrl.checked_commit = 0;
        self.after_step(v, out);
    }

    fn send(&mut self, from: NodeId, to: NodeId, frame: Vec<u8>) {
        self.net.send(&mut self.rng, self.now, from, to, frame);
    }

    /// Routes a controller's outputs and checks the invariants after its step.
    fn after_step(&mut self, v: NodeId, out: Vec<NodeOutput>) {
        for o in out {
            if let NodeOutput::Send { to, frame } = o {
                if let Err(e) = self.check_vote(v, &frame) {
                    panic!("{}", self.failure(&e));
                }
                self.send(v, to, frame);
            }
        }
        if let Err(e) = self.check_node(v) {
            panic!("{}", self.failure(&e));
        }
        // Targeted fault: crash a node right after it made a term or vote durable, the window
        // where a forgotten vote or term would let it vote twice.
        let ctrl = self.ctrls.get_mut(&v).unwrap();
        let durable = ctrl.disk.term_and_vote();
        if durable != ctrl.term_and_vote {
            ctrl.term_and_vote = durable;
            if self.faults && ctrl.node.is_some() && self.rng.chance(150_000) {
                ctrl.node = None;
                ctrl.restart_at = self.now + 20 + self.rng.below(300);
                self.stats.crashes += 1;
                self.stats.crashes_after_vote += 1;
            }
        }
    }

    /// At most one granted vote per voter and term, seen on the wire.
    fn check_vote(&mut self, from: NodeId, frame: &[u8]) -> Result<(), String> {
        let Ok(Some((f, _))) = Frame::decode(frame) else {
            return Err(format!("node {from} sent a bad frame"));
        };
        let Ok(Payload::Raft(bytes)) = decode_payload(f.kind, &f.payload) else {
            return Ok(());
        };
        let Ok(m) = Message::parse_from_bytes(&bytes) else {
            return Err(format!("node {from} sent a bad raft message"));
        };
        if m.get_msg_type() != MessageType::MsgRequestVoteResponse || m.reject {
            return Ok(());
        }
        let candidate = f.to;
        match self.votes.insert((from, m.term), candidate) {
            Some(earlier) if earlier != candidate => Err(format!(
                "node {from} voted for {earlier} and {candidate} in term {}",
                m.term
            )),
            _ => Ok(()),
        }
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "quorum simulation failed: {what}\n  seed {} ({:?}) at {} ms; replay with \
             QUORUM_SIM_SEED={} cargo test -p myelin-replication --test quorum_sim",
            self.seed, self.config, self.now, self.seed
        )
    }

    fn check_node(&mut self, v: NodeId) -> Result<(), String> {
        let ctrl = self.ctrls.get_mut(&v).unwrap();
        let Some(node) = ctrl.node.as_mut() else {
            return Ok(());
        };
        let q = node.quorum();
        if q.is_leader() {
            let term = q.term();
            match self.leaders.get(&term) {
                Some(&l) if l != v => {
                    return Err(format!("two leaders in term {term}: {l} and {v}"));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(term, v);
                    self.stats.leaders += 1;
                }
            }
        }
        let commit = q.commit_index().min(q.store().last());
        self.stats.max_commit = self.stats.max_commit.max(commit);
        let from = (ctrl.checked_commit + 1).max(q.store().first());
        for i in from..=commit {
            let Some(e) = q.store().entry(i) else {
                continue;
            };
            let mine = (e.term, crc(&e.data));
            match self.committed.get(&i) {
                Some(&seen) if seen != mine => {
                    return Err(format!(
                        "committed entry {i} differs on node {v}: {mine:?} vs {seen:?}"
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed.insert(i, mine);
                }
            }
        }
        ctrl.checked_commit = ctrl.checked_commit.max(commit);
        for (index, image) in node.take_audit() {
            match self.images.get(&index) {
                Some(&seen) if seen != image => {
                    return Err(format!("image at {index} differs on node {v}"));
                }
                Some(_) => {}
                None => {
                    self.images.insert(index, image);
                }
            }
        }
        if let Some(spec) = node.speculative_image() {
            if !node.has_pending() && spec != node.image() {
                return Err(format!(
                    "node {v}: speculative image drifted from the committed one"
                ));
            }
        }
        Ok(())
    }

    /// Runs chaos, heals, and waits for convergence.
    pub fn run(&mut self) -> Result<Stats, String> {
        while self.now < self.config.chaos_ms {
            self.step();
            self.chaos();
        }
        self.heal();
        let deadline = self.now + self.config.heal_budget_ms;
        let mut last = String::new();
        while self.now < deadline {
            for _ in 0..20 {
                self.step();
            }
            match self.converged() {
                Ok(()) => {
                    self.stats.dropped = self.net.dropped;
                    self.stats.delivered = self.net.delivered;
                    return Ok(self.stats);
                }
                Err(why) => last = why,
            }
        }
        Err(self.failure(&format!("no convergence after healing: {last}")))
    }

    fn step(&mut self) {
        self.now += STEP_MS;
        while let Some(f) = self.net.pop_due(self.now) {
            self.deliver(f.from, f.to, f.message);
        }
        let ids: Vec<NodeId> = self.ctrls.keys().copied().collect();
        for v in ids {
            let now = self.local_now(v);
            let ctrl = self.ctrls.get_mut(&v).unwrap();
            if ctrl.node.is_none() {
                if self.now >= ctrl.restart_at {
                    self.start(v);
                }
                continue;
            }
            if ctrl.next_tick > self.now {
                continue;
            }
            ctrl.next_tick += ctrl.tick_ms;
            let out = match ctrl.node.as_mut().map(|n| n.tick(now)) {
                Some(Ok(out)) => out,
                Some(Err(e)) => panic!("{}", self.failure(&format!("node {v} tick: {e}"))),
                None => continue,
            };
            self.after_step(v, out);
        }
        let ids: Vec<NodeId> = self.brokers.keys().copied().collect();
        for b in ids {
            self.broker_act(b);
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, frame: Vec<u8>) {
        if self.ctrls.contains_key(&to) {
            let now = self.local_now(to);
            let ctrl = self.ctrls.get_mut(&to).unwrap();
            let Some(node) = ctrl.node.as_mut() else {
                return;
            };
            match node.receive(now, &frame) {
                Ok(out) => self.after_step(to, out),
                Err(e) => panic!("{}", self.failure(&format!("node {to} receive: {e}"))),
            }
        } else if self.brokers.contains_key(&to) {
            self.broker_receive(from, to, &frame);
        }
    }

    fn chaos(&mut self) {
        // Per step (5 ms): a crash about every 2 s, a partition every 3 s lasting ~1.5 s,
        // a broker pause every 2 s, a broker restart every 8 s.
        if self.rng.chance(2_500) {
            let v = self.random_voter();
            let ctrl = self.ctrls.get_mut(&v).unwrap();
            if ctrl.node.take().is_some() {
                self.stats.crashes += 1;
                ctrl.restart_at = self.now + 200 + self.rng.below(1_800);
            }
        }
        if !self.net.is_partitioned() && self.rng.chance(1_700) {
            let mut side = BTreeSet::new();
            let all: Vec<NodeId> = self
                .ctrls
                .keys()
                .chain(self.brokers.keys())
                .copied()
                .collect();
            for n in all {
                if self.rng.chance(500_000) {
                    side.insert(n);
                }
            }
            self.net.partition(side);
            self.stats.partitions += 1;
        } else if self.net.is_partitioned() && self.rng.chance(3_300) {
            self.net.heal();
        }
        if self.rng.chance(2_500) {
            let b = NodeId(100 + self.rng.below(self.config.brokers as u64) as i32);
            let broker = self.brokers.get_mut(&b).unwrap();
            broker.running = false;
            broker.resume_at = Some(self.now + 500 + self.rng.below(3_500));
        }
        if self.rng.chance(600) {
            let b = NodeId(100 + self.rng.below(self.config.brokers as u64) as i32);
            let incarnation = self.rng.uuid();
            let broker = self.brokers.get_mut(&b).unwrap();
            broker.incarnation = incarnation;
            broker.epoch = None;
            broker.outstanding.clear();
        }
        let resumed: Vec<NodeId> = self
            .brokers
            .values()
            .filter(|b| b.resume_at.is_some_and(|t| t <= self.now))
            .map(|b| b.id)
            .collect();
        for b in resumed {
            let broker = self.brokers.get_mut(&b).unwrap();
            broker.running = true;
            broker.resume_at = None;
        }
    }

    /// Ends the faults: the network heals, crashed nodes restart, and each broker is either
    /// running for good or stopped for good.
    fn heal(&mut self) {
        self.faults = false;
        self.net.faulty = false;
        self.net.heal();
        let ids: Vec<NodeId> = self.ctrls.keys().copied().collect();
        for v in ids {
            if self.ctrls[&v].node.is_none() {
                self.start(v);
            }
        }
        let ids: Vec<NodeId> = self.brokers.keys().copied().collect();
        for b in ids {
            let keep = self.rng.chance(660_000);
            let broker = self.brokers.get_mut(&b).unwrap();
            broker.running = keep;
            broker.resume_at = None;
        }
    }

    fn request_to(&mut self, b: NodeId, asked: Asked, request: ControllerRequest) {
        let broker = self.brokers.get_mut(&b).unwrap();
        let request_id = broker.next_request;
        broker.next_request += 1;
        broker.outstanding.insert(request_id, asked);
        let to = broker.target;
        let payload = Payload::Request(RpcRequest {
            request_id,
            request,
        });
        self.send_payload(b, to, &payload);
    }

    fn send_payload(&mut self, from: NodeId, to: NodeId, payload: &Payload) {
        let (kind, payload) = payload.encode();
        let frame = Frame {
            kind,
            cluster_id: self.cluster_id,
            from,
            to,
            payload,
        };
        self.send(from, to, frame.encode());
    }

    fn broker_act(&mut self, b: NodeId) {
        let now = self.now;
        let broker = &self.brokers[&b];
        if !broker.running {
            return;
        }
        if broker.epoch.is_none() && now >= broker.next_register {
            let broker = self.brokers.get_mut(&b).unwrap();
            broker.next_register = now + REGISTER_RETRY_MS;
            let request = ControllerRequest::RegisterBroker {
                id: b,
                incarnation: broker.incarnation,
                cluster_id: self.cluster_id,
                listeners: vec![],
                rack: Some(broker.rack.clone()),
            };
            self.request_to(b, Asked::Register, request);
        }
        let broker = &self.brokers[&b];
        if let Some(epoch) = broker.epoch {
            if now >= broker.next_hb {
                let metadata_offset = broker.replica.image().last_applied();
                self.brokers.get_mut(&b).unwrap().next_hb = now + HEARTBEAT_MS;
                let request = ControllerRequest::BrokerHeartbeat {
                    id: b,
                    epoch,
                    metadata_offset,
                    want_shutdown: false,
                };
                self.request_to(b, Asked::Heartbeat, request);
            }
        }
        let broker = &self.brokers[&b];
        if now >= broker.next_fetch {
            let from_index = broker.replica.next_fetch_index();
            let to = self.random_voter();
            self.brokers.get_mut(&b).unwrap().next_fetch = now + FETCH_MS;
            let fetch = Payload::Fetch(FetchMetadata {
                request_id: 0,
                from_index,
            });
            self.send_payload(b, to, &fetch);
        }
        let broker = &self.brokers[&b];
        if self.faults && broker.epoch.is_some() && now >= broker.next_admin {
            let request = self.random_admin(b);
            let wait = 200 + self.rng.below(400);
            self.brokers.get_mut(&b).unwrap().next_admin = now + wait;
            self.request_to(b, Asked::Admin, request);
        }
    }

    fn random_admin(&mut self, b: NodeId) -> ControllerRequest {
        let name = format!("t{}", self.rng.below(6));
        match self.rng.below(6) {
            0 | 1 => ControllerRequest::CreateTopics {
                topics: vec![NewTopic {
                    name,
                    partitions: 1 + self.rng.below(3) as i32,
                    replication_factor: 1 + self.rng.below(3) as i16,
                    configs: BTreeMap::new(),
                }],
                validate_only: false,
            },
            2 => ControllerRequest::DeleteTopics { names: vec![name] },
            3 => ControllerRequest::CreatePartitions {
                topics: vec![NewPartitions {
                    name,
                    count: 2 + self.rng.below(4) as i32,
                }],
                validate_only: false,
            },
            4 => ControllerRequest::AlterConfigs {
                resource: myelin_replication::cluster::ConfigResource::Topic(name),
                entries: vec![(
                    "retention.ms".into(),
                    Some(self.rng.below(1000).to_string()),
                )],
                validate_only: false,
            },
            _ => ControllerRequest::AllocateProducerIds {
                broker: b,
                epoch: self.brokers[&b].epoch.unwrap_or(BrokerEpoch(-1)),
            },
        }
    }

    fn broker_receive(&mut self, from: NodeId, b: NodeId, bytes: &[u8]) {
        let Ok(Some((frame, _))) = Frame::decode(bytes) else {
            panic!("{}", self.failure("a controller sent a bad frame"));
        };
        let payload = match decode_payload(frame.kind, &frame.payload) {
            Ok(p) => p,
            Err(e) => panic!("{}", self.failure(&format!("bad payload from {from}: {e}"))),
        };
        if !self.brokers[&b].running {
            return;
        }
        match payload {
            Payload::Metadata(answer) => {
                let broker = self.brokers.get_mut(&b).unwrap();
                if matches!(
                    answer,
                    myelin_replication::quorum::MetadataAnswer::Snapshot { .. }
                ) {
                    self.stats.snapshots_restored += 1;
                }
                if let Err(e) = broker.replica.apply(&answer) {
                    panic!(
                        "{}",
                        self.failure(&format!("broker {b}: committed log: {e}"))
                    );
                }
            }
            Payload::Response(r) => {
                let broker = self.brokers.get_mut(&b).unwrap();
                let Some(asked) = broker.outstanding.remove(&r.request_id) else {
                    return;
                };
                self.broker_answer(b, asked, r.result);
            }
            _ => {}
        }
    }

    fn broker_answer(
        &mut self,
        b: NodeId,
        asked: Asked,
        result: Result<ControllerResponse, ControllerError>,
    ) {
        let voters = self.voters.clone();
        let retarget = self.random_voter();
        let broker = self.brokers.get_mut(&b).unwrap();
        match result {
            Err(ControllerError::NotController { leader }) => {
                broker.target = if voters.contains(&leader) {
                    leader
                } else {
                    retarget
                };
            }
            Err(ControllerError::StaleBrokerEpoch { .. })
            | Err(ControllerError::BrokerIdNotRegistered(_))
                if asked == Asked::Heartbeat =>
            {
                broker.epoch = None;
            }
            Ok(ControllerResponse::Registered { epoch }) => broker.epoch = Some(epoch),
            Ok(ControllerResponse::Heartbeat { fenced, .. }) => {
                if fenced {
                    self.stats.fenced_seen += 1;
                } else {
                    self.stats.unfenced_seen += 1;
                }
            }
            Ok(ControllerResponse::ProducerIds { start, len }) => {
                let (lo, hi) = (start, start + len);
                if let Some(&(a, z)) = self
                    .producer_blocks
                    .iter()
                    .find(|&&(a, z)| lo < z && a < hi)
                {
                    panic!(
                        "{}",
                        self.failure(&format!("producer ids {lo}..{hi} overlap {a}..{z}"))
                    );
                }
                self.producer_blocks.push((lo, hi));
            }
            _ => {}
        }
    }

    fn converged(&self) -> Result<(), String> {
        let mut image: Option<&MetadataImage> = None;
        let mut leader = None;
        for (v, c) in &self.ctrls {
            let Some(node) = &c.node else {
                return Err(format!("node {v} down"));
            };
            if node.is_active() {
                if node.has_pending() {
                    return Err(format!("leader {v} has proposals in flight"));
                }
                leader = Some(node);
            }
            if let Some(i) = image {
                if i != node.image() {
                    return Err(format!(
                        "node {v} image at {} differs (other at {})",
                        node.image().version(),
                        i.version()
                    ));
                }
            }
            image = Some(node.image());
        }
        let Some(leader) = leader else {
            return Err("no active controller".into());
        };
        let image = leader.image();
        if image.last_applied() != leader.quorum().commit_index() {
            return Err("leader has not applied its commit index".into());
        }
        for b in self.brokers.values() {
            let state = image.broker(b.id);
            if b.running {
                let Some(s) = state else {
                    return Err(format!("running broker {} not registered", b.id));
                };
                if Some(s.epoch) != b.epoch || s.incarnation != b.incarnation {
                    return Err(format!("running broker {} registration not current", b.id));
                }
                if s.fenced {
                    return Err(format!("running broker {} still fenced", b.id));
                }
                if b.replica.image() != image {
                    return Err(format!("broker {} replica behind", b.id));
                }
            } else if state.is_some_and(|s| !s.fenced) {
                return Err(format!("stopped broker {} not fenced", b.id));
            }
        }
        for (t, p, part) in image.partitions() {
            if part.leader.is_some() && !image.is_live(part.leader) {
                return Err(format!("{t}-{p} led by fenced broker {}", part.leader));
            }
        }
        Ok(())
    }
}
