//! `myelin-bench metadata-propagation`: how long a created topic takes to be served by every
//! broker of a cluster.
//!
//! One task creates the topics through the bootstrap broker, either one CreateTopics request
//! per topic (each sent when the previous one was answered) or one request with all of them.
//! One task per broker asks that broker, over and over, for the metadata of every topic it
//! has not yet seen served (sent, and not yet listed with a leader for every partition), and
//! notes when each first is. A topic's propagation time runs from the moment its CreateTopics
//! request was written to the moment the last broker's Metadata answer listing it arrived.
//! That answer is an upper bound: the broker served the topic somewhere between the request
//! and the answer, so the resolution is one poll (its round trip plus `--poll-interval-us`),
//! which the report gives too.
//!
//! Everything runs as tasks of one glommio executor on the calling thread; the state they
//! share is theirs alone.

use super::admin;
use super::conn::Conn;
use super::probe::block_on;
use crate::report::{git_commit, Machine};
use crate::stats::{hgrm_text, new_histogram, record_us, Percentiles};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How topics are created.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateMode {
    /// One CreateTopics request per topic, each sent once the previous one was answered.
    PerTopic,
    /// One CreateTopics request naming every topic.
    OneRequest,
}

/// Flags of `myelin-bench metadata-propagation`.
#[derive(clap::Args, Clone, Debug)]
pub struct PropagationArgs {
    /// Every broker whose Metadata must list a topic (`host:port,...`); CreateTopics goes to
    /// `--bootstrap`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub brokers: Vec<String>,
    /// Topics created per round.
    #[arg(long, default_value_t = 1000)]
    pub topics: usize,
    /// Partitions per topic (from the global `--partitions`, default 1).
    #[arg(skip = 1i32)]
    pub partitions: i32,
    /// How topics are created.
    #[arg(long, value_enum, default_value_t = CreateMode::PerTopic)]
    pub mode: CreateMode,
    /// Rounds, each with new topics on the same cluster (the topics of earlier rounds stay).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Connections polling each broker. A broker's shards install a new image one after
    /// another and each connection is served by one shard, so a broker lists a topic only
    /// once every one of its connections does; with 8, a connection misses one of two shards
    /// in fewer than 1 in 100 rounds.
    #[arg(long, default_value_t = 8)]
    pub connections_per_broker: usize,
    /// Pause between one connection's Metadata polls, in microseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_interval_us: u64,
    /// A round that has not finished after this many seconds fails.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// Wait first until every broker lists this many live brokers (default: as many as
    /// `--brokers` names).
    #[arg(long)]
    pub expect_brokers: Option<usize>,
    /// Also time until a produce (one record, acks=all) to partition 0 of each topic is
    /// acknowledged by its leader, retried while it fails: when the topic is served, not
    /// only listed. Adds a write per topic to the load.
    #[arg(long)]
    pub produce: bool,
    /// Connections per broker that `--produce` sends on, one produce in flight on each, so
    /// that topics listed together do not queue behind each other's writes.
    #[arg(long, default_value_t = 8)]
    pub produce_connections: usize,
    /// Topic names are `<prefix>-<round>-<n>` (default: unique to this run).
    #[arg(long)]
    pub topic_prefix: Option<String>,
}

