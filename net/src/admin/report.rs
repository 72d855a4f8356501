//! What the admin listener reports: every shard's report gathered over the mesh, merged into
//! one [`NodeReport`], and written as Prometheus text or JSON.

use myelin_metrics::{Exposition, HistogramSnapshot, ShardSnapshot};
use myelin_shards::{Shard, ShardId};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// One partition replica on a shard.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    pub leader: bool,
    pub leader_epoch: i32,
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    pub last_stable: i64,
    pub size_bytes: u64,
    pub replicas: usize,
    pub isr: usize,
    /// A leader's followers: node, offsets behind, ms since caught up.
    pub followers: Vec<(i32, i64, i64)>,
}

/// A committed offset of a group this shard coordinates.
#[derive(Debug, Clone)]
pub struct CommittedReport {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub commit_ms: i64,
}

/// What one shard reports.
#[derive(Debug, Clone, Default)]
pub struct ShardReport {
    pub shard: usize,
    pub metrics: ShardSnapshot,
    pub partitions: Vec<PartitionReport>,
    pub committed: Vec<CommittedReport>,
    pub runtime: RuntimeTotals,
}

/// What the shard's glommio executor and io_uring rings have done since start. glommio hands
/// its counts out once and starts again from zero, so every report adds them up here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeTotals {
    /// Time spent running tasks and polling for I/O (not spinning or sleeping), ns.
    pub busy_ns: u64,
    /// Tasks run.
    pub tasks: u64,
    /// File reads submitted to io_uring, and their bytes.
    pub file_reads: u64,
    pub file_read_bytes: u64,
    /// File writes submitted to io_uring, and their bytes.
    pub file_writes: u64,
    pub file_write_bytes: u64,
}

thread_local! {
    static RUNTIME: std::cell::Cell<RuntimeTotals> = std::cell::Cell::new(RuntimeTotals::default());
}

/// This shard's totals, with what glommio counted since the last call added in.
fn runtime_totals() -> RuntimeTotals {
    let ex = glommio::executor();
    let stats = ex.executor_stats();
    let io = ex.io_stats().all_rings();
    RUNTIME.with(|t| {
        let mut v = t.get();
        v.busy_ns += u64::try_from(stats.total_runtime().as_nanos()).unwrap_or(u64::MAX);
        v.tasks += stats.tasks_executed();
        let (reads, read_bytes) = io.file_reads();
        let (writes, write_bytes) = io.file_writes();
        v.file_reads += reads;
        v.file_read_bytes += read_bytes;
        v.file_writes += writes;
        v.file_write_bytes += write_bytes;
        t.set(v);
        v
    })
}

/// The node's report: every shard's, and what shard 0 knows of the node.
#[derive(Debug, Clone, Default)]
pub struct NodeReport {
    /// This broker.
    pub node_id: i32,
    /// Every shard's report.
    pub shards: Vec<ShardReport>,
    /// Partitions in the metadata image without a leader.
    pub offline_partitions: usize,
    /// Partitions this node leads whose ISR is smaller than the replica set.
    pub under_replicated: usize,
    /// Partitions this node leads whose ISR is below `min.insync.replicas`.
    pub under_min_isr: usize,
    /// Free bytes on the data directory's file system.
    pub disk_free_bytes: Option<u64>,
    /// Size of that file system.
    pub disk_total_bytes: Option<u64>,
    /// Resident memory of the process.
    pub resident_bytes: Option<u64>,
    /// Heap counts of every thread of the process (`None` without the counting allocator).
    pub heap: Option<myelin_metrics::heap::HeapCounts>,
    /// High watermarks of partitions other brokers lead that groups coordinated here have
    /// offsets on, asked of those leaders (ListOffsets) for the lag.
    pub remote_high_watermarks: HashMap<(String, i32), i64>,
    /// Timestamp of the batch holding each lagging committed offset on a partition this node
    /// leads, by (topic, partition, offset): the first record a group has still to read.
    pub unread_timestamps: HashMap<(String, i32, i64), i64>,
    /// When the report was made, ms since the epoch (the shard's clock).
    pub now_ms: i64,
}

