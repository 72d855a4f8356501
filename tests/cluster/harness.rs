//! Starts a three-node cluster on 127.0.0.11–13 from the property files next to this file, for
//! one of two targets: Apache Kafka 4.4 (from `../shared/kafka-ref`, the reference) or the real
//! `myelin` binary. Every node is a child of the test: killed with SIGKILL when the cluster is
//! dropped and, through `PR_SET_PDEATHSIG`, if the test process dies first. Every node's
//! output goes to `node-N/node.log` in the run directory, which is kept (and the logs' tails
//! printed) when the test fails.
//!
//! Also here: raw Metadata, DescribeQuorum and CreateTopics requests (the answers exactly as a
//! broker puts them on the wire, leader epochs and offline replicas included) and the Java
//! scenario runner.

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The nodes' ids; node N listens on 127.0.0.1N:9092 (clients) and :9093 (controllers).
pub const NODE_IDS: [i32; 3] = [1, 2, 3];

/// Which broker the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Apache Kafka 4.4 through `kref.sh java kafka.Kafka node-N.properties`.
    Kafka,
    /// `target/debug/myelin --config node-N.properties`.
    Myelin,
}

impl Target {
    /// `MYELIN_CLUSTER_TARGET=kafka|myelin`, default `myelin`.
    pub fn from_env() -> Target {
        match std::env::var("MYELIN_CLUSTER_TARGET").as_deref() {
            Ok("kafka") => Target::Kafka,
            Ok("myelin") | Err(_) => Target::Myelin,
            Ok(other) => panic!("MYELIN_CLUSTER_TARGET={other}: expected kafka or myelin"),
        }
    }
}

/// The host of node `id`.
pub fn host(id: i32) -> String {
    format!("127.0.0.{}", 10 + id)
}

/// The client address of node `id`.
pub fn addr(id: i32) -> String {
    format!("{}:9092", host(id))
}

/// How long a node may take from spawn to an open client port.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the cluster may take from open ports to every broker listing all three.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One node: its files and, while it runs, its process.
pub struct Node {
    pub id: i32,
    pub dir: PathBuf,
    pub props: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

impl Node {
    fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// The last `lines` lines of this node's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, sig: i32) {
        let pid = self.pid().expect("node is not running") as i32;
        // SAFETY: a signal to our own child process, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }
}

/// A running three-node cluster; dropped, every node is killed.
pub struct Cluster {
    pub target: Target,
    /// The id `kafka-storage format` writes into every log dir (Kafka only).
    pub cluster_id: String,
    _run_dir: Option<tempfile::TempDir>,
    pub nodes: Vec<Node>,
    kref: PathBuf,
}

/// The checkout's root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/kafka-ref/kref.sh` beside the checkout, or `$MYELIN_KREF`.
fn kref() -> PathBuf {
    std::env::var_os("MYELIN_KREF")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/kafka-ref/kref.sh"))
}

/// A Kafka cluster id: 16 random bytes in URL-safe base64 without padding (22 characters), as
/// `kafka-storage.sh random-uuid` prints them; like Kafka, never one that starts with '-'.
fn random_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = String::new();
        for b in bytes {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
        }
        if !out.starts_with('-') {
            return out;
        }
    }
}

/// The template `tests/cluster/node-N.properties` with its `log.dirs` line pointing into
/// `data`; every other byte is the template's.
pub fn node_properties(id: i32, data: &Path) -> String {
    let template = repo().join(format!("tests/cluster/node-{id}.properties"));
    let text = std::fs::read_to_string(&template).expect("read the properties template");
    let mut found = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with("log.dirs=") {
            found += 1;
            out.push_str(&format!("log.dirs={}\n", data.display()));
        } else {
            out.push_str(line);
        }
    }
    assert_eq!(
        found,
        1,
        "{} needs exactly one log.dirs line",
        template.display()
    );
    out
}

/// Spawns `cmd` with its output in `log`, killed with SIGKILL if the spawning thread (the test's)
/// ends first.
fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("create the node log");
    let err = out.try_clone().expect("clone the log handle");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Runs `cmd` to completion within `timeout` (SIGKILL after that); output captured.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("out.log");
    let mut child = {
        cmd.stdin(Stdio::null());
        spawn_logged(cmd, &log)
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    (status.and_then(|s| s.code()), out)
}

