//! Runs the real `myelin` binary for integration tests: a fresh data directory and a free
//! loopback port per broker, killed when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod certs;

pub mod wire {
    //! Kafka requests by hand, through kafka-protocol's codec.

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    /// Sends one request on a fresh connection (client id `client`) and decodes the answer.
    pub fn call<Req: Encodable, Resp: Decodable>(
        addr: impl ToSocketAddrs,
        client: &'static str,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str(client)));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version).unwrap();
        let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        s.write_all(&frame).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        let mut body = Bytes::from(body);
        let h = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
        assert_eq!(h.correlation_id, 7);
        Resp::decode(&mut body, version).unwrap()
    }
}

/// Kafka's JAAS login modules, for broker and client properties.
pub const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a Kafka broker answers an ApiVersions v0 request at `addr`.
fn answers(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    // Length 10: api key 18, version 0, correlation id 1, null client id.
    let req = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    if s.write_all(&req).is_err() {
        return false;
    }
    let mut len = [0u8; 4];
    s.read_exact(&mut len).is_ok() && i32::from_be_bytes(len) > 0
}

/// A broker process under test.
pub struct Broker {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub child: Option<Child>,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// Starts a broker with the given extra flags.
    pub fn start(extra: &[&str]) -> Broker {
        let data = tempfile::Builder::new()
            .prefix("myelin-test")
            .tempdir_in(test_tmp())
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut b = Broker {
            addr,
            data,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        b.spawn();
        b
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.data.path().join("broker.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_myelin"))
            .arg("--data-dir")
            .arg(self.data.path().join("data"))
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // A connection alone is not enough: a broker just killed on this port keeps its
        // listener for a moment (its io_uring lets go late), and the kernel accepts for it.
        while !answers(self.addr) {
            assert!(
                Instant::now() < deadline,
                "broker did not start: {}",
                self.log()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("broker exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("broker.log")).unwrap_or_default()
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: sending a signal to our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "unclean exit {status}: {}", self.log());
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "broker did not stop: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Test data lives on the real disk (not tmpfs) so O_DIRECT is exercised.
pub fn test_tmp() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub mod kafka {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;

    pub fn config(bootstrap: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap)
            .set("broker.address.family", "v4");
        c
    }

    pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
        config(bootstrap).create().unwrap()
    }

    /// A consumer assigned every partition of `topic` from the beginning (no group).
    pub fn consumer_from_beginning(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
    ) -> rdkafka::consumer::BaseConsumer {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::BaseConsumer = config(bootstrap)
            .set("group.id", "unused")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        consumer
    }

    /// Produces `k`=`v` to `topic` with librdkafka configured by `settings`, then reads the
    /// topic from the start in a group: `"k=v"`, or what went wrong instead.
    pub fn round_trip(settings: &[(&str, &str)], topic: &str) -> String {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::producer::{FutureProducer, FutureRecord};
        use rdkafka::Message;
        use std::time::{Duration, Instant};
        let client = || {
            let mut c = ClientConfig::new();
            for (k, v) in settings {
                c.set(*k, *v);
            }
            c
        };
        let producer: FutureProducer = client()
            .set("message.timeout.ms", "20000")
            .create()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sent = rt.block_on(producer.send(
            FutureRecord::to(topic).key("k").payload("v"),
            Duration::from_secs(20),
        ));
        if let Err((e, _)) = sent {
            return format!("produce failed: {e}");
        }
        let consumer: BaseConsumer = client()
            .set("group.id", topic)
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                return format!(
                    "{}={}",
                    String::from_utf8_lossy(m.key().unwrap_or_default()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default())
                );
            }
        }
        "nothing consumed".into()
    }

    pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
        let admin = admin(bootstrap);
        let res = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        for r in res {
            r.unwrap();
        }
    }
}

