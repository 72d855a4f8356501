//! Starts a three-node cluster on 127.0.0.11–13 from the property files next to this file, for
//! one of two targets: Apache Kafka 4.4 (from `../shared/kafka-ref`, the reference) or the real
//! `myelin` binary. Every node is a child of the test: killed with SIGKILL when the cluster is
//! dropped and, through `PR_SET_PDEATHSIG`, if the test process dies first. Every node's
//! output goes to `node-N/node.log` in the run directory, which is kept (and the logs' tails
//! printed) when the test fails.
//!
//! Also here: raw Metadata, DescribeQuorum, CreateTopics and FindCoordinator requests (the
//! answers exactly as a broker puts them on the wire, leader epochs and offline replicas
//! included) and the Java scenario runner.
//!
//! [`Options`] changes two things for the failover tests (tests/failover.rs): property
//! overrides (replication factor 3, `min.insync.replicas=2`) and, with `netns`, one network
//! namespace per node joined by veth pairs to a bridge, so a node's link can be cut.

// Two test crates use this module (tests/cluster.rs, tests/failover.rs), each a part of it.
#![allow(dead_code)]

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader, TopicName,
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

/// The host of node `id` when the nodes run in network namespaces ([`Options::netns`]): an
/// address of the benchmarking range (RFC 2544) on the bridge, which nothing else here uses.
pub fn netns_host(id: i32) -> String {
    format!("{NETNS_PREFIX}.{}", 10 + id)
}

/// The /24 of the namespaced nodes; the bridge is `.1`.
const NETNS_PREFIX: &str = "198.18.7";
/// The bridge in the test's own namespace that every node's veth pair hangs on.
const NETNS_BRIDGE: &str = "myelinfo0";

/// The network namespace of node `id`.
fn netns_name(id: i32) -> String {
    format!("myelinfo{id}")
}

/// The veth end in the test's namespace for node `id` (the other end is inside, `…n`).
fn netns_veth(id: i32) -> String {
    format!("myelinfo{id}h")
}

/// How a cluster differs from the property files as they are.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `key=value` lines that replace the template's line for `key` (or are appended).
    pub overrides: Vec<(&'static str, String)>,
    /// Run each node in its own network namespace at [`netns_host`], so its link can be cut
    /// ([`Cluster::cut_link`]). Needs root (`ip netns`, veth, bridge).
    pub netns: bool,
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
    /// When SIGTERM was sent, while the node has not been reaped yet.
    terminating: Option<Instant>,
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
    /// Whether the nodes run in network namespaces ([`Options::netns`]).
    netns: bool,
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
    node_properties_with(id, data, &Options::default())
}