/// What one round measured.
#[derive(Serialize, Debug, Clone)]
pub struct RoundReport {
    /// Round number, from 1.
    pub round: u32,
    /// Topics the cluster held before the round (from the bootstrap broker's Metadata).
    pub topics_before: usize,
    /// Per topic: CreateTopics written → every broker lists it with leaders on every
    /// connection, µs.
    pub propagation_us: Percentiles,
    /// Per topic: CreateTopics written → every broker lists it on at least one of its
    /// connections (one of its shards), µs; the figure a single connection per broker sees
    /// when it happens to land on the shard that installs first.
    pub listed_on_one_connection_us: Percentiles,
    /// Per topic and broker: CreateTopics written → that broker lists it on every
    /// connection, µs.
    pub visible_us_by_broker: Vec<(String, Percentiles)>,
    /// Per CreateTopics request: written → answered, µs.
    pub create_ack_us: Percentiles,
    /// Per topic: CreateTopics written → a produce to its partition 0 acknowledged, µs
    /// (with `--produce`).
    pub produce_ack_us: Option<Percentiles>,
    /// Produce attempts refused before they were acknowledged, by Kafka error code (6:
    /// NOT_LEADER_OR_FOLLOWER, 3: UNKNOWN_TOPIC_OR_PARTITION).
    pub produce_errors: BTreeMap<i16, u64>,
    /// Round trip of the Metadata polls, µs: the resolution of the figures above.
    pub poll_rtt_us: Percentiles,
    /// First CreateTopics written → the last topic listed by every broker, seconds.
    pub wall_s: f64,
    /// First CreateTopics written → the last one answered, seconds.
    pub create_phase_s: f64,
    /// Topics whose creation failed (error code in the answer), with the first message.
    pub create_errors: u64,
    /// The first creation error, if any.
    pub first_error: Option<String>,
}

/// What `metadata-propagation` measured.
#[derive(Serialize, Debug)]
pub struct PropagationReport {
    /// Tool and version.
    pub tool: String,
    /// Git commit, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// Start, Unix seconds.
    pub started_at_unix_s: u64,
    /// Where CreateTopics went.
    pub bootstrap: String,
    /// Brokers polled.
    pub brokers: Vec<String>,
    /// Topics per round.
    pub topics: usize,
    /// Partitions per topic.
    pub partitions: i32,
    /// Creation mode.
    pub mode: CreateMode,
    /// Poll pause, µs.
    pub poll_interval_us: u64,
    /// Each round.
    pub rounds: Vec<RoundReport>,
}

/// A round's histograms: propagation, CreateTopics acknowledgement, produce acknowledgement.
type RoundHistograms = (Histogram<u64>, Histogram<u64>, Histogram<u64>);

/// The times one round collects, shared by its tasks.
struct Marks {
    /// When each topic's CreateTopics request was written.
    sent: RefCell<Vec<Option<Instant>>>,
    /// `[poller][topic]`: when the poller's connection first listed the topic served.
    seen: RefCell<Vec<Vec<Option<Instant>>>>,
    /// Set when the creator has sent everything (or given up).
    sending_done: Cell<bool>,
    /// When a produce to the topic's partition 0 was first acknowledged.
    produced: RefCell<Vec<Option<Instant>>>,
    /// Whether a topic's produce has been queued.
    queued: RefCell<Vec<bool>>,
    /// `[broker]`: topics it leads, listed and waiting for their produce.
    to_produce: RefCell<Vec<VecDeque<usize>>>,
    produce_errors: RefCell<BTreeMap<i16, u64>>,
    poll_rtt: RefCell<Histogram<u64>>,
    create_ack: RefCell<Histogram<u64>>,
    create_errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
    last_ack: Cell<Option<Instant>>,
}