/// A loopback TCP proxy that forwards to a broker and, while `chaos` is on, cuts every open
/// connection at random moments — so clients see requests fail mid-flight and retry.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    chaos: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cuts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ChaosProxy {
    pub fn start(target: SocketAddr, addr: SocketAddr) -> ChaosProxy {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let chaos = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        {
            let (stop, open) = (stop.clone(), open.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    open.lock().unwrap().push(client.try_clone().unwrap());
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                            let _ = from.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            });
        }
        {
            let (stop, chaos, cuts) = (stop.clone(), chaos.clone(), cuts.clone());
            std::thread::spawn(move || {
                let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
                while !stop.load(Ordering::Relaxed) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    std::thread::sleep(Duration::from_millis(50 + seed % 150));
                    if chaos.load(Ordering::Relaxed) {
                        for s in open.lock().unwrap().drain(..) {
                            let _ = s.shutdown(std::net::Shutdown::Both);
                            cuts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        ChaosProxy {
            addr,
            chaos,
            stop,
            cuts,
        }
    }

    pub fn set_chaos(&self, on: bool) {
        self.chaos.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn cuts(&self) -> usize {
        self.cuts.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// Apache Kafka 4.4 from its Maven jars through `../shared/kafka-ref/kref.sh`, the reference
/// that differential tests run the same client against.
pub mod kref {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The kref.sh script (`MYELIN_KREF` overrides where it is).
    pub fn script() -> PathBuf {
        std::env::var_os("MYELIN_KREF")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/kafka-ref/kref.sh")
            })
    }

    /// Whether Kafka 4.4's jars are installed (`kref.sh install`).
    pub fn jars_installed() -> bool {
        let home = std::env::var("KREF_HOME").unwrap_or_else(|_| "/opt/kafka-ref".into());
        let lib = Path::new(&home).join("lib");
        script().exists()
            && std::fs::read_dir(&lib).is_ok_and(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("kafka-tools-4.4") && n.ends_with(".jar")
                })
            })
    }

    /// Runs one of Kafka's classes from its jars (a CLI tool) for at most two minutes:
    /// (exit code, stdout, stderr).
    pub fn tool(class: &str, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("timeout")
            .arg("--kill-after=10")
            .arg("120")
            .arg(script())
            .arg("java")
            .arg(class)
            .args(args)
            .output()
            .expect("running kref.sh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A single Kafka 4.4 node on `host`:9092, stopped when dropped.
    pub struct KafkaRef {
        dir: tempfile::TempDir,
        host: String,
    }

    impl KafkaRef {
        /// Formats and starts the node; panics if it does not come up.
        pub fn start(host: &str) -> KafkaRef {
            KafkaRef::start_with(host, &[])
        }

        /// Starts the node with extra server properties (`key=value`, no whitespace: Java
        /// properties read `\u0020` as a space).
        pub fn start_with(host: &str, props: &[&str]) -> KafkaRef {
            let dir = tempfile::Builder::new()
                .prefix("kref")
                .tempdir_in(super::test_tmp())
                .unwrap();
            let out = Command::new("timeout")
                .env("KREF_PROPS", props.join(" "))
                .arg("120")
                .arg(script())
                .arg("start")
                .arg(host)
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "Kafka 4.4 did not start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            KafkaRef {
                dir,
                host: host.to_string(),
            }
        }

        /// Its bootstrap address.
        pub fn bootstrap(&self) -> String {
            format!("{}:9092", self.host)
        }

        /// Stops the node and starts it again on the same data with extra server
        /// properties (`KREF_PROPS`: `k=v` pairs separated by spaces).
        pub fn restart_with(&self, props: &str) {
            let _ = Command::new("timeout")
                .arg("60")
                .arg(script())
                .arg("stop")
                .arg(self.dir.path())
                .status();
            let out = Command::new("timeout")
                .arg("120")
                .arg(script())
                .arg("start")
                .arg(&self.host)
                .arg(self.dir.path())
                .env("KREF_PROPS", props)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "Kafka 4.4 did not restart: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    impl Drop for KafkaRef {
        fn drop(&mut self) {
            let _ = Command::new("timeout")
                .arg("60")
                .arg(script())
                .arg("stop")
                .arg(self.dir.path())
                .status();
        }
    }
}