/// [`node_properties`] with `options` applied: each override replaces its key's line (or is
/// appended, under a comment), and with `netns` every node address 127.0.0.1N becomes
/// [`netns_host`]`(N)`.
pub fn node_properties_with(id: i32, data: &Path, options: &Options) -> String {
    let template = repo().join(format!("tests/cluster/node-{id}.properties"));
    let text = std::fs::read_to_string(&template).expect("read the properties template");
    let mut found = 0;
    let mut overridden = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or_default().trim();
        if line.starts_with("log.dirs=") {
            found += 1;
            out.push_str(&format!("log.dirs={}\n", data.display()));
        } else if let Some((k, v)) = options.overrides.iter().find(|(k, _)| *k == key) {
            overridden.push(*k);
            out.push_str(&format!("{k}={v}\n"));
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
    let appended: Vec<_> = options
        .overrides
        .iter()
        .filter(|(k, _)| !overridden.contains(k))
        .collect();
    if !appended.is_empty() {
        out.push_str("\n# Added by the test harness.\n");
        for (k, v) in appended {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if options.netns {
        for n in NODE_IDS {
            out = out.replace(&host(n), &netns_host(n));
        }
    }
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

/// `ip ARGS…`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip ARGS…` whose failure is fine (cleaning up what may not exist).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip").args(args).output();
}

/// Whether this machine lets the test make network namespaces (root, `ip netns`).
pub fn netns_available() -> bool {
    let probe = "myelinfoprobe";
    let ok = Command::new("ip")
        .args(["netns", "add", probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        ip_quiet(&["netns", "del", probe]);
    }
    ok
}

/// One namespace per node with lo up and `netns_host(N)/24` on its veth end, every veth pair's
/// outer end on one bridge (`.1`) in the test's namespace. Namespaces left by an earlier run
/// are reused only if no process is in them; otherwise another run is live and this fails.
fn netns_setup() {
    for id in NODE_IDS {
        let name = netns_name(id);
        if Path::new("/run/netns").join(&name).exists() {
            let pids = Command::new("ip")
                .args(["netns", "pids", &name])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            assert!(
                pids.is_empty(),
                "network namespace {name} is in use by {pids}: another failover test runs?"
            );
        }
    }
    netns_teardown();
    ip(&["link", "add", NETNS_BRIDGE, "type", "bridge"]);
    ip(&[
        "addr",
        "add",
        &format!("{NETNS_PREFIX}.1/24"),
        "dev",
        NETNS_BRIDGE,
    ]);
    ip(&["link", "set", NETNS_BRIDGE, "up"]);
    for id in NODE_IDS {
        let name = netns_name(id);
        let outer = netns_veth(id);
        let inner = format!("myelinfo{id}n");
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &name,
        ]);
        ip(&["link", "set", &outer, "master", NETNS_BRIDGE, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["link", "set", "lo", "up"]);
        inside(&[
            "addr",
            "add",
            &format!("{}/24", netns_host(id)),
            "dev",
            &inner,
        ]);
        inside(&["link", "set", &inner, "up"]);
    }
}

/// Removes the namespaces (and with them the veth pairs) and the bridge.
fn netns_teardown() {
    for id in NODE_IDS {
        ip_quiet(&["link", "del", &netns_veth(id)]);
        ip_quiet(&["netns", "del", &netns_name(id)]);
    }
    ip_quiet(&["link", "del", NETNS_BRIDGE]);
}

/// Makes `cmd` enter node `id`'s network namespace between fork and exec.
fn enter_netns_on_exec(cmd: &mut Command, id: i32) {
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(format!("/run/netns/{}", netns_name(id)))
        .expect("open the node's network namespace");
    // SAFETY: setns is async-signal-safe; the fd stays open in the parent until the spawn
    // (the closure owns it) and is still open in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
        Cluster::start_with(target, &Options::default())
    }

    /// [`Cluster::start`] with `options` (property overrides, network namespaces).
    pub fn start_with(target: Target, options: &Options) -> Cluster {
        if options.netns {
            netns_setup();
        } else {
            for id in NODE_IDS {
                for port in [9092, 9093] {
                    let a: SocketAddr = format!("{}:{port}", host(id)).parse().unwrap();
                    assert!(
                        TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err(),
                        "{a} is already taken: is another cluster test (or a leftover broker) \
                         running?"
                    );
                }
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
            netns: options.netns,
        };
        for id in NODE_IDS {
            let dir = run.join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            let props = dir.join(format!("node-{id}.properties"));
            std::fs::write(&props, node_properties_with(id, &dir.join("data"), options)).unwrap();
            cluster.nodes.push(Node {
                id,
                dir,
                props,
                child: None,
                stopped: false,
                terminating: None,
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

    /// The host node `id` listens on.
    pub fn host(&self, id: i32) -> String {
        if self.netns {
            netns_host(id)
        } else {
            host(id)
        }
    }

    /// The client address of node `id`.
    pub fn addr(&self, id: i32) -> String {
        format!("{}:9092", self.host(id))
    }

    /// Where node `id`'s data lives (`log.dirs`).
    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.node(id).dir.join("data")
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
                    // MYELIN_CLUSTER_RUST_LOG=myelin=debug for a failure report.
                    let level =
                        std::env::var("MYELIN_CLUSTER_RUST_LOG").unwrap_or_else(|_| "info".into());
                    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myelin"));
                    cmd.env("RUST_LOG", level).arg("--config").arg(&node.props);
                    cmd
                }
            }
        };
        let mut cmd = cmd;
        if self.netns {
            enter_netns_on_exec(&mut cmd, id);
        }
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
        node.terminating = None;
    }

    fn wait_port(&mut self, id: i32) {
        let a: SocketAddr = self.addr(id).parse().unwrap();
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
        let want: Vec<(i32, String, i32)> = expected
            .iter()
            .map(|&id| (id, self.host(id), 9092))
            .collect();
        let mut last = BTreeMap::new();
        loop {
            let mut all = true;
            for &id in ask {
                let got = metadata_at(&self.addr(id), &[]).map(|m| m.brokers);
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

    /// SIGTERM: the node shuts down in its own way (Kafka: controlled shutdown).
    pub fn sigterm(&mut self, id: i32) {
        let node = self.node_mut(id);
        node.signal(libc::SIGTERM);
        node.terminating = Some(Instant::now());
    }

    /// Waits up to `timeout` for node `id` to exit after [`Cluster::sigterm`]: how long it
    /// took from the signal and its status, or `None` if it still runs (then it is left
    /// running).
    pub fn wait_exit(&mut self, id: i32, timeout: Duration) -> Option<(Duration, ExitStatus)> {
        let node = self.node_mut(id);
        let since = node.terminating.unwrap_or_else(Instant::now);
        let deadline = Instant::now() + timeout;
        loop {
            let child = node.child.as_mut().expect("node is not running");
            if let Some(status) = child.try_wait().unwrap() {
                node.child = None;
                node.terminating = None;
                return Some((since.elapsed(), status));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether node `id`'s process runs (not reaped, not exited).
    pub fn running(&mut self, id: i32) -> bool {
        let node = self.node_mut(id);
        match node.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().unwrap().is_none(),
        }
    }

    /// Cuts node `id` off the network: its veth end on the bridge goes down, so nothing
    /// reaches it and it reaches nothing (its connections stay open and go silent, as in a
    /// real partition). Only with [`Options::netns`].
    pub fn cut_link(&self, id: i32) {
        assert!(self.netns, "cut_link needs a cluster started with netns");
        ip(&["link", "set", &netns_veth(id), "down"]);
    }

    /// Joins node `id` to the network again after [`Cluster::cut_link`].
    pub fn heal_link(&self, id: i32) {
        assert!(self.netns, "heal_link needs a cluster started with netns");
        ip(&["link", "set", &netns_veth(id), "up"]);
    }

    /// Runs `f` on a thread inside node `id`'s network namespace: sockets it opens (and
    /// threads it starts, such as librdkafka's) are on the node's side of a cut link.
    pub fn on_node_side<T: Send + 'static>(
        &self,
        id: i32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        assert!(
            self.netns,
            "on_node_side needs a cluster started with netns"
        );
        let ns = std::fs::File::open(format!("/run/netns/{}", netns_name(id)))
            .expect("open the node's network namespace");
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            // SAFETY: setns on this thread only, with a namespace fd we hold open.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            drop(ns);
            f()
        })
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
        NODE_IDS.map(|id| self.addr(id)).join(",")
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
        if self.netns {
            netns_teardown();
        }
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("{}", self.log_tails(40));
        }
        // MYELIN_CLUSTER_KEEP=1 keeps a passing run's directory too (logs to read).
        if panicking || std::env::var_os("MYELIN_CLUSTER_KEEP").is_some() {
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
    request_at(&addr(id), key, version, req, wait)
}

/// [`request`] to a broker's client address.
pub fn request_at<Req: Encodable, Resp: Decodable>(
    at: &str,
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
    let a: SocketAddr = at.parse()?;
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(2))
        .with_context(|| format!("connect to {at}"))?;
    s.set_read_timeout(Some(wait))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&(buf.len() as i32).to_be_bytes())?;
    s.write_all(&buf)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .with_context(|| format!("{key:?} answer from {at}"))?;
    let len = i32::from_be_bytes(len);
    if !(0..64 << 20).contains(&len) {
        bail!("{at}: answer of {len} bytes");
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    let mut body = Bytes::from(body);
    let h = ResponseHeader::decode(&mut body, key.response_header_version(version))?;
    if h.correlation_id != 7 {
        bail!("{at}: correlation id {}", h.correlation_id);
    }
    Resp::decode(&mut body, version)
}

/// Metadata v12 from node `id` for `topics` (none: brokers only), no auto-creation.
pub fn metadata(id: i32, topics: &[&str]) -> Result<Metadata> {
    metadata_at(&addr(id), topics)
}

/// [`metadata`] from the broker at `at`.
pub fn metadata_at(at: &str, topics: &[&str]) -> Result<Metadata> {
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
    let resp: MetadataResponse = request_at(at, ApiKey::Metadata, METADATA_VERSION, &req, SHORT)?;
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
    describe_quorum_at(&addr(id))
}

/// [`describe_quorum`] of the broker at `at`.
pub fn describe_quorum_at(at: &str) -> Result<Quorum> {
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp: DescribeQuorumResponse = request_at(
        at,
        ApiKey::DescribeQuorum,
        DESCRIBE_QUORUM_VERSION,
        &req,
        SHORT,
    )?;
    if resp.error_code != 0 {
        bail!("DescribeQuorum from {at}: error {}", resp.error_code);
    }
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| anyhow!("DescribeQuorum from {at}: no partition"))?;
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

/// FindCoordinator v2 (what librdkafka sends) to the broker at `at`: the coordinator of
/// group `key` (`key_type` 0) or transactional id `key` (1). Returns the error code and the
/// coordinator's node id.
pub fn find_coordinator_at(at: &str, key: &str, key_type: i8) -> Result<(i16, i32)> {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(key.to_string()))
        .with_key_type(key_type);
    let resp: FindCoordinatorResponse = request_at(at, ApiKey::FindCoordinator, 2, &req, SHORT)?;
    Ok((resp.error_code, resp.node_id.0))
}