/// Runs `myelin-bench metadata-propagation`.
pub fn run(
    bootstrap: &str,
    args: &PropagationArgs,
    out: Option<&Path>,
) -> anyhow::Result<PropagationReport> {
    if args.topics == 0 || args.brokers.is_empty() {
        bail!("need at least one topic and one broker");
    }
    let started_at_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prefix = args
        .topic_prefix
        .clone()
        .unwrap_or_else(|| format!("prop-{}-{started_at_unix_s}", std::process::id()));
    let expect = args.expect_brokers.unwrap_or(args.brokers.len());
    block_on(|| wait_for_cluster(&args.brokers, expect, args.timeout_s))?;
    let mut rounds = Vec::new();
    let mut hists = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let names: Vec<String> = (0..args.topics)
            .map(|n| format!("{prefix}-{round}-{n}"))
            .collect();
        let (report, h) = block_on(|| one_round(bootstrap, args, round, &names))?;
        rounds.push(report);
        hists.push(h);
    }
    let report = PropagationReport {
        tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
        git_commit: git_commit(),
        machine: Machine::detect(),
        started_at_unix_s,
        bootstrap: bootstrap.to_string(),
        brokers: args.brokers.clone(),
        topics: args.topics,
        partitions: args.partitions,
        mode: args.mode,
        poll_interval_us: args.poll_interval_us,
        rounds,
    };
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("metadata-propagation.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        for (i, (prop, ack, produced)) in hists.iter().enumerate() {
            let n = i + 1;
            std::fs::write(
                dir.join(format!("propagation-round-{n}.hgrm")),
                hgrm_text(prop),
            )?;
            std::fs::write(
                dir.join(format!("create-ack-round-{n}.hgrm")),
                hgrm_text(ack),
            )?;
            if args.produce {
                std::fs::write(
                    dir.join(format!("produce-ack-round-{n}.hgrm")),
                    hgrm_text(produced),
                )?;
            }
        }
    }
    Ok(report)
}

/// One line per round for the terminal.
pub fn round_line(r: &RoundReport) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "round {}: {} topics before; propagation p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
         (one connection per broker: p50 {:.1} ms, max {:.1} ms); \
         wall {:.2} s (creates {:.2} s); create ack p50 {:.1} ms; poll rtt p50 {:.2} ms; \
         {} errors{}",
        r.round,
        r.topics_before,
        ms(r.propagation_us.p50),
        ms(r.propagation_us.p99),
        ms(r.propagation_us.max),
        ms(r.listed_on_one_connection_us.p50),
        ms(r.listed_on_one_connection_us.max),
        r.wall_s,
        r.create_phase_s,
        ms(r.create_ack_us.p50),
        ms(r.poll_rtt_us.p50),
        r.create_errors,
        r.produce_ack_us.map_or(String::new(), |p| format!(
            "; produce acked p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, refused {:?}",
            ms(p.p50),
            ms(p.p99),
            ms(p.max),
            r.produce_errors
        ))
    )
}

async fn one_round(
    bootstrap: &str,
    args: &PropagationArgs,
    round: u32,
    names: &[String],
) -> anyhow::Result<(RoundReport, RoundHistograms)> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    let mut creator = Conn::connect(bootstrap).await?;
    let topics_before = count_topics(&mut creator).await?;
    let per_broker = args.connections_per_broker.max(1);
    let mut pollers = Vec::new();
    for (b, addr) in args.brokers.iter().enumerate() {
        for _ in 0..per_broker {
            pollers.push((b, Conn::connect(addr).await?));
        }
    }
    let n = names.len();
    let marks = Rc::new(Marks {
        sent: RefCell::new(vec![None; n]),
        seen: RefCell::new(vec![vec![None; n]; pollers.len()]),
        produced: RefCell::new(vec![None; n]),
        queued: RefCell::new(vec![false; n]),
        to_produce: RefCell::new(vec![VecDeque::new(); args.brokers.len()]),
        produce_errors: RefCell::new(BTreeMap::new()),
        sending_done: Cell::new(false),
        poll_rtt: RefCell::new(new_histogram()),
        create_ack: RefCell::new(new_histogram()),
        create_errors: Cell::new(0),
        first_error: RefCell::new(None),
        last_ack: Cell::new(None),
    });
    let index: Rc<HashMap<String, usize>> = Rc::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
    );
    let names_rc: Rc<Vec<String>> = Rc::new(names.to_vec());
    let mut tasks = Vec::new();
    let pause = Duration::from_micros(args.poll_interval_us);
    let owners: Vec<usize> = pollers.iter().map(|(b, _)| *b).collect();
    for (k, (b, conn)) in pollers.into_iter().enumerate() {
        let (marks, index, names) = (marks.clone(), index.clone(), names_rc.clone());
        let partitions = args.partitions as usize;
        let poller = Poller {
            slot: k,
            broker: b,
            addr: args.brokers.get(b).cloned().unwrap_or_default(),
            partitions,
            produce: args.produce,
            pause,
            deadline,
        };
        tasks.push(glommio::spawn_local(async move {
            poller.run(conn, &names, &index, &marks).await
        }));
    }
    if args.produce {
        for (b, addr) in args.brokers.iter().enumerate() {
            for _ in 0..args.produce_connections.max(1) {
                let conn = Conn::connect(addr).await?;
                let (marks, names) = (marks.clone(), names_rc.clone());
                tasks.push(glommio::spawn_local(async move {
                    produce_loop(conn, b, &names, &marks, pause, deadline).await
                }));
            }
        }
    }
    let create = create_all(&mut creator, args, names, &marks, deadline).await;
    marks.sending_done.set(true);
    let mut poll_result = Ok(());
    for t in tasks {
        if let Err(e) = t.await {
            poll_result = Err(e);
        }
    }
    create?;
    poll_result?;
    Ok(summarise(args, round, topics_before, &marks, &owners))
}