impl Cluster {
    /// Formats (Kafka) and starts all three nodes, then waits until every broker's Metadata
    /// lists all three brokers at their advertised addresses.
    pub fn start(target: Target) -> Cluster {
        for id in NODE_IDS {
            for port in [9092, 9093] {
                let a: SocketAddr = format!("{}:{port}", host(id)).parse().unwrap();
                assert!(
                    TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err(),
                    "{a} is already taken: is another cluster test (or a leftover broker) running?"
                );
            }
        }
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&base).unwrap();
        let run_dir = tempfile::Builder::new()
            .prefix(&format!("cluster-{target:?}-").to_lowercase())
            .tempdir_in(&base)
            .unwrap();
        let run = run_dir.path().to_path_buf();
        let mut cluster = Cluster {
            target,
            cluster_id: random_cluster_id(),
            _run_dir: Some(run_dir),
            nodes: Vec::new(),
            kref: kref(),
        };
        for id in NODE_IDS {
            let dir = run.join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            let props = dir.join(format!("node-{id}.properties"));
            std::fs::write(&props, node_properties(id, &dir.join("data"))).unwrap();
            cluster.nodes.push(Node {
                id,
                dir,
                props,
                child: None,
                stopped: false,
            });
        }
        eprintln!("[cluster] {target:?}: run directory {}", run.display());
        if target == Target::Kafka {
            cluster.format_kafka();
        }
        let t0 = Instant::now();
        for id in NODE_IDS {
            cluster.spawn(id);
        }
        for id in NODE_IDS {
            cluster.wait_port(id);
        }
        cluster.wait_all_registered(READY_TIMEOUT);
        eprintln!("[cluster] all three brokers up in {:?}", t0.elapsed());
        cluster
    }

    fn kref_java(&self) -> Command {
        assert!(
            self.kref.exists(),
            "{} not found: Apache Kafka 4.4 runs from ../shared/kafka-ref beside the checkout \
             (or set MYELIN_KREF); install its jars with kref.sh install",
            self.kref.display()
        );
        let mut cmd = Command::new(&self.kref);
        cmd.arg("java");
        cmd
    }

    /// `kafka.tools.StorageTool format` on every node's log dir with one cluster id (in
    /// parallel: three JVM starts).
    fn format_kafka(&self) {
        let t0 = Instant::now();
        let mut children = Vec::new();
        for node in &self.nodes {
            let mut cmd = self.kref_java();
            cmd.args([
                "kafka.tools.StorageTool",
                "format",
                "-t",
                &self.cluster_id,
                "-c",
            ])
            .arg(&node.props);
            children.push((node, spawn_logged(cmd, &node.dir.join("format.log"))));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        for (node, mut child) in children {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let out =
                        std::fs::read_to_string(node.dir.join("format.log")).unwrap_or_default();
                    assert!(status.success(), "format node {}: {status}\n{out}", node.id);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "format of node {} hangs",
                    node.id
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        eprintln!(
            "[cluster] formatted three log dirs with cluster id {} in {:?}",
            self.cluster_id,
            t0.elapsed()
        );
    }

    pub fn node(&self, id: i32) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such node")
    }

    fn spawn(&mut self, id: i32) {
        let target = self.target;
        let cmd = {
            let node = self.node(id);
            match target {
                Target::Kafka => {
                    let mut cmd = self.kref_java();
                    // Kafka's own INFO log is what a failure report needs.
                    cmd.env("KREF_LOG", "info")
                        .arg("kafka.Kafka")
                        .arg(&node.props);
                    cmd
                }
                Target::Myelin => {
                    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myelin"));
                    cmd.env("RUST_LOG", "info").arg("--config").arg(&node.props);
                    cmd
                }
            }
        };
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} already runs");
        // Appends would mix runs; a restarted node's earlier log is kept beside it.
        if node.log_path().exists() {
            let mut n = 1;
            while node.dir.join(format!("node.log.{n}")).exists() {
                n += 1;
            }
            std::fs::rename(node.log_path(), node.dir.join(format!("node.log.{n}"))).unwrap();
        }
        node.child = Some(spawn_logged(cmd, &node.log_path()));
        node.stopped = false;
    }

    fn wait_port(&mut self, id: i32) {
        let a: SocketAddr = addr(id).parse().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok() {
                return;
            }
            let node = self.node_mut(id);
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                node.child = None;
                panic!("node {id} exited with {status}:\n{}", node.log_tail(60));
            }
            assert!(
                Instant::now() < deadline,
                "node {id}: no listener on {a} after {START_TIMEOUT:?}:\n{}",
                node.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every running, not stopped broker lists exactly the brokers `expected` in
    /// Metadata.
    pub fn wait_brokers(&self, ask: &[i32], expected: &[i32], timeout: Duration) -> Duration {
        let t0 = Instant::now();
        let want: Vec<(i32, String, i32)> =
            expected.iter().map(|&id| (id, host(id), 9092)).collect();
        let mut last = BTreeMap::new();
        loop {
            let mut all = true;
            for &id in ask {
                let got = metadata(id, &[]).map(|m| m.brokers);
                let ok = got.as_ref().is_ok_and(|b| *b == want);
                all &= ok;
                last.insert(id, got.map_err(|e| e.to_string()));
            }
            if all {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < timeout,
                "brokers {ask:?} do not list {want:?} after {timeout:?}; last answers: {last:?}\n{}",
                self.log_tails(30)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_all_registered(&self, timeout: Duration) {
        self.wait_brokers(&NODE_IDS, &NODE_IDS, timeout);
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill9(&mut self, id: i32) {
        let node = self.node_mut(id);
        let mut child = node.child.take().expect("node is not running");
        child.kill().unwrap();
        child.wait().unwrap();
        node.stopped = false;
    }

    /// SIGSTOP: the process stays, silent (no heartbeats, no answers).
    pub fn sigstop(&mut self, id: i32) {
        let node = self.node_mut(id);
        node.signal(libc::SIGSTOP);
        node.stopped = true;
    }

    /// SIGCONT after `sigstop`.
    pub fn sigcont(&mut self, id: i32) {
        let node = self.node_mut(id);
        node.signal(libc::SIGCONT);
        node.stopped = false;
    }

    /// Starts a node again from its log dir (after `kill9`) and waits for its client port.
    pub fn restart(&mut self, id: i32) {
        self.spawn(id);
        self.wait_port(id);
    }

    /// SIGTERM every node and wait (bounded), SIGKILL whatever is left. Returns each node's
    /// id and, if it exited by itself within `timeout`, how long that took and its status.
    pub fn stop_all(&mut self, timeout: Duration) -> Vec<(i32, Option<(Duration, ExitStatus)>)> {
        for node in &mut self.nodes {
            if node.child.is_some() {
                if node.stopped {
                    node.signal(libc::SIGCONT);
                    node.stopped = false;
                }
                node.signal(libc::SIGTERM);
            }
        }
        let t0 = Instant::now();
        let mut out = Vec::new();
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let exited = loop {
                    if let Some(status) = child.try_wait().unwrap() {
                        break Some((t0.elapsed(), status));
                    }
                    if t0.elapsed() > timeout {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                out.push((node.id, exited));
            }
        }
        out
    }

    /// The tails of every node's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!(
                "----- node {} ({}) -----\n{}\n",
                node.id,
                node.log_path().display(),
                node.log_tail(lines)
            ));
        }
        out
    }

    /// All three client addresses, comma-separated.
    pub fn bootstrap(&self) -> String {
        NODE_IDS.map(addr).join(",")
    }

    /// Runs a ClusterScenarios command (tests/cluster/java/run.sh) and returns its output; fails
    /// the test on a non-zero exit.
    pub fn java(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("tests/cluster/java/run.sh")).args(args);
        let t0 = Instant::now();
        let (code, out) = run_bounded(cmd, Duration::from_secs(240));
        assert_eq!(
            code,
            Some(0),
            "java {args:?} failed after {:?}:\n{out}\n{}",
            t0.elapsed(),
            self.log_tails(30)
        );
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut c) = node.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails(40));
            if let Some(dir) = self._run_dir.take() {
                let kept = dir.keep();
                eprintln!("[cluster] logs and data kept in {}", kept.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw requests: what a broker answers, field by field.

/// One partition as Metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMd {
    pub partition: i32,
    pub error: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// One topic as Metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMd {
    pub error: i16,
    pub partitions: Vec<PartitionMd>,
}

/// A Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// (id, host, port), sorted by id.
    pub brokers: Vec<(i32, String, i32)>,
    pub controller: i32,
    pub cluster_id: Option<String>,
    pub topics: BTreeMap<String, TopicMd>,
}

