//! Client quotas end to end, against the real broker with Kafka 4.4's own tools:
//! `kafka-configs` (ConfigCommand: AlterClientQuotas, DescribeClientQuotas and, for users,
//! DescribeUserScramCredentials) gives the outputs Kafka gives, and a producer under
//! `producer_byte_rate` (Kafka's ProducerPerformance, which honours `throttle_time_ms` as any
//! KIP-219 client does) and an rdkafka consumer under `consumer_byte_rate` are held to
//! their rates, and `max.connections.per.ip` closes the connection over it.
//!
//! With `MYELIN_KAFKA_REF=1` both also run against Kafka 4.4 (`kref.sh start` on
//! 127.0.0.45): the tool outputs must be the same, and both brokers must hold the producer
//! within 10% of the quota. Without Kafka's jars the tests say so and pass only outside CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::kref::{jars_installed, tool, KafkaRef};
use common::Broker;

/// Where Kafka 4.4 is served from for the reference run.
const KAFKA_HOST: &str = "127.0.0.45";
/// The producer's quota: 512 KiB/s.
const PRODUCE_QUOTA: u64 = 512 * 1024;
/// Record size and count: 20 MiB, about forty seconds under the quota.
const RECORD_BYTES: u64 = 1024;
const RECORDS: u64 = 20 * 1024;

fn skip_without_jars() -> bool {
    if jars_installed() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "Kafka 4.4's jars are not installed (kref.sh install); CI must have them"
    );
    eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
    true
}

/// `kafka-configs` with the broker and `args`: its stdout lines sorted (Kafka lists
/// entities in hash order), or the exception it ended with.
fn configs(bootstrap: &str, args: &[&str]) -> String {
    let mut all = vec!["--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let (code, out, err) = tool("org.apache.kafka.tools.ConfigCommand", &all);
    if code != 0 {
        const PREFIX: &str = "org.apache.kafka.common.errors.";
        let text = format!("{out}{err}");
        return text
            .lines()
            .find_map(|l| {
                l.find(PREFIX)
                    .map(|i| l[i + PREFIX.len()..].trim().to_string())
            })
            .unwrap_or_else(|| format!("exit {code}: {text}"));
    }
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    lines.join("\n")
}

const ALICE: &[&str] = &["--entity-type", "users", "--entity-name", "alice"];

/// The steps: (name, output).
fn scenario(bootstrap: &str) -> Vec<(&'static str, String)> {
    let alter = |add: &str, entity: &[&str]| {
        let mut a = vec!["--alter", "--add-config", add];
        a.extend_from_slice(entity);
        configs(bootstrap, &a)
    };
    let describe = |entity: &[&str]| {
        let mut a = vec!["--describe"];
        a.extend_from_slice(entity);
        configs(bootstrap, &a)
    };
    let mut steps = vec![(
        "describe users, none yet",
        describe(&["--entity-type", "users"]),
    )];
    steps.push(("alter alice", alter("producer_byte_rate=1024", ALICE)));
    steps.push((
        "alter alice and app",
        alter(
            "consumer_byte_rate=4096,request_percentage=12.5",
            &[
                "--entity-type",
                "users",
                "--entity-name",
                "alice",
                "--entity-type",
                "clients",
                "--entity-name",
                "app",
            ],
        ),
    ));
    steps.push((
        "alter default client",
        alter(
            "consumer_byte_rate=2048",
            &["--entity-type", "clients", "--entity-default"],
        ),
    ));
    steps.push((
        "alter a fractional byte rate",
        alter(
            "producer_byte_rate=1.5",
            &["--entity-type", "users", "--entity-name", "bob"],
        ),
    ));
    steps.push(("describe users", describe(&["--entity-type", "users"])));
    steps.push(("describe clients", describe(&["--entity-type", "clients"])));
    steps.push(("describe alice", describe(ALICE)));
    steps.push((
        "describe alice's clients",
        describe(&[
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
            "--entity-type",
            "clients",
        ]),
    ));
    let mut delete = vec!["--alter", "--delete-config", "producer_byte_rate"];
    delete.extend_from_slice(ALICE);
    steps.push(("delete alice's", configs(bootstrap, &delete)));
    steps.push(("describe alice after", describe(ALICE)));
    steps
}

/// What Kafka 4.4 shows for each step (observed with `MYELIN_KAFKA_REF=1`).
fn expected() -> Vec<(&'static str, String)> {
    let alice = "Completed updating config for user alice.";
    [
        ("describe users, none yet", ""),
        ("alter alice", alice),
        ("alter alice and app", alice),
        (
            "alter default client",
            "Completed updating default config for clients in the cluster.",
        ),
        (
            "alter a fractional byte rate",
            "InvalidRequestException: producer_byte_rate cannot be a fractional value.",
        ),
        (
            "describe users",
            "Quota configs for user-principal 'alice' are producer_byte_rate=1024.0",
        ),
        (
            "describe clients",
            "Quota configs for the default client-id are consumer_byte_rate=2048.0",
        ),
        (
            "describe alice",
            "Quota configs for user-principal 'alice' are producer_byte_rate=1024.0",
        ),
        (
            "describe alice's clients",
            "Quota configs for user-principal 'alice', client-id 'app' are \
             consumer_byte_rate=4096.0, request_percentage=12.5",
        ),
        ("delete alice's", alice),
        ("describe alice after", ""),
    ]
    .into_iter()
    .map(|(n, o)| (n, o.to_string()))
    .collect()
}

fn assert_steps(who: &str, got: &[(&str, String)], want: &[(&str, String)]) {
    for ((name, g), (_, w)) in got.iter().zip(want) {
        assert_eq!(g, w, "{who}, step {name:?}");
    }
    assert_eq!(got.len(), want.len(), "{who}: steps");
}

#[test]
fn kafka_configs_alters_and_describes_quotas_as_on_kafka() {
    if skip_without_jars() {
        return;
    }
    let b = Broker::start(&[]);
    let myelin = scenario(&b.bootstrap());
    drop(b);
    for (name, out) in &myelin {
        eprintln!("[myelin] {name}: {out}");
    }
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        let k = KafkaRef::start(KAFKA_HOST);
        let reference = scenario(&k.bootstrap());
        drop(k);
        for (name, out) in &reference {
            eprintln!("[kafka] {name}: {out}");
        }
        assert_steps(
            "Kafka 4.4 against the recorded outputs",
            &reference,
            &expected(),
        );
        assert_steps("Myelin against Kafka 4.4", &myelin, &reference);
    }
    assert_steps("Myelin", &myelin, &expected());
}

