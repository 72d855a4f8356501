//! Kafka 4.4's own tools and raw requests for groups, producers and transactions, against
//! Myelin: `kafka-consumer-groups --list --type/--state` and `kafka-groups --list
//! --group-type` (ListGroups v5, KIP-848's type filter), `kafka-transactions
//! describe-producers` and `find-hanging` (DescribeProducers), `kafka-transactions list`
//! (ListTransactions), and produces that a compacted topic rejects per record (KIP-467's
//! `record_errors`), raw and from Kafka's console producer.
//!
//! Each step's output is recorded below as Kafka 4.4 gives it, after taking out what differs
//! between any two brokers (producer ids, timestamps, broker ids). With `MYELIN_KAFKA_REF=1`
//! the same scenario also runs against Kafka 4.4 itself (`kref.sh start` on 127.0.0.46), and
//! both must agree step by step. Without Kafka's jars the test says so and passes only
//! outside CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::{Bytes, BytesMut};
use common::kref::{jars_installed, script as kref, tool, KafkaRef};
use common::{kafka, Broker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    describe_producers_request, ApiKey, DescribeProducersRequest, DescribeProducersResponse,
    ListGroupsRequest, ListGroupsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Message;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where Kafka 4.4 is served from for the reference run.
const KAFKA_HOST: &str = "127.0.0.46";
/// One tool run may take this long (a JVM start is a few seconds on a busy machine).
const TOOL_TIMEOUT_S: u32 = 120;
/// How long a consumer group may take to form.
const GROUP_WAIT: Duration = Duration::from_secs(60);

/// A tool's table: the header, then the rows sorted, each line's cells split on runs of
/// white space and joined by one space.
fn table(text: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if let Some(rows) = lines.get_mut(1..) {
        rows.sort();
    }
    lines.join("\n")
}

/// `kafka-transactions describe-producers` output with the producer ids replaced by their
/// rank (ids differ between brokers; the order they were handed out in does not) and the
/// timestamps by whether they are plausible (within the last hour).
fn producers_table(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return format!("no output: {text:?}");
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut rows: Vec<Vec<String>> = lines
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    rows.sort_by_key(|r| r.first().and_then(|id| id.parse::<i64>().ok()));
    let mut out = vec![header.split_whitespace().collect::<Vec<_>>().join(" ")];
    for (rank, mut row) in rows.into_iter().enumerate() {
        if row.len() != 6 {
            out.push(format!("malformed row {row:?}"));
            continue;
        }
        row[0] = format!("producer#{rank}");
        let ts: i64 = row[4].parse().unwrap_or(-1);
        row[4] = if (now_ms - 3_600_000..=now_ms + 60_000).contains(&ts) {
            "recent".into()
        } else {
            format!("odd timestamp {ts}")
        };
        out.push(row.join(" "));
    }
    out.join("\n")
}

/// `kafka-transactions list` output without the coordinator column (a broker id).
fn transactions_table(text: &str) -> String {
    let rows: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    table(&rows.join("\n"))
}

/// One request on a fresh connection, and its response body.
fn raw<Req: Encodable, Resp: Decodable>(
    bootstrap: &str,
    key: ApiKey,
    version: i16,
    body: &Req,
) -> Resp {
    common::wire::call(bootstrap, "kafka-tools-test", key, version, body)
}

/// A raw ListGroups at `version`: (group, protocol type, state, type) sorted.
fn list_groups(bootstrap: &str, version: i16, states: &[&str], types: &[&str]) -> String {
    let strs = |v: &[&str]| {
        v.iter()
            .map(|s| StrBytes::from_string(s.to_string()))
            .collect()
    };
    let req = ListGroupsRequest::default()
        .with_states_filter(strs(states))
        .with_types_filter(strs(types));
    let resp: ListGroupsResponse = raw(bootstrap, ApiKey::ListGroups, version, &req);
    let mut groups: Vec<String> = resp
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} protocol={:?} state={:?} type={:?}",
                g.group_id.0, g.protocol_type, g.group_state, g.group_type
            )
        })
        .collect();
    groups.sort();
    format!("error={} [{}]", resp.error_code, groups.join(", "))
}

