//! A broker: its process (up, paused or crashed, with an incarnation per start), its
//! registration and heartbeats, the metadata image it installs, its partitions' disks and
//! replicas, and the replication connections it dials, as `shards/src/cluster.rs`,
//! `shards/src/shard.rs` and `replica/net.rs` run them.
//!
//! A broker serves clients once the controller first unfences it after a start (the Kafka
//! listener opens then and stays open), so a broker fenced later, a zombie, still serves.

use super::disk::Disk;
use super::replica::Replica;
use super::{Event, Link, Rpc, Sim, Timer, CONTROLLER, FETCH_MS, HEARTBEAT_MS};
use super::{RECONNECT_MS, REGISTER_RETRY_MS, REPLICATION_TICK_MS, TOPIC};
use myelin_replication::cluster::MetadataImage;
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use myelin_replication::partition::{Assignment, ReplicationConfig};
use myelin_replication::types::{BrokerEpoch, NodeId};
use std::collections::BTreeMap;
use std::rc::Rc;

/// How long a call to the controller is awaited before the broker gives up on it.
const CALL_TIMEOUT_MS: u64 = 300;

/// How long a dial into a partition waits for an answer that never comes.
const DIAL_TIMEOUT_MS: u64 = 500;

/// What a request to the controller was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Register,
    Heartbeat,
    AlterIsr,
}

/// One broker.
pub struct Broker {
    /// Its node id.
    pub id: NodeId,
    /// Whether its process runs.
    pub up: bool,
    /// Bumped by every start: timers of an earlier incarnation are void.
    pub boot: u64,
    incarnation: [u8; 16],
    /// It runs nothing before this time (a long GC pause, a stalled VM).
    pub paused_until: u64,
    /// Its clock reads the simulation's plus this.
    clock_offset: i64,
    /// The image installed on its partitions.
    pub image: Rc<MetadataImage>,
    /// Its broker epoch, once registered and the registration installed.
    pub epoch: Option<BrokerEpoch>,
    /// A registration answered, waiting for its index to be installed.
    registered_at: Option<(BrokerEpoch, u64)>,
    /// An unfencing answered, waiting for its index to be installed.
    unfenced_at: Option<u64>,
    /// Whether the controller last said it is fenced.
    pub fenced: bool,
    /// Whether it serves clients (unfenced at least once since it started).
    pub serving: bool,
    next_request: u64,
    outstanding: BTreeMap<u64, (Asked, u64)>,
    /// Partition logs, kept across crashes.
    pub disks: BTreeMap<i32, Disk>,
    /// Partition replicas, lost in a crash.
    pub replicas: BTreeMap<i32, Replica>,
    /// Flushes fail for lack of space until then.
    pub disk_full_until: u64,
    /// Flushes are slow until then.
    pub slow_disk_until: u64,
}

impl Broker {
    /// A broker registered at `epoch` (before it starts).
    pub fn new(id: NodeId, incarnation: [u8; 16], epoch: BrokerEpoch, clock_offset: i64) -> Broker {
        Broker {
            id,
            up: false,
            boot: 0,
            incarnation,
            paused_until: 0,
            clock_offset,
            image: Rc::new(MetadataImage::new()),
            epoch: Some(epoch),
            registered_at: None,
            unfenced_at: None,
            fenced: false,
            serving: false,
            next_request: 1,
            outstanding: BTreeMap::new(),
            disks: BTreeMap::new(),
            replicas: BTreeMap::new(),
            disk_full_until: 0,
            slow_disk_until: 0,
        }
    }

    /// The broker's clock at simulation time `now`.
    pub fn clock(&self, now: u64) -> i64 {
        now as i64 + self.clock_offset
    }
}

impl Sim {
    /// The clock of broker `id` now.
    pub(super) fn clock_of(&self, id: NodeId) -> i64 {
        self.brokers.get(&id).map_or(0, |b| b.clock(self.now))
    }