impl Metadata {
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.iter().map(|b| b.0).collect()
    }

    pub fn topic(&self, name: &str) -> &TopicMd {
        self.topics
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in {self:?}"))
    }
}

/// The DescribeQuorum answer for `__cluster_metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub error: i16,
    pub leader: i32,
    pub epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<i32>,
    pub observers: Vec<i32>,
}

const METADATA_VERSION: i16 = 12;
const CREATE_TOPICS_VERSION: i16 = 7;
/// How long Metadata and DescribeQuorum answers may take.
const SHORT: Duration = Duration::from_secs(5);
const DESCRIBE_QUORUM_VERSION: i16 = 2;

/// One request on a fresh connection to node `id`, waiting up to `wait` for the answer (a
/// stopped node answers nothing).
fn request<Req: Encodable, Resp: Decodable>(
    id: i32,
    key: ApiKey,
    version: i16,
    req: &Req,
    wait: Duration,
) -> Result<Resp> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("myelin-cluster-test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, key.request_header_version(version))?;
    req.encode(&mut buf, version)?;
    let a: SocketAddr = addr(id).parse()?;
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(2))
        .with_context(|| format!("connect to node {id}"))?;
    s.set_read_timeout(Some(wait))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&(buf.len() as i32).to_be_bytes())?;
    s.write_all(&buf)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .with_context(|| format!("{key:?} answer from node {id}"))?;
    let len = i32::from_be_bytes(len);
    if !(0..64 << 20).contains(&len) {
        bail!("node {id}: answer of {len} bytes");
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    let mut body = Bytes::from(body);
    let h = ResponseHeader::decode(&mut body, key.response_header_version(version))?;
    if h.correlation_id != 7 {
        bail!("node {id}: correlation id {}", h.correlation_id);
    }
    Resp::decode(&mut body, version)
}