/// A raw DescribeProducers for `(topic, partitions)`: per partition its error and message
/// and how many producers.
fn describe_producers(bootstrap: &str, topics: &[(&str, &[i32])]) -> String {
    let req = DescribeProducersRequest::default().with_topics(
        topics
            .iter()
            .map(|(t, ps)| {
                describe_producers_request::TopicRequest::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partition_indexes(ps.to_vec())
            })
            .collect(),
    );
    let resp: DescribeProducersResponse = raw(bootstrap, ApiKey::DescribeProducers, 0, &req);
    let mut out = Vec::new();
    for t in &resp.topics {
        for p in &t.partitions {
            out.push(format!(
                "{}-{} error={} message={:?} producers={}",
                t.name.0,
                p.partition_index,
                p.error_code,
                p.error_message,
                p.active_producers.len()
            ));
        }
        if t.partitions.is_empty() {
            out.push(format!("{} no partitions", t.name.0));
        }
    }
    out.join("\n")
}

/// A v2 batch of records with these keys (values `v0`, `v1`, …).
fn batch(keys: &[Option<&'static str>]) -> Bytes {
    let records: Vec<Record> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch wherever `offset - sequence` changes; this keeps
            // one batch whose base sequence is -1 (no producer).
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000,
            key: k.map(|k| Bytes::from_static(k.as_bytes())),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// A raw Produce of one batch with these keys to partition 0 of `topic`: the partition's
/// error, error message and record errors.
fn produce(bootstrap: &str, version: i16, topic: &str, keys: &[Option<&'static str>]) -> String {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(keys)))])]);
    // A topic just created may not have its leader yet (NOT_LEADER_OR_FOLLOWER on Kafka).
    let deadline = Instant::now() + Duration::from_secs(30);
    let resp = loop {
        let resp: ProduceResponse = raw(bootstrap, ApiKey::Produce, version, &req);
        let code = resp.responses[0].partition_responses[0].error_code;
        if !matches!(code, 3 | 6) || Instant::now() > deadline {
            break resp;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let p = &resp.responses[0].partition_responses[0];
    let errors: Vec<String> = p
        .record_errors
        .iter()
        .map(|e| format!("{}: {:?}", e.batch_index, e.batch_index_error_message))
        .collect();
    format!(
        "error={} base_offset={} message={:?} record_errors=[{}]",
        p.error_code,
        p.base_offset,
        p.error_message,
        errors.join(", ")
    )
}

/// A consumer in `group`, subscribed to `topic`.
fn group_consumer(bootstrap: &str, group: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = kafka::config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// What each step showed, in order.
type Steps = Vec<(&'static str, String)>;

/// ListGroups: an empty classic group (offsets committed, consumer gone) and a stable one
/// (a consumer polling), listed by Kafka's tools and raw requests with type and state
/// filters.
async fn groups_scenario(bootstrap: &str, steps: &mut Steps) {
    kafka::create_topic(bootstrap, "grp", 1).await;
    let producer: FutureProducer = kafka::config(bootstrap).create().unwrap();
    for i in 0..3 {
        let v = format!("v{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("grp").partition(0).payload(&v),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // An empty group: it consumed and committed, then left.
    {
        let c = group_consumer(bootstrap, "g-empty", "grp");
        let mut seen = 0;
        let deadline = Instant::now() + GROUP_WAIT;
        while seen < 3 && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                assert!(m.payload().is_some());
                seen += 1;
            }
        }
        assert_eq!(seen, 3, "g-empty consumed");
        c.commit_consumer_state(CommitMode::Sync).unwrap();
        c.unsubscribe();
    }
    // A stable group: a consumer keeps polling until the listings are done.
    let stop = Arc::new(AtomicBool::new(false));
    let assigned = Arc::new(AtomicBool::new(false));
    let poller = {
        let (stop, assigned) = (stop.clone(), assigned.clone());
        let bootstrap = bootstrap.to_string();
        std::thread::spawn(move || {
            let c = group_consumer(&bootstrap, "g-stable", "grp");
            while !stop.load(Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(100));
                if c.assignment().is_ok_and(|a| a.count() > 0) {
                    assigned.store(true, Ordering::Relaxed);
                }
            }
            c.unsubscribe();
        })
    };
    let deadline = Instant::now() + GROUP_WAIT;
    while !assigned.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "g-stable got no assignment");
        std::thread::sleep(Duration::from_millis(100));
    }
    let groups = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", bootstrap, "--list"];
        all.extend_from_slice(args);
        let (code, out, err) = tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &all,
        );
        format!("{code}\n{}{}", table(&out), err.trim())
    };
    steps.push(("consumer-groups --list --type", groups(&["--type"])));
    steps.push((
        "consumer-groups --list --type classic",
        groups(&["--type", "classic"]),
    ));
    steps.push((
        "consumer-groups --list --type consumer",
        groups(&["--type", "consumer"]),
    ));
    steps.push((
        "consumer-groups --list --type classic --state stable",
        groups(&["--type", "classic", "--state", "stable"]),
    ));
    let kafka_groups = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", bootstrap, "--list"];
        all.extend_from_slice(args);
        let (code, out, err) = tool("org.apache.kafka.tools.GroupsCommand", &all);
        format!("{code}\n{}{}", table(&out), err.trim())
    };
    steps.push((
        "groups --list --group-type classic",
        kafka_groups(&["--group-type", "classic"]),
    ));
    steps.push((
        "groups --list --group-type consumer",
        kafka_groups(&["--group-type", "consumer"]),
    ));
    for (step, version, states, types) in [
        ("ListGroups v5", 5, &[][..], &[][..]),
        ("ListGroups v5 type Classic", 5, &[][..], &["Classic"][..]),
        ("ListGroups v5 type consumer", 5, &[][..], &["consumer"][..]),
        ("ListGroups v5 type bogus", 5, &[][..], &["bogus"][..]),
        (
            "ListGroups v5 state empty, types share and classic",
            5,
            &[" Empty"][..],
            &["share", "classic"][..],
        ),
        ("ListGroups v4 state stable", 4, &["STABLE"][..], &[][..]),
    ] {
        steps.push((step, list_groups(bootstrap, version, states, types)));
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
}

/// DescribeProducers and ListTransactions: an idempotent producer, then a transactional
/// one with its transaction open, then committed.
async fn producers_scenario(bootstrap: &str, steps: &mut Steps) {
    kafka::create_topic(bootstrap, "prod", 1).await;
    let describe = || {
        let (code, out, err) = tool(
            "org.apache.kafka.tools.TransactionsCommand",
            &[
                "--bootstrap-server",
                bootstrap,
                "describe-producers",
                "--topic",
                "prod",
                "--partition",
                "0",
            ],
        );
        format!("{code}\n{}{}", producers_table(&out), err.trim())
    };
    let list = || {
        let (code, out, err) = tool(
            "org.apache.kafka.tools.TransactionsCommand",
            &["--bootstrap-server", bootstrap, "list"],
        );
        format!("{code}\n{}{}", transactions_table(&out), err.trim())
    };
    steps.push(("describe-producers, none yet", describe()));
    let idempotent: FutureProducer = kafka::config(bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..3 {
        let v = format!("i{i}");
        idempotent
            .send(
                FutureRecord::<(), _>::to("prod").partition(0).payload(&v),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    steps.push(("describe-producers, idempotent", describe()));
    let txn: FutureProducer = kafka::config(bootstrap)
        .set("transactional.id", "tools-txn")
        .create()
        .unwrap();
    txn.init_transactions(Duration::from_secs(30)).unwrap();
    txn.begin_transaction().unwrap();
    for i in 0..2 {
        let v = format!("t{i}");
        txn.send(
            FutureRecord::<(), _>::to("prod").partition(0).payload(&v),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    }
    steps.push(("describe-producers, transaction open", describe()));
    steps.push(("transactions list, open", list()));
    // Open, but far younger than the 15 minutes it would take to be hanging.
    let (code, out, err) = tool(
        "org.apache.kafka.tools.TransactionsCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "find-hanging",
            "--topic",
            "prod",
        ],
    );
    steps.push((
        "find-hanging, open",
        format!("{code}\n{}{}", table(&out), err.trim()),
    ));
    txn.commit_transaction(Duration::from_secs(30)).unwrap();
    steps.push(("describe-producers, committed", describe()));
    steps.push(("transactions list, committed", list()));
    steps.push((
        "DescribeProducers errors",
        describe_producers(
            bootstrap,
            &[
                ("prod", &[0, 5, -1]),
                ("nope", &[0]),
                ("bad name!", &[0]),
                ("prod", &[]),
            ],
        ),
    ));
}

/// Produce to a compacted topic: a batch with records without keys is refused whole, with
/// the index of each keyless record (KIP-467, Produce v8+).
async fn record_errors_scenario(bootstrap: &str, steps: &mut Steps) {
    let admin = kafka::admin(bootstrap);
    let res = admin
        .create_topics(
            &[NewTopic::new("compacted", 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    for r in res {
        r.unwrap();
    }
    for (step, version, keys) in [
        ("produce v11, all keyed", 11, &[Some("a"), Some("b")][..]),
        (
            "produce v11, keyless records 1 and 2",
            11,
            &[Some("a"), None, None][..],
        ),
        (
            "produce v11, four keyless",
            11,
            &[None, None, None, None][..],
        ),
        ("produce v8, keyless record 0", 8, &[None, Some("b")][..]),
        ("produce v7, keyless record 0", 7, &[None][..]),
    ] {
        steps.push((step, produce(bootstrap, version, "compacted", keys)));
    }
    // Kafka's Java producer reports a refused record with its own record error.
    let mut producer = Command::new("timeout")
        .arg("--kill-after=10")
        .arg(TOOL_TIMEOUT_S.to_string())
        .arg(kref())
        .args(["java", "org.apache.kafka.tools.ConsoleProducer"])
        .args(["--bootstrap-server", bootstrap, "--topic", "compacted"])
        .args(["--command-property", "retries=0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    producer
        .stdin
        .take()
        .unwrap()
        .write_all(b"no key\n")
        .unwrap();
    let out = producer.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let shown = text.lines().find(|l| l.contains("Exception")).map_or_else(
        || format!("no exception in: {text}"),
        |l| l.trim().to_string(),
    );
    steps.push(("console-producer, no key", shown));
}

/// The scenario, against one broker.
async fn scenario(bootstrap: &str) -> Steps {
    let mut steps = Steps::new();
    groups_scenario(bootstrap, &mut steps).await;
    producers_scenario(bootstrap, &mut steps).await;
    record_errors_scenario(bootstrap, &mut steps).await;
    steps
}

/// Kafka 4.4's message for each keyless record of partition 0 of `compacted`.
const KEYLESS: &str =
    "Compacted topic cannot accept message without key in topic partition compacted-0";

/// The answer Kafka 4.4 gives from v8 on to a batch with keyless records at `indices`.
fn keyless_refused(indices: &[i32]) -> String {
    let quoted: Vec<String> = indices
        .iter()
        .take(3)
        .map(|i| format!("RecordError(batchIndex={i}, message='{KEYLESS}')"))
        .collect();
    let summary = format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        indices.len(),
        quoted.join(", ")
    );
    let each: Vec<String> = indices
        .iter()
        .map(|i| format!("{i}: Some({KEYLESS:?})"))
        .collect();
    format!(
        "error=87 base_offset=-1 message=Some({summary:?}) record_errors=[{}]",
        each.join(", ")
    )
}

/// What Kafka 4.4 shows for each step (observed with `MYELIN_KAFKA_REF=1`).
fn expected() -> Steps {
    let producers = "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp \
                     CurrentTransactionStartOffset";
    let unknown = "Some(\"This server does not host this topic-partition.\")";
    vec![
        (
            "consumer-groups --list --type",
            "0\nGROUP TYPE\ng-empty Classic\ng-stable Classic".into(),
        ),
        (
            "consumer-groups --list --type classic",
            "0\nGROUP TYPE\ng-empty Classic\ng-stable Classic".into(),
        ),
        (
            "consumer-groups --list --type consumer",
            "0\nGROUP TYPE".into(),
        ),
        (
            "consumer-groups --list --type classic --state stable",
            "0\nGROUP TYPE STATE\ng-stable Classic Stable".into(),
        ),
        (
            "groups --list --group-type classic",
            "0\nGROUP TYPE PROTOCOL\ng-empty Classic consumer\ng-stable Classic consumer".into(),
        ),
        (
            "groups --list --group-type consumer",
            "0\nGROUP TYPE PROTOCOL".into(),
        ),
        (
            "ListGroups v5",
            "error=0 [g-empty protocol=\"consumer\" state=\"Empty\" type=\"classic\", \
             g-stable protocol=\"consumer\" state=\"Stable\" type=\"classic\"]"
                .into(),
        ),
        (
            "ListGroups v5 type Classic",
            "error=0 [g-empty protocol=\"consumer\" state=\"Empty\" type=\"classic\", \
             g-stable protocol=\"consumer\" state=\"Stable\" type=\"classic\"]"
                .into(),
        ),
        ("ListGroups v5 type consumer", "error=0 []".into()),
        ("ListGroups v5 type bogus", "error=0 []".into()),
        (
            "ListGroups v5 state empty, types share and classic",
            "error=0 [g-empty protocol=\"consumer\" state=\"Empty\" type=\"classic\"]".into(),
        ),
        (
            "ListGroups v4 state stable",
            "error=0 [g-stable protocol=\"consumer\" state=\"Stable\" type=\"\"]".into(),
        ),
        ("describe-producers, none yet", format!("0\n{producers}")),
        (
            "describe-producers, idempotent",
            format!("0\n{producers}\nproducer#0 0 -1 2 recent None"),
        ),
        (
            "describe-producers, transaction open",
            format!("0\n{producers}\nproducer#0 0 -1 2 recent None\nproducer#1 0 -1 1 recent 3"),
        ),
        (
            "transactions list, open",
            "0\nTransactionalId ProducerId TransactionState\ntools-txn 1 Ongoing".into(),
        ),
        (
            "find-hanging, open",
            "0\nTopic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset \
             LastTimestamp Duration(min)"
                .into(),
        ),
        (
            "describe-producers, committed",
            format!("0\n{producers}\nproducer#0 0 -1 2 recent None\nproducer#1 0 0 1 recent None"),
        ),
        (
            "transactions list, committed",
            "0\nTransactionalId ProducerId TransactionState\ntools-txn 1 CompleteCommit".into(),
        ),
        (
            "DescribeProducers errors",
            format!(
                "prod-0 error=0 message=None producers=2\n\
                 prod-5 error=3 message=None producers=0\n\
                 prod--1 error=3 message=None producers=0\n\
                 nope-0 error=3 message={unknown} producers=0\n\
                 bad name!-0 error=17 message=Some(\"Topic name is invalid: 'bad name!' contains \
                 one or more characters other than ASCII alphanumerics, '.', '_' and '-'\") \
                 producers=0\n\
                 prod no partitions"
            ),
        ),
        (
            "produce v11, all keyed",
            "error=0 base_offset=0 message=None record_errors=[]".into(),
        ),
        (
            "produce v11, keyless records 1 and 2",
            keyless_refused(&[1, 2]),
        ),
        ("produce v11, four keyless", keyless_refused(&[0, 1, 2, 3])),
        ("produce v8, keyless record 0", keyless_refused(&[0])),
        (
            "produce v7, keyless record 0",
            "error=87 base_offset=-1 message=None record_errors=[]".into(),
        ),
        (
            "console-producer, no key",
            format!("org.apache.kafka.common.InvalidRecordException: {KEYLESS}"),
        ),
    ]
}

fn assert_steps(who: &str, got: &Steps, want: &Steps) {
    for ((name, g), (_, w)) in got.iter().zip(want) {
        assert_eq!(g, w, "{who}, step {name:?}");
    }
    assert_eq!(got.len(), want.len(), "{who}: steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_tools_for_groups_producers_and_transactions_see_what_kafka_shows() {
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are not installed (kref.sh install); CI must have them"
        );
        eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
        return;
    }
    let b = Broker::start(&[]);
    let myelin = scenario(&b.bootstrap()).await;
    drop(b);
    for (name, out) in &myelin {
        eprintln!("[myelin] {name}: {out}");
    }
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        let k = KafkaRef::start(KAFKA_HOST);
        let reference = scenario(&k.bootstrap()).await;
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
