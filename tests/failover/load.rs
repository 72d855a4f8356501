//! Load and bookkeeping for the failover scenarios: a continuous producer that records every
//! acknowledgement (partition, offset, key, value, when), a consumer-group member that records
//! what it consumed and in which assignment, the checker that holds a partition's records
//! against what was acknowledged, and a reader of a replica's log files on disk.
//!
//! Every key a producer sends is unique (its tag, partition and sequence number), so a key
//! found at two offsets is a duplicate, and an acknowledged key missing at its offset is loss.

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One acknowledged record.
#[derive(Debug, Clone)]
pub struct Ack {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
    /// When the acknowledgement reached the producer.
    pub at: Instant,
}

/// What a producer run saw: acknowledgements, and the records that failed for good.
#[derive(Debug, Default)]
pub struct Deliveries {
    pub acks: Vec<Ack>,
    /// (partition, key, error) of every record whose delivery failed.
    pub failed: Vec<(i32, String, String)>,
}

impl Deliveries {
    /// The acknowledgements of `partition` received at or after `since`.
    pub fn acks_since(&self, partition: i32, since: Instant) -> usize {
        self.acks
            .iter()
            .filter(|a| a.partition == partition && a.at >= since)
            .count()
    }

    /// The longest time without an acknowledgement on `partition` (any, if `None`) within
    /// `from..to`; the window's edges count as acknowledgements.
    pub fn longest_stall(&self, partition: Option<i32>, from: Instant, to: Instant) -> Duration {
        let mut times: Vec<Instant> = self
            .acks
            .iter()
            .filter(|a| partition.is_none_or(|p| a.partition == p))
            .map(|a| a.at)
            .filter(|&t| t > from && t < to)
            .collect();
        times.sort();
        let mut prev = from;
        let mut longest = Duration::ZERO;
        for t in times.into_iter().chain(std::iter::once(to)) {
            longest = longest.max(t.duration_since(prev));
            prev = t;
        }
        longest
    }
}

/// Records deliveries as librdkafka reports them (on the producer's poll thread).
struct AckContext {
    seen: Arc<Mutex<Deliveries>>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let at = Instant::now();
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let mut seen = self.seen.lock().unwrap();
        match result {
            Ok(m) => seen.acks.push(Ack {
                partition: m.partition(),
                offset: m.offset(),
                key: text(m.key()),
                value: text(m.payload()),
                at,
            }),
            Err((e, m)) => seen
                .failed
                .push((m.partition(), text(m.key()), e.to_string())),
        }
    }
}

/// A producer writing continuously on its own thread until stopped.
pub struct ProduceRun {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Deliveries>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub tag: String,
}

/// How often a producer sends one record to each of its partitions (about 200 records per
/// second per partition: enough to see a stall to the millisecond, little for a debug build).
pub const PRODUCE_INTERVAL: Duration = Duration::from_millis(5);

/// Librdkafka settings of the failover producers: acks=all and idempotence, retries for as
/// long as a failover can take. A request unanswered for 5 s is retried and a connection
/// silent for 10 s dropped: with librdkafka's default (60 s) a producer keeps waiting on a
/// cut-off leader's connection for a minute before it asks for the new leader (seen with
/// Kafka 4.4 and Myelin alike).
pub fn idempotent(config: ClientConfig) -> ClientConfig {
    let mut c = config;
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "90000")
        .set("request.timeout.ms", "5000")
        .set("socket.timeout.ms", "10000");
    c
}

impl ProduceRun {
    /// Starts producing to `partitions` of `topic` with `config`, on a new thread.
    pub fn start(config: ClientConfig, topic: &str, partitions: &[i32], tag: &str) -> ProduceRun {
        ProduceRun::start_on(std::thread::spawn, config, topic, partitions, tag)
    }

    /// Starts producing with a thread that `spawn` makes (e.g. inside a node's network
    /// namespace): the producer is created on that thread.
    pub fn start_on(
        spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> std::thread::JoinHandle<()>,
        config: ClientConfig,
        topic: &str,
        partitions: &[i32],
        tag: &str,
    ) -> ProduceRun {
        let (stop, seen): (Arc<AtomicBool>, Arc<Mutex<Deliveries>>) =
            (Arc::default(), Arc::default());
        let (s, d) = (Arc::clone(&stop), Arc::clone(&seen));
        let (topic, partitions, t) = (topic.to_string(), partitions.to_vec(), tag.to_string());
        let thread = spawn(Box::new(move || {
            produce_loop(config, &topic, &partitions, &t, &s, &d)
        }));
        ProduceRun {
            stop,
            seen,
            thread: Some(thread),
            tag: tag.to_string(),
        }
    }