/// Seconds of a quota's rate that Kafka's windowing lets through beyond the quota over a
/// run: the ten windows a new rate is measured over at least, and one window that an
/// expiring sample frees.
const WINDOWING_S: f64 = 11.0;

/// Records Kafka 4.4 let through in ProducerPerformance's first six five-second reports
/// (observed with `MYELIN_KAFKA_REF=1`: 5612, 75, 5490, 75, 5490, 75 — bursts and pauses,
/// 16 817 records in 30 s, 560 KiB/s: the quota plus the first ten windows' allowance).
const KAFKA_RECORDS_IN_30_S: f64 = 16_817.0;

/// What one run shows: bytes sent, seconds taken, records in the first six reports.
type Run = (f64, f64, f64);

/// Runs ProducerPerformance under the quota.
fn produce_under_quota(bootstrap: &str) -> Run {
    let add = format!("producer_byte_rate={PRODUCE_QUOTA}");
    let set = configs(
        bootstrap,
        &[
            "--alter",
            "--add-config",
            &add,
            "--entity-type",
            "clients",
            "--entity-name",
            "perf",
        ],
    );
    assert!(set.contains("Completed"), "{set}");
    let props = format!("bootstrap.servers={bootstrap}");
    let (code, out, err) = tool(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            "quota-perf",
            "--num-records",
            &RECORDS.to_string(),
            "--record-size",
            &RECORD_BYTES.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &props,
            "client.id=perf",
            "acks=1",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("{out}");
    // The whole run's line: "20480 records sent, 601.2 records/sec (0.59 MB/sec), ... 50th".
    let summary = out
        .lines()
        .find(|l| l.contains("50th"))
        .unwrap_or_else(|| panic!("no summary in: {out}"));
    let per_s: f64 = summary
        .split(" records sent, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no rate in: {summary}"));
    let bytes = (RECORDS * RECORD_BYTES) as f64;
    // The five-second reports: "5612 records sent, 957.7 records/sec (0.94 MB/sec), ...".
    let reports: Vec<f64> = out
        .lines()
        .filter(|l| l.contains(" records sent, ") && !l.contains("50th"))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(reports.len() >= 6, "too few reports: {out}");
    (bytes, RECORDS as f64 / per_s, reports.iter().take(6).sum())
}

/// Within 10% of each other.
fn within_10_percent(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.1 * b
}

