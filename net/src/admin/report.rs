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
    NodeReport {
        node_id: me.0,
        shards,
        offline_partitions: offline,
        under_replicated,
        under_min_isr,
        disk_free_bytes,
        disk_total_bytes,
        resident_bytes: resident_bytes(),
    }
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

/// Lag of one group on one partition whose high watermark this node knows (it leads it).
struct Lag<'a> {
    c: &'a CommittedReport,
    high_watermark: i64,
}

fn lags(node: &NodeReport) -> Vec<Lag<'_>> {
    let led: HashMap<(&str, i32), i64> = node
        .shards
        .iter()
        .flat_map(|s| &s.partitions)
        .filter(|p| p.leader)
        .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
        .collect();
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

fn api_name(key: i16) -> String {
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

    type Count = fn(&ShardSnapshot) -> u64;
    let counters: [(&str, &str, Count); 8] = [
        (
            "myelin_log_bytes_written_total",
            "Bytes written to segment files.",
            |m| m.log_bytes_written,
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
    for (name, help, count) in counters {
        e.family(name, "counter", help);
        for s in &node.shards {
            let shard = s.shard.to_string();
            e.sample(
                name,
                &[("node", n), ("shard", &shard)],
                count(&s.metrics) as f64,
            );
        }
    }
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
        "High watermark minus the group's committed offset, for groups this broker coordinates on partitions it leads.",
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