    /// A copy of what has been delivered so far.
    pub fn snapshot(&self) -> Deliveries {
        let d = self.seen.lock().unwrap();
        Deliveries {
            acks: d.acks.clone(),
            failed: d.failed.clone(),
        }
    }

    /// Waits until `partition` has `n` acknowledgements received at or after `since`.
    pub fn wait_acks(&self, partition: i32, since: Instant, n: usize, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            let got = self.seen.lock().unwrap().acks_since(partition, since);
            if got >= n {
                return;
            }
            let failed = self.seen.lock().unwrap().failed.len();
            assert!(
                t0.elapsed() < timeout,
                "producer {}: {got} of {n} acknowledgements on partition {partition} within \
                 {timeout:?} ({failed} deliveries failed)",
                self.tag
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops sending, waits for every outstanding delivery (bounded by the producer's
    /// message timeout) and returns what was delivered.
    pub fn finish(mut self) -> Deliveries {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("producer thread");
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for ProduceRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn produce_loop(
    config: ClientConfig,
    topic: &str,
    partitions: &[i32],
    tag: &str,
    stop: &AtomicBool,
    seen: &Arc<Mutex<Deliveries>>,
) {
    let ctx = AckContext {
        seen: Arc::clone(seen),
    };
    let producer: ThreadedProducer<AckContext> = config
        .create_with_context(ctx)
        .expect("create the producer");
    let mut seq = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        for &p in partitions {
            let key = format!("{tag}-{p}-{seq}");
            let value = format!("{tag} record {seq} for partition {p}");
            let mut record = BaseRecord::to(topic).partition(p).key(&key).payload(&value);
            // A full queue (a long stall) is waited out, the record kept.
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err((e, _)) => panic!("producer {tag}: send {key}: {e}"),
                }
            }
        }
        seq += 1;
        next += PRODUCE_INTERVAL;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    // Outstanding records get their final delivery report (acknowledged or failed).
    if let Err(e) = producer.flush(Duration::from_secs(100)) {
        panic!("producer {tag}: flush: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The checker

/// A partition's records as read back: offset -> (key, value).
pub type Records = BTreeMap<i64, (String, String)>;

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub acknowledged: usize,
    /// Acknowledged records missing at their offset (partition, offset, key, what is there).
    pub lost: Vec<(i32, i64, String, Option<String>)>,
    /// Keys found at more than one offset (partition, key, offsets).
    pub duplicates: Vec<(i32, String, Vec<i64>)>,
    /// Records whose delivery failed and that are in the log anyway.
    pub failed_but_present: usize,
}

impl Verdict {
    pub fn summary(&self) -> String {
        format!(
            "{} acknowledged; {} lost, {} duplicated keys; {} failed deliveries present anyway",
            self.acknowledged,
            self.lost.len(),
            self.duplicates.len(),
            self.failed_but_present
        )
    }

    /// Panics with the first few problems unless nothing was lost or duplicated.
    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.lost.is_empty() && self.duplicates.is_empty(),
            "{what}: {}; lost (first 10): {:?}; duplicates (first 10): {:?}",
            self.summary(),
            &self.lost[..self.lost.len().min(10)],
            &self.duplicates[..self.duplicates.len().min(10)]
        );
    }
}

/// Holds `read` (per partition) against `delivered`: every acknowledged record at its offset
/// with its key and value; no key of `tag` twice.
pub fn check(delivered: &Deliveries, read: &BTreeMap<i32, Records>, tag: &str) -> Verdict {
    let mut v = Verdict {
        acknowledged: delivered.acks.len(),
        ..Verdict::default()
    };
    for a in &delivered.acks {
        let there = read.get(&a.partition).and_then(|r| r.get(&a.offset));
        if there != Some(&(a.key.clone(), a.value.clone())) {
            v.lost.push((
                a.partition,
                a.offset,
                a.key.clone(),
                there.map(|(k, _)| k.clone()),
            ));
        }
    }
    let prefix = format!("{tag}-");
    for (&p, records) in read {
        let mut at: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (&o, (k, _)) in records {
            if k.starts_with(&prefix) {
                at.entry(k.as_str()).or_default().push(o);
            }
        }
        for (k, offsets) in at.into_iter().filter(|(_, o)| o.len() > 1) {
            v.duplicates.push((p, k.to_string(), offsets));
        }
    }
    let present: std::collections::BTreeSet<(i32, &str)> = read
        .iter()
        .flat_map(|(&p, r)| r.values().map(move |(k, _)| (p, k.as_str())))
        .collect();
    v.failed_but_present = delivered
        .failed
        .iter()
        .filter(|(p, k, _)| present.contains(&(*p, k.as_str())))
        .count();
    v
}

/// Reads `partitions` of `topic` from the beginning to their high watermark (asked once at
/// the start), with a consumer assigned to them (no group).
pub fn read_back(
    config: ClientConfig,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> BTreeMap<i32, Records> {
    let mut c = config;
    let consumer: BaseConsumer = c
        .set("group.id", "failover-checker")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for &p in partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{topic}-{p}: watermarks: {e}"));
        ends.insert(p, high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Records> = partitions.iter().map(|&p| (p, Records::new())).collect();
    let t0 = Instant::now();
    // Done when each partition has its record just below the high watermark (these topics
    // hold no control batches).
    let done = |out: &BTreeMap<i32, Records>| {
        ends.iter()
            .all(|(p, &end)| end == 0 || out[p].contains_key(&(end - 1)))
    };
    while !done(&out) {
        assert!(
            t0.elapsed() < timeout,
            "{topic}: read back {} records of high watermarks {ends:?} within {timeout:?}",
            out.values().map(BTreeMap::len).sum::<usize>()
        );
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            // A killed node's connections fail while the client still knows it: the
            // client reconnects elsewhere on its own.
            Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
            )) => continue,
            Err(e) => panic!("{topic}: consume: {e}"),
        };
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        out.entry(m.partition())
            .or_default()
            .insert(m.offset(), (text(m.key()), text(m.payload())));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A consumer-group member

/// One record as a group member consumed it.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    /// How many assignments this member had received when it consumed the record: records
    /// consumed twice within one assignment are duplicates, across assignments replays.
    pub assignment: u32,
}

struct GroupContext {
    assignments: Arc<AtomicU32>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.assignments.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A commit the coordinator acknowledged: in which assignment, and the positions committed.
#[derive(Debug, Clone)]
pub struct Committed {
    pub assignment: u32,
    pub positions: BTreeMap<i32, i64>,
}

/// What a group member did.
#[derive(Debug, Default)]
pub struct Membership {
    pub consumed: Vec<Consumed>,
    pub commits: Vec<Committed>,
    /// Errors its polls and commits returned, with when.
    pub errors: Vec<String>,
}

/// A group member consuming on its own thread, committing its position every 500 ms
/// (synchronously, so that each commit's outcome is known).
pub struct GroupMember {
    stop: Arc<AtomicBool>,
    consumed: Arc<Mutex<Vec<Consumed>>>,
    thread: Option<std::thread::JoinHandle<(Vec<Committed>, Vec<String>)>>,
}

impl GroupMember {
    pub fn start(config: ClientConfig, topic: &str, group: &str) -> GroupMember {
        let stop: Arc<AtomicBool> = Arc::default();
        let consumed: Arc<Mutex<Vec<Consumed>>> = Arc::default();
        let (s, c) = (Arc::clone(&stop), Arc::clone(&consumed));
        let mut config = config;
        config
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        let topic = topic.to_string();
        let thread = std::thread::spawn(move || {
            let assignments = Arc::new(AtomicU32::new(0));
            let t0 = Instant::now();
            let ctx = GroupContext {
                assignments: Arc::clone(&assignments),
            };
            let consumer: BaseConsumer<GroupContext> = config.create_with_context(ctx).unwrap();
            consumer.subscribe(&[&topic]).unwrap();
            let mut errors = Vec::new();
            let mut commits = Vec::new();
            let mut last_commit = Instant::now();
            while !s.load(Ordering::SeqCst) {
                match consumer.poll(Duration::from_millis(100)) {
                    None => {}
                    Some(Err(e)) => errors.push(format!("at {:?}: {e}", t0.elapsed())),
                    Some(Ok(m)) => c.lock().unwrap().push(Consumed {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                        assignment: assignments.load(Ordering::SeqCst),
                    }),
                }
                if last_commit.elapsed() > Duration::from_millis(500) {
                    // Synchronous, so that every failed commit is seen; nothing consumed yet
                    // in an assignment is no failure.
                    let assignment = assignments.load(Ordering::SeqCst);
                    let positions: BTreeMap<i32, i64> = consumer
                        .position()
                        .map(|tpl| {
                            tpl.elements()
                                .iter()
                                .filter_map(|e| match e.offset() {
                                    Offset::Offset(o) => Some((e.partition(), o)),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    match consumer.commit_consumer_state(CommitMode::Sync) {
                        Ok(()) => commits.push(Committed {
                            assignment,
                            positions,
                        }),
                        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                        Err(e) => errors.push(format!("at {:?}: commit: {e}", t0.elapsed())),
                    }
                    last_commit = Instant::now();
                }
            }
            (commits, errors)
        });
        GroupMember {
            stop,
            consumed,
            thread: Some(thread),
        }
    }

    /// How many records it has consumed so far.
    pub fn count(&self) -> usize {
        self.consumed.lock().unwrap().len()
    }

    /// Whether it has consumed every key in `keys` (partition, offset pairs of `acks`).
    pub fn has_all(&self, acks: &[Ack]) -> bool {
        let c = self.consumed.lock().unwrap();
        let got: std::collections::BTreeSet<(i32, i64)> =
            c.iter().map(|r| (r.partition, r.offset)).collect();
        acks.iter().all(|a| got.contains(&(a.partition, a.offset)))
    }

    /// Stops it; returns what it consumed and committed, and the errors it saw.
    pub fn finish(mut self) -> Membership {
        self.stop.store(true, Ordering::SeqCst);
        let (commits, errors) = self
            .thread
            .take()
            .map(|t| t.join().expect("consumer thread"))
            .unwrap_or_default();
        Membership {
            consumed: std::mem::take(&mut *self.consumed.lock().unwrap()),
            commits,
            errors,
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// A replica's log on disk

/// One record of a replica's log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRecord {
    pub offset: i64,
    pub leader_epoch: i32,
    pub key: String,
    pub value: String,
    pub control: bool,
}

/// The records of `topic`-`partition` in the log files under `data` (Kafka keeps a partition
/// in `data/<topic>-<p>/`, Myelin in `data/topics/<topic>-<p>/`; both store the wire's v2
/// record batches byte for byte). Reading stops at the first length or CRC that does not
/// check out (a preallocated or torn tail); a note says where if that is not the file's end.
pub fn read_replica_log(
    data: &Path,
    topic: &str,
    partition: i32,
) -> (Vec<DiskRecord>, Vec<String>) {
    let name = format!("{topic}-{partition}");
    let dir = [data.join(&name), data.join("topics").join(&name)]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no directory for {name} in {}", data.display()));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut pos = 0usize;
        while bytes.len() - pos >= 12 {
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            if len <= 0 || pos + 12 + len as usize > bytes.len() {
                break;
            }
            let end = pos + 12 + len as usize;
            let mut batch = bytes::Bytes::copy_from_slice(&bytes[pos..end]);
            match kafka_protocol::records::RecordBatchDecoder::decode(&mut batch) {
                Ok(set) => {
                    for r in set.records {
                        let text = |b: Option<bytes::Bytes>| {
                            String::from_utf8_lossy(&b.unwrap_or_default()).into_owned()
                        };
                        out.push(DiskRecord {
                            offset: r.offset,
                            leader_epoch: r.partition_leader_epoch,
                            key: text(r.key),
                            value: text(r.value),
                            control: r.control,
                        });
                    }
                }
                Err(e) => {
                    notes.push(format!("{}: stops at byte {pos}: {e}", f.display()));
                    break;
                }
            }
            pos = end;
        }
        if bytes[pos..].iter().any(|&b| b != 0) && notes.is_empty() {
            notes.push(format!(
                "{}: {} bytes after the last batch at {pos} are not zeros",
                f.display(),
                bytes.len() - pos
            ));
        }
    }
    (out, notes)
}