/// The quota holds within 10%: a client that always has records to send gets, over a run of
/// `secs`, no more than the quota allows (its rate over the run and the windowing's
/// allowance) and no less than the quota over the run less the windowing's allowance
/// (Kafka's windows make a producer faster than its quota alternate bursts and pauses).
fn assert_held(who: &str, (bytes, secs, in_30_s): Run) {
    let quota = PRODUCE_QUOTA as f64;
    let most = quota * (secs + WINDOWING_S) * 1.1;
    let least = quota * (secs - WINDOWING_S) * 0.9;
    eprintln!(
        "{who}: {bytes} bytes in {secs:.1} s ({:.0} B/s) under a quota of {quota} B/s; \
         allowed {least:.0}..{most:.0} bytes",
        bytes / secs
    );
    assert!(bytes <= most, "{who}: sent more than the quota allows");
    assert!(bytes >= least, "{who}: held below the quota");
    assert!(
        within_10_percent(in_30_s, KAFKA_RECORDS_IN_30_S),
        "{who}: {in_30_s} records in 30 s, Kafka 4.4 lets {KAFKA_RECORDS_IN_30_S} through"
    );
}

#[test]
fn a_producer_is_held_to_its_byte_rate() {
    if skip_without_jars() {
        return;
    }
    let b = Broker::start(&[]);
    let myelin = produce_under_quota(&b.bootstrap());
    drop(b);
    assert_held("Myelin", myelin);
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        let k = KafkaRef::start(KAFKA_HOST);
        let kafka = produce_under_quota(&k.bootstrap());
        drop(k);
        assert_held("Kafka 4.4", kafka);
        // The same client is held alike on both.
        eprintln!("Myelin {myelin:?}, Kafka 4.4 {kafka:?}");
        assert!(within_10_percent(myelin.1, kafka.1), "run times");
        assert!(within_10_percent(myelin.2, kafka.2), "records in 30 s");
    }
}

/// Whether a new connection to `addr` answers an ApiVersions v0 request.
fn connection_answers(addr: std::net::SocketAddr) -> (std::net::TcpStream, bool) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    // Length 10: api key 18, version 0, correlation id 1, null client id.
    let req = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    let mut len = [0u8; 4];
    let ok = s.write_all(&req).is_ok() && s.read_exact(&mut len).is_ok();
    (s, ok)
}

#[test]
fn max_connections_per_ip_closes_the_connection_over_it() {
    // One shard, so the per-shard count is the broker's.
    let b = Broker::start(&["--shards", "1", "--max-connections-per-ip", "2"]);
    // The start-up probe's connection is let go first.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_a, a) = connection_answers(b.addr);
    let (_b, second) = connection_answers(b.addr);
    let (_c, third) = connection_answers(b.addr);
    assert!(a && second, "the first two connections are served");
    assert!(!third, "the third connection from 127.0.0.1 is closed");
    drop(_a);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_d, again) = connection_answers(b.addr);
    assert!(again, "a connection closed makes room for another");
}

/// The consumer's quota: 256 KiB/s.
const CONSUME_QUOTA: u64 = 256 * 1024;
/// Records (of [`RECORD_BYTES`]) the consumer reads: 6 MiB, 24 s of quota.
const CONSUMED: u64 = 6 * 1024;

#[test]
fn a_consumer_is_held_to_its_byte_rate() {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::Message;
    use std::time::{Duration, Instant};
    if skip_without_jars() {
        return;
    }
    let b = Broker::start(&[]);
    let bootstrap = b.bootstrap();
    let producer: BaseProducer = common::kafka::config(&bootstrap).create().unwrap();
    let value = vec![b'x'; RECORD_BYTES as usize];
    for _ in 0..CONSUMED {
        loop {
            match producer.send(BaseRecord::<(), _>::to("quota-fetch").payload(&value)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let add = format!("consumer_byte_rate={CONSUME_QUOTA}");
    let set = configs(
        &bootstrap,
        &[
            "--alter",
            "--add-config",
            &add,
            "--entity-type",
            "clients",
            "--entity-name",
            "slow",
        ],
    );
    assert!(set.contains("Completed"), "{set}");
    let consumer: BaseConsumer = {
        use rdkafka::consumer::Consumer;
        let c: BaseConsumer = common::kafka::config(&bootstrap)
            .set("group.id", "unused")
            .set("client.id", "slow")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("quota-fetch", 0, rdkafka::Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        c
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120);
    let mut read = 0u64;
    while read < CONSUMED && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            if m.payload().is_some() {
                read += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(read, CONSUMED, "read everything within the deadline");
    let bytes = (CONSUMED * RECORD_BYTES) as f64;
    let quota = CONSUME_QUOTA as f64;
    // Kafka's windowing lets about WINDOWING_S seconds' worth through beyond the run.
    let least_s = bytes / quota - WINDOWING_S;
    eprintln!("consumed {bytes} bytes in {secs:.1} s under {quota} B/s (at least {least_s:.1} s)");
    assert!(
        secs >= 0.9 * least_s,
        "the consumer was not held to its quota"
    );
}