/// Waits until every broker answers and lists `expect` live brokers (a cluster that is
/// still starting registers and unfences its brokers one by one).
async fn wait_for_cluster(brokers: &[String], expect: usize, timeout_s: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    for b in brokers {
        loop {
            let listed = match Conn::connect(b).await {
                Ok(mut conn) => admin::metadata(&mut conn, &[])
                    .await
                    .map_or(0, |r| r.brokers.len()),
                Err(_) => 0,
            };
            if listed >= expect {
                break;
            }
            if Instant::now() > deadline {
                bail!("{b} lists {listed} live brokers, not {expect}, at the deadline");
            }
            glommio::timer::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Topics the broker holds now.
async fn count_topics(conn: &mut Conn) -> anyhow::Result<usize> {
    let mut req = kafka_protocol::messages::MetadataRequest::default();
    req.topics = None; // every topic
    let version = conn.versions.metadata;
    let resp = conn.call(&req, version).await.context("Metadata")?;
    Ok(resp.topics.len())
}

async fn create_all(
    conn: &mut Conn,
    args: &PropagationArgs,
    names: &[String],
    marks: &Marks,
    deadline: Instant,
) -> anyhow::Result<()> {
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let groups: Vec<(usize, &[String])> = match args.mode {
        CreateMode::PerTopic => names.chunks(1).enumerate().collect(),
        CreateMode::OneRequest => vec![(0, names)],
    };
    for (first, group) in groups {
        let specs = group
            .iter()
            .map(|n| admin::creatable(n, args.partitions))
            .collect();
        let t = Instant::now();
        for i in first..first + group.len() {
            if let Some(s) = marks.sent.borrow_mut().get_mut(i) {
                *s = Some(t);
            }
        }
        let timeout_ms = i32::try_from(left().as_millis()).unwrap_or(i32::MAX);
        let answer = glommio::timer::timeout(left(), async {
            Ok(admin::create(conn, specs, timeout_ms).await)
        })
        .await
        .map_err(|_| anyhow::anyhow!("CreateTopics not answered before the deadline"))??;
        let now = Instant::now();
        record_us(
            &mut marks.create_ack.borrow_mut(),
            now.duration_since(t).as_micros() as u64,
        );
        marks.last_ack.set(Some(now));
        for c in answer.iter().filter(|c| !c.ok()) {
            marks.create_errors.set(marks.create_errors.get() + 1);
            let mut first_error = marks.first_error.borrow_mut();
            if first_error.is_none() {
                *first_error = Some(format!(
                    "{}: error {} {}",
                    c.name,
                    c.error_code,
                    c.message.as_deref().unwrap_or("")
                ));
            }
        }
        // A topic that failed is not waited for.
        for c in answer.iter().filter(|c| !c.ok()) {
            if let Some(i) = names.iter().position(|n| *n == c.name) {
                if let Some(s) = marks.sent.borrow_mut().get_mut(i) {
                    *s = None;
                }
            }
        }
    }
    Ok(())
}

/// One connection's poller: asks for every topic sent and not yet seen served on it.
struct Poller {
    /// Its index in `Marks::seen`.
    slot: usize,
    /// The broker it polls.
    broker: usize,
    addr: String,
    partitions: usize,
    /// Queue each topic this broker leads for a produce once it is listed.
    produce: bool,
    pause: Duration,
    deadline: Instant,
}

impl Poller {
    async fn run(
        &self,
        mut conn: Conn,
        names: &[String],
        index: &HashMap<String, usize>,
        marks: &Marks,
    ) -> anyhow::Result<()> {
        let (slot, broker) = (self.slot, self.broker);
        let mut me: Option<i32> = None;
        loop {
            let pending: Vec<String> = {
                let sent = marks.sent.borrow();
                let seen = marks.seen.borrow();
                let mine = seen.get(slot).context("poller index")?;
                names
                    .iter()
                    .zip(sent.iter().zip(mine.iter()))
                    .filter(|(_, (s, v))| s.is_some() && v.is_none())
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            if pending.is_empty() && marks.sending_done.get() {
                return Ok(());
            }
            if Instant::now() > self.deadline {
                bail!(
                    "broker {broker}: {} topics still not served at the deadline",
                    pending.len()
                );
            }
            if !pending.is_empty() {
                let asked = Instant::now();
                let resp = admin::metadata(&mut conn, &pending).await?;
                let now = Instant::now();
                record_us(
                    &mut marks.poll_rtt.borrow_mut(),
                    now.duration_since(asked).as_micros() as u64,
                );
                if me.is_none() {
                    me = admin::node_id_of(&resp, &self.addr);
                }
                let leaders: HashMap<String, i32> =
                    admin::first_leaders(&resp).into_iter().collect();
                let mut seen = marks.seen.borrow_mut();
                let mine = seen.get_mut(slot).context("poller index")?;
                for (name, count) in admin::served(&resp) {
                    if count != self.partitions {
                        continue;
                    }
                    let Some(&i) = index.get(&name) else { continue };
                    let Some(first) = mine.get_mut(i) else {
                        continue;
                    };
                    if first.is_some() {
                        continue;
                    }
                    *first = Some(now);
                    // The first connection to list it on its leader queues the produce.
                    let leads = me.is_some() && leaders.get(&name).copied() == me;
                    let queued = marks.queued.borrow().get(i).copied().unwrap_or(true);
                    if self.produce && leads && !queued {
                        if let Some(q) = marks.queued.borrow_mut().get_mut(i) {
                            *q = true;
                        }
                        if let Some(q) = marks.to_produce.borrow_mut().get_mut(broker) {
                            q.push_back(i);
                        }
                    }
                }
            }
            glommio::timer::sleep(self.pause).await;
        }
    }
}

/// One broker's producer: a produce to partition 0 of every topic the broker leads, as soon
/// as it is listed, retried until acknowledged.
async fn produce_loop(
    mut conn: Conn,
    broker: usize,
    names: &[String],
    marks: &Marks,
    pause: Duration,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let next = marks
            .to_produce
            .borrow_mut()
            .get_mut(broker)
            .and_then(VecDeque::pop_front);
        let Some(i) = next else {
            let all_done = marks.sending_done.get() && {
                let sent = marks.sent.borrow();
                let produced = marks.produced.borrow();
                sent.iter()
                    .zip(produced.iter())
                    .all(|(s, p)| s.is_none() || p.is_some())
            };
            if all_done {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("broker {broker}: produces still not acknowledged at the deadline");
            }
            glommio::timer::sleep(pause).await;
            continue;
        };
        let name = names.get(i).context("topic index")?;
        let codes = super::probe::produce(&mut conn, name, std::iter::once(0), 1).await?;
        let now = Instant::now();
        match codes.iter().find(|(_, c)| *c != 0) {
            None if !codes.is_empty() => {
                if let Some(p) = marks.produced.borrow_mut().get_mut(i) {
                    *p = Some(now);
                }
            }
            failed => {
                let code = failed.map_or(-1, |(_, c)| *c);
                *marks.produce_errors.borrow_mut().entry(code).or_insert(0) += 1;
                if let Some(q) = marks.to_produce.borrow_mut().get_mut(broker) {
                    q.push_back(i);
                }
                glommio::timer::sleep(pause).await;
            }
        }
    }
}

/// `owners[k]` is the broker poller `k` polls.
fn summarise(
    args: &PropagationArgs,
    round: u32,
    topics_before: usize,
    marks: &Marks,
    owners: &[usize],
) -> (RoundReport, RoundHistograms) {
    let sent = marks.sent.borrow();
    let seen = marks.seen.borrow();
    let mut all = new_histogram();
    let mut any_conn = new_histogram();
    let mut per_broker: Vec<Histogram<u64>> =
        args.brokers.iter().map(|_| new_histogram()).collect();
    let first_sent = sent.iter().flatten().min().copied();
    let mut last_seen: Option<Instant> = None;
    for (i, s) in sent.iter().enumerate() {
        let Some(s) = s else { continue };
        // A broker lists the topic once every one of its connections does; for comparison,
        // `partly` is when each broker had listed it on at least one connection.
        let mut worst: Option<Instant> = None;
        let mut partly: Option<Instant> = None;
        for (b, h) in per_broker.iter_mut().enumerate() {
            let times: Vec<Option<Instant>> = owners
                .iter()
                .zip(seen.iter())
                .filter(|(o, _)| **o == b)
                .map(|(_, m)| m.get(i).copied().flatten())
                .collect();
            if let Some(v) = times.iter().flatten().min() {
                partly = Some(partly.map_or(*v, |w| w.max(*v)));
            }
            if times.iter().all(Option::is_some) {
                if let Some(v) = times.into_iter().flatten().max() {
                    record_us(h, v.duration_since(*s).as_micros() as u64);
                    worst = Some(worst.map_or(v, |w| w.max(v)));
                }
            }
        }
        if let Some(p) = partly {
            record_us(&mut any_conn, p.duration_since(*s).as_micros() as u64);
        }
        if let Some(w) = worst {
            record_us(&mut all, w.duration_since(*s).as_micros() as u64);
            last_seen = Some(last_seen.map_or(w, |l| l.max(w)));
        }
    }
    let span = |end: Option<Instant>| match (first_sent, end) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let ack = marks.create_ack.borrow().clone();
    let mut produced = new_histogram();
    for (s, p) in sent.iter().zip(marks.produced.borrow().iter()) {
        if let (Some(s), Some(p)) = (s, p) {
            record_us(&mut produced, p.duration_since(*s).as_micros() as u64);
        }
    }
    let report = RoundReport {
        round,
        topics_before,
        propagation_us: Percentiles::of(&all).unwrap_or_default(),
        listed_on_one_connection_us: Percentiles::of(&any_conn).unwrap_or_default(),
        visible_us_by_broker: args
            .brokers
            .iter()
            .zip(&per_broker)
            .map(|(b, h)| (b.clone(), Percentiles::of(h).unwrap_or_default()))
            .collect(),
        create_ack_us: Percentiles::of(&ack).unwrap_or_default(),
        produce_ack_us: args
            .produce
            .then(|| Percentiles::of(&produced).unwrap_or_default()),
        produce_errors: marks.produce_errors.borrow().clone(),
        poll_rtt_us: Percentiles::of(&marks.poll_rtt.borrow()).unwrap_or_default(),
        wall_s: span(last_seen),
        create_phase_s: span(marks.last_ack.get()),
        create_errors: marks.create_errors.get(),
        first_error: marks.first_error.borrow().clone(),
    };
    (report, (all, ack, produced))
}