fn shard_report(shard: &Shard) -> ShardReport {
    let partitions = shard
        .partitions()
        .iter()
        .map(|p| {
            let o = p.offsets();
            let a = p.assignment();
            PartitionReport {
                topic: p.topic().to_owned(),
                partition: p.index(),
                leader: p.leading().is_some(),
                leader_epoch: p.leader_epoch().0,
                log_start: o.log_start_offset,
                log_end: o.log_end_offset,
                high_watermark: o.high_watermark,
                last_stable: o.last_stable_offset,
                size_bytes: p.size_bytes(),
                replicas: a.replicas.len(),
                isr: a.isr.len(),
                followers: p
                    .follower_lags()
                    .iter()
                    .map(|f| (f.node.0, f.offsets, f.since_caught_up_ms))
                    .collect(),
            }
        })
        .collect();
    let committed = myelin_coordinator::group::coordinator::of(shard)
        .map(|c| {
            c.offsets
                .borrow()
                .iter()
                .flat_map(|(group, offsets)| {
                    offsets
                        .iter()
                        .map(move |((topic, partition), c)| CommittedReport {
                            group: group.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                            offset: c.offset,
                            commit_ms: c.commit_ms,
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    ShardReport {
        shard: shard.id.0,
        metrics: myelin_metrics::snapshot(),
        partitions,
        committed,
        runtime: runtime_totals(),
    }
}

/// Asks every shard for its report and adds what shard 0 knows.
pub async fn gather(shard: &Rc<Shard>) -> NodeReport {
    let asks =
        (0..shard.count).map(|i| shard.invoke_on(ShardId(i), |s| async move { shard_report(&s) }));
    let shards: Vec<ShardReport> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    let image = shard.metadata();
    let me = shard.node_id();
    let mut offline = 0;
    let mut under_replicated = 0;
    let mut under_min_isr = 0;
    for t in image.topics() {
        let min_isr = t
            .configs
            .get("min.insync.replicas")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(shard.node.log_defaults.min_insync_replicas.max(1) as usize);
        for p in &t.partitions {
            if !p.leader.is_some() {
                offline += 1;
            } else if p.leader == me {
                under_replicated += usize::from(p.isr.len() < p.replicas.len());
                under_min_isr += usize::from(p.isr.len() < min_isr);
            }
        }
    }
    let (disk_free_bytes, disk_total_bytes) = disk_space(&shard.node.data_dir);
    let remote_high_watermarks = remote_high_watermarks(shard, &shards).await;
    let unread_timestamps = unread_timestamps(shard, &shards).await;
    NodeReport {
        node_id: me.0,
        shards,
        offline_partitions: offline,
        under_replicated,
        under_min_isr,
        disk_free_bytes,
        disk_total_bytes,
        resident_bytes: resident_bytes(),
        heap: myelin_metrics::heap::all_threads(),
        remote_high_watermarks,
        unread_timestamps,
        now_ms: shard.now_ms(),
    }
}

/// High watermarks of the partitions this node leads, by (topic, partition).
fn led_high_watermarks(shards: &[ShardReport]) -> HashMap<(&str, i32), i64> {
    shards
        .iter()
        .flat_map(|s| &s.partitions)
        .filter(|p| p.leader)
        .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
        .collect()
}

/// Lagging committed offsets whose first unread batch is looked up per scrape, at most.
const UNREAD_LOOKUPS_MAX: usize = 1_000;

/// For each committed offset below the high watermark of a partition this node leads, the
/// timestamp of the batch that holds it (its first record's), read on the partition's shard
/// outside the fetch path (so it is not counted as a consumer's fetch).
async fn unread_timestamps(
    shard: &Rc<Shard>,
    shards: &[ShardReport],
) -> HashMap<(String, i32, i64), i64> {
    let led = led_high_watermarks(shards);
    let mut wanted: Vec<(String, i32, i64)> = shards
        .iter()
        .flat_map(|s| &s.committed)
        .filter(|c| {
            c.offset >= 0
                && led
                    .get(&(c.topic.as_str(), c.partition))
                    .is_some_and(|hw| c.offset < *hw)
        })
        .map(|c| (c.topic.clone(), c.partition, c.offset))
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted.truncate(UNREAD_LOOKUPS_MAX);
    let asks = wanted.into_iter().map(|(topic, partition, offset)| {
        let owner = shard.owner(&topic, partition);
        shard.invoke_on(owner, move |s| async move {
            let p = s.partition(&topic, partition).ok()?;
            let read = p.read_for_replay(offset, 1).await.ok()?;
            let first = read.batches.first()?;
            let header = myelin_storage::batch::BatchHeader::parse(first).ok()?;
            Some(((topic, partition, offset), header.base_timestamp))
        })
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect()
}

/// The admin listener's own connections to other brokers (apart from the transaction
/// coordinator's, so a slow scrape never holds up a transaction marker).
#[derive(Default)]
pub(super) struct AdminPeers(pub(super) myelin_coordinator::peer::PeerClient);

/// Shard 0's [`AdminPeers`], made on first use.
pub(super) fn admin_peers(shard: &Rc<Shard>) -> Rc<AdminPeers> {
    match shard.service::<AdminPeers>() {
        Some(p) => p,
        None => {
            let p = Rc::new(AdminPeers::default());
            shard.install(p.clone());
            p
        }
    }
}

/// `host:port` of a broker's Kafka listener as cluster metadata has it (its PLAINTEXT one,
/// else its first).
pub(super) fn broker_addr(
    image: &myelin_replication::cluster::MetadataImage,
    node: myelin_replication::types::NodeId,
) -> Option<String> {
    image.broker(node).and_then(|b| {
        b.listeners
            .iter()
            .find(|l| l.name == "PLAINTEXT")
            .or(b.listeners.first())
            .map(|l| format!("{}:{}", l.host, l.port))
    })
}

/// How long a scrape waits for another broker's offsets.
const REMOTE_OFFSETS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Asks the leaders of partitions this node does not lead, but that groups coordinated here
/// committed offsets on, for their high watermarks: one ListOffsets per broker.
async fn remote_high_watermarks(
    shard: &Rc<Shard>,
    shards: &[ShardReport],
) -> HashMap<(String, i32), i64> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{
        ApiKey, BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    let led = led_high_watermarks(shards);
    let image = shard.metadata();
    let me = shard.node_id();
    let mut wanted: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for c in shards.iter().flat_map(|s| &s.committed) {
        if led.contains_key(&(c.topic.as_str(), c.partition)) {
            continue;
        }
        let Some(leader) = image
            .topic(&c.topic)
            .and_then(|t| t.partitions.get(usize::try_from(c.partition).ok()?))
            .map(|p| p.leader)
            .filter(|l| l.is_some() && *l != me)
        else {
            continue;
        };
        let Some(addr) = broker_addr(&image, leader) else {
            continue;
        };
        let parts = wanted
            .entry(addr)
            .or_default()
            .entry(c.topic.clone())
            .or_default();
        if !parts.contains(&c.partition) {
            parts.push(c.partition);
        }
    }
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    let peers = admin_peers(shard);
    for (addr, topics) in wanted {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .iter()
                    .map(|(t, parts)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.clone())))
                            .with_partitions(
                                parts
                                    .iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let asked = peers
            .0
            .request::<_, ListOffsetsResponse>(&addr, ApiKey::ListOffsets, 7, &req);
        match glommio::timer::timeout(REMOTE_OFFSETS_TIMEOUT, async { Ok(asked.await) }).await {
            Ok(Ok(resp)) => {
                for t in resp.topics {
                    for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                        out.insert((t.name.0.to_string(), p.partition_index), p.offset);
                    }
                }
            }
            Ok(Err(e)) => tracing::debug!("offsets from {addr} for the lag: {e}"),
            Err(_) => tracing::debug!("offsets from {addr} for the lag: timed out"),
        }
    }
    out
}

/// Free (for unprivileged users) and total bytes of the file system holding `dir`; `None`
/// when it cannot be asked.
pub fn disk_space(dir: &std::path::Path) -> (Option<u64>, Option<u64>) {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return (None, None);
    };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `st` is written by statvfs before it is read.
    let ok = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } == 0;
    if !ok {
        return (None, None);
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize;
    (Some(st.f_bavail * frsize), Some(st.f_blocks * frsize))
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Whether the node serves clients.
pub struct Health {
    pub ready: bool,
    pub node_id: i32,
    pub fenced: Option<bool>,
    pub stopping: bool,
    pub controller: i32,
}

impl Health {
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "live": true,
            "ready": self.ready,
            "node_id": self.node_id,
            "fenced": self.fenced,
            "stopping": self.stopping,
            "controller": self.controller,
        })
    }
}

/// Live always (it answered); ready once the controller has unfenced this broker and while
/// it is not shutting down.
pub fn health(shard: &Shard) -> Health {
    let fenced = shard.cluster().map(|c| c.is_fenced());
    let stopping = shard.is_stopping();
    Health {
        ready: fenced == Some(false) && !stopping,
        node_id: shard.node_id().0,
        fenced,
        stopping,
        controller: shard.controller_leader().0,
    }
}

/// Lag of one group on one partition whose high watermark this node knows (it leads it, or
/// its leader said).
struct Lag<'a> {
    c: &'a CommittedReport,
    high_watermark: i64,
}

fn lags(node: &NodeReport) -> Vec<Lag<'_>> {
    let mut led: HashMap<(&str, i32), i64> = node
        .remote_high_watermarks
        .iter()
        .map(|((t, p), hw)| ((t.as_str(), *p), *hw))
        .collect();
    led.extend(led_high_watermarks(&node.shards));
    node.shards
        .iter()
        .flat_map(|s| &s.committed)
        .filter_map(|c| {
            led.get(&(c.topic.as_str(), c.partition)).map(|hw| Lag {
                c,
                high_watermark: *hw,
            })
        })
        .collect()
}

fn merged(
    node: &NodeReport,
    pick: impl Fn(&ShardSnapshot) -> &HistogramSnapshot,
) -> Vec<(String, HistogramSnapshot)> {
    node.shards
        .iter()
        .map(|s| (s.shard.to_string(), pick(&s.metrics).clone()))
        .collect()
}

pub(super) fn api_name(key: i16) -> String {
    kafka_protocol::messages::ApiKey::try_from(key)
        .map(|k| format!("{k:?}"))
        .unwrap_or_else(|_| key.to_string())
}

/// The report in Prometheus text format.
pub fn prometheus(node: &NodeReport) -> String {
    let mut e = Exposition::default();
    let node_id = node.node_id.to_string();
    let n = node_id.as_str();

    e.family(
        "myelin_requests_total",
        "counter",
        "Kafka requests answered, per shard and API.",
    );
    for s in &node.shards {
        let shard = s.shard.to_string();
        for (key, count, _) in &s.metrics.api {
            let api = api_name(*key);
            e.sample(
                "myelin_requests_total",
                &[("node", n), ("shard", &shard), ("api", &api)],
                *count as f64,
            );
        }
    }
    e.family(
        "myelin_request_latency_seconds",
        "histogram",
        "From a request read off the socket until its response is written, per shard and API.",
    );
    for s in &node.shards {
        let shard = s.shard.to_string();
        for (key, _, h) in &s.metrics.api {
            let api = api_name(*key);
            e.histogram(
                "myelin_request_latency_seconds",
                &[("node", n), ("shard", &shard), ("api", &api)],
                h,
            );
        }
    }

    let mut topics: BTreeMap<&str, myelin_metrics::TopicTraffic> = BTreeMap::new();
    for s in &node.shards {
        for (t, v) in &s.metrics.topics {
            let m = topics.entry(t.as_str()).or_default();
            m.bytes_in += v.bytes_in;
            m.records_in += v.records_in;
            m.bytes_out += v.bytes_out;
        }
    }
    type TopicField = fn(&myelin_metrics::TopicTraffic) -> u64;
    let per_topic: [(&str, &str, TopicField); 3] = [
        (
            "myelin_topic_bytes_in_total",
            "Record-batch bytes produced, per topic.",
            |t| t.bytes_in,
        ),
        (
            "myelin_topic_records_in_total",
            "Records produced, per topic.",
            |t| t.records_in,
        ),
        (
            "myelin_topic_bytes_out_total",
            "Record-batch bytes fetched, per topic.",
            |t| t.bytes_out,
        ),
    ];
    for (name, help, field) in per_topic {
        e.family(name, "counter", help);
        for (t, v) in &topics {
            e.sample(name, &[("node", n), ("topic", t)], field(v) as f64);
        }
    }

    type Pick = fn(&ShardSnapshot) -> &HistogramSnapshot;
    let histograms: [(&str, &str, Pick); 4] = [
        (
            "myelin_log_write_seconds",
            "A log's write of pending batches, with its sync when the policy asks, until durable.",
            |m| &m.log_write,
        ),
        (
            "myelin_log_fsync_seconds",
            "fdatasync of segment files.",
            |m| &m.log_sync,
        ),
        (
            "myelin_append_to_durable_seconds",
            "From a batch's append on this broker until it is durable here.",
            |m| &m.append_to_durable,
        ),
        (
            "myelin_durable_to_fetch_seconds",
            "From a batch becoming durable on its leader until a consumer first fetches it.",
            |m| &m.durable_to_fetch,
        ),
    ];
    for (name, help, pick) in histograms {
        e.family(name, "histogram", help);
        for (shard, h) in merged(node, pick) {
            e.histogram(name, &[("node", n), ("shard", &shard)], &h);
        }
    }

    let counters: [(&str, &str, Count); 11] = [
        (
            "myelin_log_bytes_written_total",
            "Bytes written to segment files.",
            |m| m.log_bytes_written,
        ),
        (
            "myelin_read_cache_hit_bytes_total",
            "Batch bytes reads found in the cache of recent batches.",
            |m| m.read_cache_hit_bytes,
        ),
        (
            "myelin_read_cache_miss_bytes_total",
            "Batch bytes reads took from segment files.",
            |m| m.read_cache_miss_bytes,
        ),
        (
            "myelin_network_bytes_in_total",
            "Bytes read from Kafka client connections.",
            |m| m.net_bytes_in,
        ),
        (
            "myelin_network_bytes_out_total",
            "Bytes written to Kafka client connections.",
            |m| m.net_bytes_out,
        ),
        (
            "myelin_connections_accepted_total",
            "Kafka client connections accepted.",
            |m| m.connections_accepted,
        ),
        (
            "myelin_authentication_failures_total",
            "SASL authentications that failed (wrong password, unknown user, bad exchange).",
            |m| m.authentication_failures,
        ),
        (
            "myelin_replication_bytes_out_total",
            "Batch bytes leaders pushed to followers.",
            |m| m.replication_bytes_out,
        ),
        (
            "myelin_replication_bytes_in_total",
            "Batch bytes followers appended from leaders.",
            |m| m.replication_bytes_in,
        ),
        (
            "myelin_isr_shrinks_total",
            "ISR shrinks this broker's leaders asked the controller for.",
            |m| m.isr_shrinks,
        ),
        (
            "myelin_isr_expands_total",
            "ISR expansions this broker's leaders asked the controller for.",
            |m| m.isr_expands,
        ),
    ];
    shard_families(&mut e, n, node, "counter", &counters);
    type Runtime = fn(&RuntimeTotals) -> f64;
    let runtime: [(&str, &str, Runtime); 6] = [
        (
            "myelin_shard_busy_seconds_total",
            "Time the shard's executor ran tasks or polled for I/O, not spinning or sleeping: its rate is the core's useful utilisation.",
            |r| r.busy_ns as f64 / 1e9,
        ),
        ("myelin_shard_tasks_total", "Tasks the shard's executor ran.", |r| r.tasks as f64),
        ("myelin_io_file_reads_total", "File reads the shard submitted to io_uring.", |r| r.file_reads as f64),
        ("myelin_io_file_read_bytes_total", "Bytes of those reads.", |r| r.file_read_bytes as f64),
        ("myelin_io_file_writes_total", "File writes the shard submitted to io_uring.", |r| r.file_writes as f64),
        ("myelin_io_file_write_bytes_total", "Bytes of those writes.", |r| r.file_write_bytes as f64),
    ];
    for (name, help, value) in runtime {
        e.family(name, "counter", help);
        for s in &node.shards {
            let shard = s.shard.to_string();
            e.sample(name, &[("node", n), ("shard", &shard)], value(&s.runtime));
        }
    }
    shard_resources(&mut e, n, node);
    e.family(
        "myelin_connections",
        "gauge",
        "Open Kafka client connections.",
    );
    for s in &node.shards {
        let shard = s.shard.to_string();
        let open = s
            .metrics
            .connections_accepted
            .saturating_sub(s.metrics.connections_closed);
        e.sample(
            "myelin_connections",
            &[("node", n), ("shard", &shard)],
            open as f64,
        );
    }

    type PartitionField = fn(&PartitionReport) -> f64;
    let per_partition: [(&str, &str, PartitionField); 6] = [
        (
            "myelin_partition_size_bytes",
            "Bytes of the partition's segments on this broker.",
            |p| p.size_bytes as f64,
        ),
        (
            "myelin_partition_log_start_offset",
            "First offset in the log.",
            |p| p.log_start as f64,
        ),
        (
            "myelin_partition_log_end_offset",
            "Next offset to be written.",
            |p| p.log_end as f64,
        ),
        (
            "myelin_partition_high_watermark",
            "Offsets below it are committed.",
            |p| p.high_watermark as f64,
        ),
        (
            "myelin_partition_leader",
            "1 where this broker leads the partition.",
            |p| f64::from(u8::from(p.leader)),
        ),
        (
            "myelin_partition_in_sync_replicas",
            "Size of the ISR, as this replica knows it.",
            |p| p.isr as f64,
        ),
    ];
    for (name, help, field) in per_partition {
        e.family(name, "gauge", help);
        for s in &node.shards {
            for p in &s.partitions {
                let partition = p.partition.to_string();
                e.sample(
                    name,
                    &[("node", n), ("topic", &p.topic), ("partition", &partition)],
                    field(p),
                );
            }
        }
    }
    e.family(
        "myelin_follower_lag_offsets",
        "gauge",
        "Offsets between a follower's durable end and its leader's log end (on the leader).",
    );
    for p in node.shards.iter().flat_map(|s| &s.partitions) {
        let partition = p.partition.to_string();
        for (f, offsets, _) in &p.followers {
            let follower = f.to_string();
            e.sample(
                "myelin_follower_lag_offsets",
                &[
                    ("node", n),
                    ("topic", &p.topic),
                    ("partition", &partition),
                    ("follower", &follower),
                ],
                *offsets as f64,
            );
        }
    }
    e.family(
        "myelin_follower_lag_seconds",
        "gauge",
        "Time since a follower was last caught up with its leader (on the leader).",
    );
    for p in node.shards.iter().flat_map(|s| &s.partitions) {
        let partition = p.partition.to_string();
        for (f, _, ms) in &p.followers {
            let follower = f.to_string();
            e.sample(
                "myelin_follower_lag_seconds",
                &[
                    ("node", n),
                    ("topic", &p.topic),
                    ("partition", &partition),
                    ("follower", &follower),
                ],
                *ms as f64 / 1e3,
            );
        }
    }
    for (name, help, v) in [
        (
            "myelin_offline_partitions",
            "Partitions without a leader (cluster metadata).",
            node.offline_partitions,
        ),
        (
            "myelin_under_replicated_partitions",
            "Partitions this broker leads with an ISR smaller than the replica set.",
            node.under_replicated,
        ),
        (
            "myelin_under_min_isr_partitions",
            "Partitions this broker leads with an ISR below min.insync.replicas.",
            node.under_min_isr,
        ),
    ] {
        e.family(name, "gauge", help);
        e.sample(name, &[("node", n)], v as f64);
    }

    let lags = lags(node);
    e.family(
        "myelin_consumer_group_lag_offsets",
        "gauge",
        "High watermark minus the group's committed offset, for the groups this broker coordinates.",
    );
    for l in &lags {
        let partition = l.c.partition.to_string();
        e.sample(
            "myelin_consumer_group_lag_offsets",
            &[
                ("node", n),
                ("group", &l.c.group),
                ("topic", &l.c.topic),
                ("partition", &partition),
            ],
            (l.high_watermark - l.c.offset).max(0) as f64,
        );
    }
    e.family(
        "myelin_consumer_group_lag_seconds",
        "gauge",
        "Time since the first record a group has still to read was stamped (its batch's first timestamp), 0 when caught up; partitions this broker leads.",
    );
    for l in &lags {
        let partition = l.c.partition.to_string();
        let seconds = if l.c.offset >= l.high_watermark {
            Some(0.0)
        } else {
            node.unread_timestamps
                .get(&(l.c.topic.clone(), l.c.partition, l.c.offset))
                .map(|ts| (node.now_ms - ts).max(0) as f64 / 1e3)
        };
        if let Some(seconds) = seconds {
            e.sample(
                "myelin_consumer_group_lag_seconds",
                &[
                    ("node", n),
                    ("group", &l.c.group),
                    ("topic", &l.c.topic),
                    ("partition", &partition),
                ],
                seconds,
            );
        }
    }
    e.family(
        "myelin_consumer_group_committed_offset",
        "gauge",
        "The group's committed offset, for groups this broker coordinates.",
    );
    for c in node.shards.iter().flat_map(|s| &s.committed) {
        let partition = c.partition.to_string();
        e.sample(
            "myelin_consumer_group_committed_offset",
            &[
                ("node", n),
                ("group", &c.group),
                ("topic", &c.topic),
                ("partition", &partition),
            ],
            c.offset as f64,
        );
    }

    for (name, help, v) in [
        (
            "myelin_disk_free_bytes",
            "Bytes free to unprivileged users on the data directory's file system.",
            node.disk_free_bytes,
        ),
        (
            "myelin_disk_total_bytes",
            "Size of the data directory's file system.",
            node.disk_total_bytes,
        ),
        (
            "myelin_resident_memory_bytes",
            "Resident memory of the broker process.",
            node.resident_bytes,
        ),
    ] {
        if let Some(v) = v {
            e.family(name, "gauge", help);
            e.sample(name, &[("node", n)], v as f64);
        }
    }
    e.finish()
}

/// A count each shard keeps.
type Count = fn(&ShardSnapshot) -> u64;

/// Families of one sample per shard: (name, help, the shard's value).
fn shard_families(
    e: &mut Exposition,
    n: &str,
    node: &NodeReport,
    kind: &str,
    families: &[(&str, &str, Count)],
) {
    for (name, help, value) in families {
        e.family(name, kind, help);
        for s in &node.shards {
            let shard = s.shard.to_string();
            e.sample(
                name,
                &[("node", n), ("shard", &shard)],
                value(&s.metrics) as f64,
            );
        }
    }
}

/// Per shard: its heap counts, io_memory, and the logs' file operations in flight.
fn shard_resources(e: &mut Exposition, n: &str, node: &NodeReport) {
    type Heap = fn(&myelin_metrics::heap::HeapCounts) -> f64;
    let heap: [(&str, &str, &str, Heap); 4] = [
        (
            "myelin_shard_memory_bytes",
            "gauge",
            "Heap bytes allocated on the shard's thread minus those freed on it (a free counts where it happens, whichever shard allocated).",
            |h| h.live_bytes() as f64,
        ),
        ("myelin_shard_allocated_bytes_total", "counter", "Heap bytes allocated on the shard's thread.", |h| h.allocated_bytes as f64),
        ("myelin_shard_freed_bytes_total", "counter", "Heap bytes freed on the shard's thread.", |h| h.freed_bytes as f64),
        ("myelin_shard_allocations_total", "counter", "Heap allocations made on the shard's thread.", |h| h.allocations as f64),
    ];
    for (name, kind, help, value) in heap {
        e.family(name, kind, help);
        for s in &node.shards {
            if let Some(h) = &s.metrics.heap {
                let shard = s.shard.to_string();
                e.sample(name, &[("node", n), ("shard", &shard)], value(h));
            }
        }
    }
    let io: [(&str, &str, Count); 2] = [
        (
            "myelin_shard_io_memory_bytes",
            "io_memory the shard's executor registered with io_uring (locked, outside the heap).",
            |m| m.io_memory_bytes,
        ),
        (
            "myelin_io_in_flight",
            "The logs' file operations issued to glommio and not yet complete (ours, not the ring's entries).",
            |m| m.io_in_flight,
        ),
    ];
    shard_families(e, n, node, "gauge", &io);
    let name = "myelin_io_in_flight_at_submit";
    e.family(
        name,
        "histogram",
        "myelin_io_in_flight as each file operation is issued, itself included.",
    );
    for s in &node.shards {
        let shard = s.shard.to_string();
        e.histogram_in(
            name,
            &[("node", n), ("shard", &shard)],
            &s.metrics.io_depth,
            &myelin_metrics::IO_DEPTH_BOUNDS,
            1.0,
        );
    }
    if let Some(h) = &node.heap {
        let name = "myelin_heap_bytes";
        e.family(
            name,
            "gauge",
            "Live heap of the broker process, all threads (requested bytes).",
        );
        e.sample(name, &[("node", n)], h.live_bytes() as f64);
    }
}

/// Brokers as cluster metadata has them.
pub fn brokers_json(shard: &Shard) -> serde_json::Value {
    let image = shard.metadata();
    let brokers: Vec<serde_json::Value> = image
        .brokers()
        .map(|b| {
            serde_json::json!({
                "node_id": b.id.0,
                "fenced": b.fenced,
                "rack": b.rack,
                "listeners": b.listeners.iter().map(|l| serde_json::json!({
                    "name": l.name, "host": l.host, "port": l.port,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "node_id": shard.node_id().0,
        "controller": shard.controller_leader().0,
        "brokers": brokers,
    })
}

/// Partition replicas on this node.
pub fn partitions_json(node: &NodeReport) -> serde_json::Value {
    let mut parts: Vec<&PartitionReport> = node.shards.iter().flat_map(|s| &s.partitions).collect();
    parts.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    serde_json::json!({
        "node_id": node.node_id,
        "partitions": parts.iter().map(|p| serde_json::json!({
            "topic": p.topic, "partition": p.partition, "leader": p.leader,
            "leader_epoch": p.leader_epoch, "log_start_offset": p.log_start,
            "log_end_offset": p.log_end, "high_watermark": p.high_watermark,
            "last_stable_offset": p.last_stable, "size_bytes": p.size_bytes,
            "replicas": p.replicas, "isr": p.isr,
            "followers": p.followers.iter().map(|(f, o, ms)| serde_json::json!({
                "node_id": f, "lag_offsets": o, "since_caught_up_ms": ms,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Groups this node coordinates, with their committed offsets and lag where known.
pub fn groups_json(node: &NodeReport) -> serde_json::Value {
    let lag: HashMap<(&str, &str, i32), i64> = lags(node)
        .iter()
        .map(|l| {
            (
                (l.c.group.as_str(), l.c.topic.as_str(), l.c.partition),
                (l.high_watermark - l.c.offset).max(0),
            )
        })
        .collect();
    let mut groups: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for c in node.shards.iter().flat_map(|s| &s.committed) {
        groups
            .entry(c.group.as_str())
            .or_default()
            .push(serde_json::json!({
                "topic": c.topic, "partition": c.partition, "committed_offset": c.offset,
                "commit_ms": c.commit_ms,
                "lag": lag.get(&(c.group.as_str(), c.topic.as_str(), c.partition)),
            }));
    }
    serde_json::json!({
        "node_id": node.node_id,
        "groups": groups.into_iter().map(|(g, p)| serde_json::json!({"group": g, "offsets": p})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_node() -> NodeReport {
        let h = myelin_metrics::Histogram::default();
        h.record_us(700);
        let mut metrics = ShardSnapshot {
            api: vec![(0, 3, h.snapshot())],
            topics: vec![("t".into(), myelin_metrics::TopicTraffic::default())],
            ..Default::default()
        };
        metrics.log_write = h.snapshot();
        metrics.heap = Some(myelin_metrics::heap::HeapCounts {
            allocated_bytes: 5000,
            freed_bytes: 1000,
            allocations: 7,
        });
        metrics.io_in_flight = 2;
        NodeReport {
            node_id: 1,
            shards: vec![ShardReport {
                shard: 0,
                metrics,
                partitions: vec![PartitionReport {
                    topic: "t".into(),
                    partition: 0,
                    leader: true,
                    leader_epoch: 2,
                    log_start: 0,
                    log_end: 10,
                    high_watermark: 8,
                    last_stable: 8,
                    size_bytes: 4096,
                    replicas: 3,
                    isr: 2,
                    followers: vec![(2, 2, 150)],
                }],
                runtime: RuntimeTotals::default(),
                committed: vec![CommittedReport {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: 0,
                    offset: 5,
                    commit_ms: 0,
                }],
            }],
            disk_free_bytes: Some(1),
            disk_total_bytes: Some(2),
            resident_bytes: Some(3),
            heap: Some(myelin_metrics::heap::HeapCounts::default()),
            ..Default::default()
        }
    }

    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(at) = text.get(i..).and_then(|t| t.find("myelin_")) {
            let start = i + at;
            let mut end = start;
            while bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            {
                end += 1;
            }
            let name = text.get(start..end).unwrap_or_default();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            out.insert(base.trim_end_matches('_').to_owned());
            i = end.max(start + 1);
        }
        out
    }

    #[test]
    fn lag_is_high_watermark_minus_committed() {
        let text = prometheus(&sample_node());
        assert!(text.contains(
            "myelin_consumer_group_lag_offsets{node=\"1\",group=\"g\",topic=\"t\",partition=\"0\"} 3\n"
        ));
        assert!(text.contains("myelin_requests_total{node=\"1\",shard=\"0\",api=\"Produce\"} 3\n"));
        assert!(text.contains("myelin_shard_memory_bytes{node=\"1\",shard=\"0\"} 4000\n"));
        assert!(text.contains("myelin_io_in_flight{node=\"1\",shard=\"0\"} 2\n"));
        assert!(text.contains(
            "myelin_follower_lag_seconds{node=\"1\",topic=\"t\",partition=\"0\",follower=\"2\"} 0.15\n"
        ));
    }

    /// The dashboard and the operations page name only metrics the broker exports.
    #[test]
    fn documented_metrics_exist() {
        let exported = names_in(&prometheus(&sample_node()));
        for (doc, text) in [
            (
                "docs/grafana/myelin.json",
                include_str!("../../../docs/grafana/myelin.json"),
            ),
            (
                "docs/operations.md",
                include_str!("../../../docs/operations.md"),
            ),
        ] {
            for name in names_in(text) {
                assert!(
                    exported.contains(&name),
                    "{doc} names {name}, which /metrics does not export"
                );
            }
        }
    }
}