    pub(super) fn timer(&mut self, id: NodeId, after_ms: u64, timer: Timer) {
        let Some(boot) = self.brokers.get(&id).map(|b| b.boot) else {
            return;
        };
        let event = Event::Timer {
            node: id,
            boot,
            timer,
        };
        self.agenda.push(self.now + after_ms, event);
    }

    /// Starts broker `id`: at bootstrap with the image it registered in, otherwise as a new
    /// incarnation that registers again and installs whatever it fetches.
    pub(super) fn start_broker(&mut self, id: NodeId, bootstrap: Option<Rc<MetadataImage>>) {
        let incarnation = self.rng.uuid();
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        b.up = true;
        b.boot += 1;
        b.paused_until = 0;
        b.outstanding.clear();
        b.registered_at = None;
        b.unfenced_at = None;
        b.replicas.clear();
        if bootstrap.is_none() {
            b.incarnation = incarnation;
            b.epoch = None;
            b.fenced = true;
            b.serving = false;
            b.image = Rc::new(MetadataImage::new());
        } else {
            b.serving = true;
        }
        let (tick, hb, fetch) = (
            self.rng.below(REPLICATION_TICK_MS),
            self.rng.below(HEARTBEAT_MS),
            1 + self.rng.below(FETCH_MS),
        );
        self.timer(id, tick, Timer::ReplicationTick);
        self.timer(id, hb, Timer::Heartbeat);
        self.timer(id, fetch, Timer::Fetch);
        self.timer(id, 1, Timer::Register);
        if let Some(image) = bootstrap {
            self.install(id, image);
        }
    }