/// Metadata v12 from node `id` for `topics` (none: brokers only), no auto-creation.
pub fn metadata(id: i32, topics: &[&str]) -> Result<Metadata> {
    let req = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(false);
    let resp: MetadataResponse = request(id, ApiKey::Metadata, METADATA_VERSION, &req, SHORT)?;
    let mut brokers: Vec<(i32, String, i32)> = resp
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect();
    brokers.sort();
    let mut out = Metadata {
        brokers,
        controller: resp.controller_id.0,
        cluster_id: resp.cluster_id.as_ref().map(|s| s.to_string()),
        topics: BTreeMap::new(),
    };
    for t in &resp.topics {
        let name = t
            .name
            .as_ref()
            .map(|n| n.0.to_string())
            .ok_or_else(|| anyhow!("a topic without a name"))?;
        let mut partitions: Vec<PartitionMd> = t
            .partitions
            .iter()
            .map(|p| PartitionMd {
                partition: p.partition_index,
                error: p.error_code,
                leader: p.leader_id.0,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|r| r.0).collect(),
                isr: p.isr_nodes.iter().map(|r| r.0).collect(),
                offline: p.offline_replicas.iter().map(|r| r.0).collect(),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        out.topics.insert(
            name,
            TopicMd {
                error: t.error_code,
                partitions,
            },
        );
    }
    Ok(out)
}

/// DescribeQuorum v2 for `__cluster_metadata`-0, asked of node `id`.
pub fn describe_quorum(id: i32) -> Result<Quorum> {
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp: DescribeQuorumResponse = request(
        id,
        ApiKey::DescribeQuorum,
        DESCRIBE_QUORUM_VERSION,
        &req,
        SHORT,
    )?;
    if resp.error_code != 0 {
        bail!("DescribeQuorum from node {id}: error {}", resp.error_code);
    }
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| anyhow!("DescribeQuorum from node {id}: no partition"))?;
    let mut voters: Vec<i32> = p.current_voters.iter().map(|r| r.replica_id.0).collect();
    voters.sort();
    let mut observers: Vec<i32> = p.observers.iter().map(|r| r.replica_id.0).collect();
    observers.sort();
    Ok(Quorum {
        error: p.error_code,
        leader: p.leader_id.0,
        epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters,
        observers,
    })
}

/// CreateTopics v7 sent to node `id` itself (which forwards it to the active controller):
/// `name` with `partitions` partitions, replication factor 1, `timeout_ms` in the request,
/// the answer awaited up to `wait`. Returns the topic's error code and message.
pub fn create_topic_raw(
    id: i32,
    name: &str,
    partitions: i32,
    timeout_ms: i32,
    wait: Duration,
) -> Result<(i16, Option<String>)> {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(timeout_ms);
    let resp: CreateTopicsResponse =
        request(id, ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &req, wait)?;
    let t = resp
        .topics
        .first()
        .ok_or_else(|| anyhow!("CreateTopics from node {id}: no topic"))?;
    Ok((
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    ))
}