    /// Crashes broker `id`: its replicas and connections are gone, its disks keep what was
    /// durable and some of the rest.
    pub(super) fn crash_broker(&mut self, id: NodeId) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        b.up = false;
        b.replicas.clear();
        let mut cuts = Vec::new();
        for (p, d) in b.disks.iter_mut() {
            let lost = d.crash(&mut self.rng);
            self.stats.lost_unsynced += lost as u64;
            cuts.push((*p, d.end()));
        }
        self.trace(|| format!("crash {id}: logs end at {cuts:?}"));
        for (p, end) in cuts {
            self.check.cut(p, id, end);
        }
        self.stats.crashes += 1;
        let touching: Vec<(NodeId, NodeId)> = self
            .links
            .keys()
            .filter(|(d, a)| *d == id || *a == id)
            .copied()
            .collect();
        for (d, a) in touching {
            // The dialer learns of the break unless it is the one that crashed.
            self.break_link(d, a, d != id);
            if d == id {
                self.links.remove(&(d, a));
            }
        }
        self.rpc.lose_to(id);
        self.frames.lose_to(id);
        // What waited for the end of a pause went down with the process too.
        self.agenda.retain(|_, e| match e {
            Event::Held(f) => f.to != id,
            Event::HeldFrame(f) => f.to != id,
            _ => true,
        });
    }

    pub(super) fn broker_timer(&mut self, id: NodeId, timer: Timer) {
        match timer {
            Timer::ReplicationTick => {
                self.timer(id, REPLICATION_TICK_MS, Timer::ReplicationTick);
                let parts: Vec<i32> = self
                    .brokers
                    .get(&id)
                    .map(|b| b.replicas.keys().copied().collect())
                    .unwrap_or_default();
                for p in parts {
                    self.replication_tick(id, p);
                }
            }
            Timer::Heartbeat => {
                self.timer(id, HEARTBEAT_MS, Timer::Heartbeat);
                self.heartbeat(id);
            }
            Timer::Fetch => {
                self.timer(id, FETCH_MS, Timer::Fetch);
                let have = self.brokers.get(&id).map_or(0, |b| b.image.version());
                self.rpc
                    .send(&mut self.rng, self.now, id, CONTROLLER, Rpc::Fetch { have });
            }
            Timer::Register => self.register(id),
            Timer::Flush(p) => self.flush(id, p),
            Timer::Checkpoint {
                partition,
                version,
                bytes,
            } => self.checkpoint_landed(id, partition, version, bytes),
            Timer::CatchUp(p, r) => self.catch_up(id, p, r),
            Timer::CatchUpSent {
                partition,
                follower,
                epoch,
                last,
                positions,
            } => self.catch_up_sent(id, partition, follower, (epoch, last, positions)),
            Timer::DialDone(to) => self.dial_done(id, to),
            Timer::DialRetry(to) => {
                if self.links.get(&(id, to)) == Some(&Link::Waiting) {
                    self.links.insert((id, to), Link::Down);
                }
            }
            Timer::Lost(peer) => self.peer_lost(id, peer),
        }
    }

    fn call(&mut self, id: NodeId, asked: Asked, request: ControllerRequest) {
        let now = self.now;
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let rid = b.next_request;
        b.next_request += 1;
        b.outstanding.insert(rid, (asked, now));
        let message = Rpc::Request { id: rid, request };
        self.rpc.send(&mut self.rng, now, id, CONTROLLER, message);
    }

    /// Whether a call of this kind is still awaited (calls of one kind go one at a time,
    /// as the broker loop makes them).
    fn awaiting(&mut self, id: NodeId, asked: Asked) -> bool {
        let now = self.now;
        let Some(b) = self.brokers.get_mut(&id) else {
            return true;
        };
        b.outstanding
            .retain(|_, (_, at)| now.saturating_sub(*at) < CALL_TIMEOUT_MS);
        b.outstanding.values().any(|(a, _)| *a == asked)
    }

    fn register(&mut self, id: NodeId) {
        let Some(b) = self.brokers.get(&id) else {
            return;
        };
        if b.epoch.is_some() {
            return;
        }
        let answered = b.registered_at.is_some();
        self.timer(id, REGISTER_RETRY_MS, Timer::Register);
        if answered || self.awaiting(id, Asked::Register) {
            return;
        }
        let Some(b) = self.brokers.get(&id) else {
            return;
        };
        let cluster_id = self.controller.image().cluster_id().unwrap_or([0; 16]);
        let request = ControllerRequest::RegisterBroker {
            id,
            incarnation: b.incarnation,
            cluster_id,
            listeners: Vec::new(),
            rack: None,
        };
        self.call(id, Asked::Register, request);
    }

    fn heartbeat(&mut self, id: NodeId) {
        let Some(epoch) = self.brokers.get(&id).and_then(|b| b.epoch) else {
            return;
        };
        if self.awaiting(id, Asked::Heartbeat) {
            return;
        }
        let metadata_offset = self.brokers.get(&id).map_or(0, |b| b.image.version());
        let request = ControllerRequest::BrokerHeartbeat {
            id,
            epoch,
            metadata_offset,
            want_shutdown: false,
        };
        self.call(id, Asked::Heartbeat, request);
    }

    /// Asks the controller for an ISR change (the shard's `alter_isr`); the outcome comes
    /// with the metadata.
    pub(super) fn alter_isr(&mut self, id: NodeId, request: ControllerRequest) {
        if self.brokers.get(&id).and_then(|b| b.epoch).is_some() {
            self.call(id, Asked::AlterIsr, request);
        }
    }

    /// The broker's epoch, for its requests.
    pub(super) fn broker_epoch(&self, id: NodeId) -> Option<BrokerEpoch> {
        self.brokers.get(&id).and_then(|b| b.epoch)
    }

    pub(super) fn broker_receive(&mut self, id: NodeId, from: NodeId, message: Rpc) {
        match message {
            Rpc::Answer {
                id: rid,
                index,
                result,
            } => self.answered(id, rid, index, result),
            Rpc::Image(image) => {
                let newer = self
                    .brokers
                    .get(&id)
                    .is_some_and(|b| image.version() > b.image.version());
                if newer {
                    self.install(id, image);
                }
            }
            // A broker not serving yet has no Kafka listener: the produce finds nobody.
            Rpc::Produce {
                id: rid,
                partition,
                payload,
                records,
            } if self.brokers.get(&id).is_some_and(|b| b.serving) => {
                self.produce(id, from, rid, partition, payload, records);
            }
            _ => {}
        }
    }

    fn answered(
        &mut self,
        id: NodeId,
        rid: u64,
        index: u64,
        result: Result<ControllerResponse, ControllerError>,
    ) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let Some((asked, _)) = b.outstanding.remove(&rid) else {
            return;
        };
        match (asked, result) {
            (Asked::Register, Ok(ControllerResponse::Registered { epoch })) => {
                b.registered_at = Some((epoch, index));
                self.installed_up_to(id);
            }
            (Asked::Heartbeat, Ok(ControllerResponse::Heartbeat { fenced, .. })) => {
                if fenced {
                    b.fenced = true;
                    b.unfenced_at = None;
                } else if b.fenced {
                    // Serve as unfenced only with the leaderships that came with it.
                    b.unfenced_at = Some(index);
                    self.installed_up_to(id);
                }
            }
            (
                Asked::Heartbeat,
                Err(ControllerError::StaleBrokerEpoch { .. })
                | Err(ControllerError::BrokerIdNotRegistered(_)),
            ) => {
                b.epoch = None;
                b.fenced = true;
                b.unfenced_at = None;
                self.timer(id, 1, Timer::Register);
            }
            _ => {}
        }
    }

    /// Finishes what waited for the image to reach an index: a registration, an unfencing.
    fn installed_up_to(&mut self, id: NodeId) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let installed = b.image.version();
        if let Some((epoch, index)) = b.registered_at {
            if installed >= index {
                b.registered_at = None;
                b.epoch = Some(epoch);
                // Heartbeat at once: the first one unfences a caught-up broker.
                self.heartbeat(id);
            }
        }
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        if let Some(index) = b.unfenced_at {
            if installed >= index {
                b.unfenced_at = None;
                b.fenced = false;
                b.serving = true;
                let parts: Vec<i32> = b.replicas.keys().copied().collect();
                for p in parts {
                    self.observe(id, p);
                }
            }
        }
    }

    /// Installs a newer image on the broker's partitions (`Shard::apply_metadata`): each
    /// hosted partition is configured and assigned, opened from its disk if it is new.
    fn install(&mut self, id: NodeId, image: Rc<MetadataImage>) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        b.image = image.clone();
        let Some(topic) = image.topic(TOPIC) else {
            return;
        };
        let min_insync = topic
            .configs
            .get("min.insync.replicas")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let config = ReplicationConfig {
            min_insync_replicas: min_insync,
            replica_lag_time_max_ms: super::REPLICA_LAG_MS,
        };
        let mut hosted = Vec::new();
        for (p, placed) in topic.partitions.iter().enumerate() {
            if placed.replicas.contains(&id) {
                let assignment = Assignment {
                    replicas: placed.replicas.clone(),
                    isr: placed.isr.clone(),
                    leader: placed.leader,
                    leader_epoch: placed.leader_epoch,
                    partition_epoch: placed.partition_epoch,
                };
                hosted.push((p as i32, assignment));
            }
        }
        for (p, assignment) in hosted {
            let open = self
                .brokers
                .get(&id)
                .is_some_and(|b| b.replicas.contains_key(&p));
            if open {
                self.configure(id, p, config);
                self.assign(id, p, assignment);
            } else {
                self.open_replica(id, p, assignment, min_insync);
                self.configure(id, p, config);
                self.replication_tick(id, p);
            }
        }
        self.installed_up_to(id);
    }

    /// The connection `id` has to follower node `to`, dialing it when there is none
    /// (`ReplicaNet::connection`).
    pub(super) fn follower_conn(&mut self, id: NodeId, to: NodeId) -> Option<u64> {
        match self.links.get(&(id, to)).copied().unwrap_or(Link::Down) {
            Link::Up(c) => Some(c),
            Link::Dialing | Link::Waiting => None,
            Link::Down => {
                self.links.insert((id, to), Link::Dialing);
                let reachable = self.brokers.get(&to).is_some_and(|b| b.up);
                let cut = self.frames.cut(id, to);
                let after = if cut {
                    DIAL_TIMEOUT_MS
                } else if reachable {
                    1 + self.rng.below(5)
                } else {
                    1
                };
                self.timer(id, after, Timer::DialDone(to));
                None
            }
        }
    }

    fn dial_done(&mut self, id: NodeId, to: NodeId) {
        if self.links.get(&(id, to)) != Some(&Link::Dialing) {
            return;
        }
        let up = self.brokers.get(&to).is_some_and(|b| b.up);
        if up && !self.frames.cut(id, to) {
            self.next_conn += 1;
            let c = self.next_conn;
            self.conns.insert(c, (id, to));
            self.links.insert((id, to), Link::Up(c));
        } else {
            self.links.insert((id, to), Link::Waiting);
            self.timer(id, RECONNECT_MS, Timer::DialRetry(to));
        }
    }

    /// Whether connection `c` is up.
    pub(super) fn conn_alive(&self, c: u64) -> bool {
        self.conns
            .get(&c)
            .is_some_and(|k| self.links.get(k) == Some(&Link::Up(c)))
    }

    /// Breaks the connection `dialer` keeps to `acceptor`: what either end had not yet
    /// received is lost, except what was already in its socket buffer. The dialer notices
    /// (and its partitions learn it) a little later, if `notify`.
    pub(super) fn break_link(&mut self, dialer: NodeId, acceptor: NodeId, notify: bool) {
        let Some(Link::Up(c)) = self.links.get(&(dialer, acceptor)).copied() else {
            return;
        };
        self.links.insert((dialer, acceptor), Link::Down);
        self.trace(|| format!("connection {c} from {dialer} to {acceptor} breaks"));
        for stream in [2 * c, 2 * c + 1] {
            let survive = self.now + self.rng.below(8);
            self.frames.break_stream(stream, survive);
        }
        self.stats.conn_breaks += 1;
        if notify {
            let after = 1 + self.rng.below(20);
            self.timer(dialer, after, Timer::Lost(acceptor));
        }
    }

    /// Sends a frame on connection `c` from `from` (`Conn::try_send`): refused when the
    /// connection is gone or, now and then while faulty, when its queue is full. A frame
    /// that meets a partition breaks the connection (it was queued, and is lost).
    pub(super) fn try_send(&mut self, from: NodeId, c: u64, frame: super::Frame) -> bool {
        if !self.conn_alive(c) {
            return false;
        }
        if self.faults && self.rng.chance(10_000) {
            return false;
        }
        self.send_frame(from, c, frame);
        true
    }

    /// Puts a frame on the wire of a live connection (`Conn::send` after waiting for room).
    pub(super) fn send_frame(&mut self, from: NodeId, c: u64, frame: super::Frame) {
        let Some(&(dialer, acceptor)) = self.conns.get(&c) else {
            return;
        };
        let (to, stream) = if from == dialer {
            (acceptor, 2 * c)
        } else {
            (dialer, 2 * c + 1)
        };
        if !self
            .frames
            .send_stream(&mut self.rng, self.now, stream, from, to, frame)
        {
            self.break_link(dialer, acceptor, true);
        }
    }

    /// The connection `c` was dialed by `node`.
    pub(super) fn dialed_by(&self, c: u64, node: NodeId) -> bool {
        self.conns.get(&c).is_some_and(|(d, _)| *d == node)
    }
}
