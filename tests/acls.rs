//! ACLs end to end: Kafka's own `kafka-acls` tool (AclCommand, from Kafka 4.4's jars) adds,
//! lists and removes ACLs, and librdkafka clients are refused, then allowed, as they are.
//!
//! The broker runs with `authorizer.class.name` set to Kafka's StandardAuthorizer,
//! `allow.everyone.if.no.acl.found=false` and no super users, so the PLAINTEXT client
//! (`User:ANONYMOUS`) may do only what ACLs grant. A Kafka broker in that setting cannot
//! register with its own controller (its connection is `User:ANONYMOUS` too), so both
//! brokers are first started with `User:ANONYMOUS` as super user to grant it ALL on the
//! cluster, then restarted without super users: from then on topics and groups are refused
//! until an ACL allows them, a DENY overrides an ALLOW, a PREFIXED ACL covers the topics and
//! groups it prefixes, a transactional producer needs WRITE on its transactional id, and
//! removing the cluster ACL refuses the ACL APIs themselves. A second test reads the
//! authorized-operations bitsets (Metadata, DescribeCluster, DescribeGroups) off the wire,
//! and a third (Myelin only) checks that ACLs name the SASL principal (`User:alice`). Before any of
//! that, without an authorizer, `kafka-acls --list` meets SECURITY_DISABLED.
//!
//! With `MYELIN_KAFKA_REF=1` the same scenario runs against Kafka 4.4 (`kref.sh start` on
//! 127.0.0.45) and every step's outcome must be the same on both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::kref::{jars_installed, tool, KafkaRef};
use common::{kafka, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where Kafka 4.4 is served from for the reference run (one host per test: they may run
/// at once).
const KAFKA_HOST: &str = "127.0.0.45";
/// Where the authorized-operations test's Kafka 4.4 is served from.
const KAFKA_OPS_HOST: &str = "127.0.0.46";
/// Kafka's name for the authorizer.
const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// Long enough for an ACL change to reach the broker's authorizer.
const ACL_SETTLE: Duration = Duration::from_millis(1500);

/// Runs Kafka's AclCommand; its outcome as the test compares it: the Kafka exception it
/// met, or its output lines (sorted: Kafka prints a resource's ACLs in hash order).
fn acls(bootstrap: &str, args: &[&str]) -> String {
    let mut all = vec!["--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let (_, stdout, stderr) = tool("org.apache.kafka.tools.AclCommand", &all);
    let text = format!("{stdout}\n{stderr}");
    const PREFIX: &str = "org.apache.kafka.common.errors.";
    if let Some(e) = text.lines().find_map(|l| {
        l.find(PREFIX).map(|i| {
            let rest = &l[i + PREFIX.len()..];
            rest.split(':').next().unwrap_or(rest).trim().to_string()
        })
    }) {
        return e;
    }
    let mut lines: Vec<String> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Produces one record to `topic` with a fresh producer; "ok" or the error code.
async fn produce(bootstrap: &str, topic: &str) -> String {
    let producer: FutureProducer = kafka::config(bootstrap)
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let sent = producer
        .send(
            FutureRecord::to(topic).key("k").payload("v"),
            Duration::from_secs(15),
        )
        .await;
    match sent {
        Ok(_) => "ok".into(),
        Err((KafkaError::MessageProduction(code), _)) => format!("{code:?}"),
        Err((e, _)) => format!("{e}"),
    }
}

/// Consumes `topic` in `group` until a record or an error arrives; "record" or the error.
fn consume(bootstrap: &str, topic: &str, group: &str) -> String {
    let consumer: BaseConsumer = kafka::config(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => return "record".into(),
            Some(Err(e)) => {
                return match e.rdkafka_error_code() {
                    Some(code) => format!("{code:?}"),
                    None => e.to_string(),
                }
            }
            None => {}
        }
    }
    "nothing".into()
}

/// Runs one transaction writing a record to `topic` as `txn_id`; "ok" or the error code.
fn transaction(bootstrap: &str, txn_id: &str, topic: &str) -> String {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = kafka::config(bootstrap)
        .set("transactional.id", txn_id)
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let code = |e: KafkaError| match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => e.to_string(),
    };
    let timeout = Duration::from_secs(30);
    if let Err(e) = producer.init_transactions(timeout) {
        return code(e);
    }
    if let Err(e) = producer.begin_transaction() {
        return code(e);
    }
    if let Err((e, _)) = producer.send(BaseRecord::to(topic).key("k").payload("t")) {
        return code(e);
    }
    match producer.commit_transaction(timeout) {
        Ok(()) => "ok".into(),
        Err(e) => code(e),
    }
}

/// A broker under test that can be restarted with other authorizer settings.
trait Target {
    fn bootstrap(&self) -> String;
    /// Restarts with the authorizer on and `super.users` as given.
    fn authorizer(&mut self, super_users: &str);
}

struct Myelin {
    broker: Broker,
    config: PathBuf,
}

impl Myelin {
    fn start() -> Myelin {
        let dir = tempfile::Builder::new()
            .prefix("acls-config")
            .tempdir_in(common::test_tmp())
            .unwrap()
            .keep();
        let config = dir.join("server.properties");
        std::fs::write(&config, "group.initial.rebalance.delay.ms=0\n").unwrap();
        let broker = Broker::start(&["--config", config.to_str().unwrap()]);
        Myelin { broker, config }
    }
}

impl Target for Myelin {
    fn bootstrap(&self) -> String {
        self.broker.bootstrap()
    }

    fn authorizer(&mut self, super_users: &str) {
        let text = format!(
            "group.initial.rebalance.delay.ms=0\nauthorizer.class.name={AUTHORIZER}\n\
             super.users={super_users}\nallow.everyone.if.no.acl.found=false\n"
        );
        std::fs::write(&self.config, text).unwrap();
        self.broker.stop();
        self.broker.restart();
    }
}

impl Target for KafkaRef {
    fn bootstrap(&self) -> String {
        KafkaRef::bootstrap(self)
    }

    fn authorizer(&mut self, super_users: &str) {
        let mut props =
            format!("authorizer.class.name={AUTHORIZER} allow.everyone.if.no.acl.found=false");
        if !super_users.is_empty() {
            props.push_str(&format!(" super.users={super_users}"));
        }
        self.restart_with(&props);
    }
}

/// The scenario; each step's outcome, in order, named.
async fn scenario(target: &mut dyn Target) -> Vec<(&'static str, String)> {
    let mut steps = Vec::new();
    let b = target.bootstrap();
    kafka::create_topic(&b, "plain", 1).await;
    kafka::create_topic(&b, "pre-x", 1).await;
    steps.push(("list without an authorizer", acls(&b, &["--list"])));

    target.authorizer("User:ANONYMOUS");
    let b = target.bootstrap();
    let cluster_all = [
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "All",
        "--cluster",
    ];
    let mut add = vec!["--add"];
    add.extend(cluster_all);
    steps.push(("grant ALL on the cluster", acls(&b, &add)));

    target.authorizer("");
    let b = target.bootstrap();
    std::thread::sleep(ACL_SETTLE);
    steps.push(("list", acls(&b, &["--list"])));
    steps.push(("produce without a topic ACL", produce(&b, "plain").await));
    let write_plain = [
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "Write",
        "--topic",
        "plain",
    ];
    let mut add = vec!["--add"];
    add.extend(write_plain);
    steps.push(("allow WRITE on plain", acls(&b, &add)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("produce with ALLOW", produce(&b, "plain").await));
    let deny_plain = [
        "--deny-principal",
        "User:*",
        "--operation",
        "Write",
        "--topic",
        "plain",
    ];
    let mut add = vec!["--add"];
    add.extend(deny_plain);
    steps.push(("deny WRITE on plain", acls(&b, &add)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("produce with ALLOW and DENY", produce(&b, "plain").await));
    let mut remove = vec!["--remove", "--force"];
    remove.extend(deny_plain);
    steps.push(("remove the DENY", acls(&b, &remove)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("produce once the DENY is gone", produce(&b, "plain").await));

    steps.push(("produce to pre-x without ACL", produce(&b, "pre-x").await));
    let prefixed = [
        "--add",
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "Read",
        "--operation",
        "Write",
        "--topic",
        "pre-",
        "--resource-pattern-type",
        "prefixed",
    ];
    steps.push(("allow READ, WRITE on prefix pre-", acls(&b, &prefixed)));
    std::thread::sleep(ACL_SETTLE);
    steps.push((
        "produce to pre-x with the prefix",
        produce(&b, "pre-x").await,
    ));
    steps.push((
        "consume pre-x in a group without ACL",
        consume(&b, "pre-x", "g1"),
    ));
    let group = [
        "--add",
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "Read",
        "--group",
        "g",
        "--resource-pattern-type",
        "prefixed",
    ];
    steps.push(("allow READ on groups g*", acls(&b, &group)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("consume pre-x in group g1", consume(&b, "pre-x", "g1")));
    steps.push((
        "list the ACLs that match pre-x",
        acls(
            &b,
            &[
                "--list",
                "--topic",
                "pre-x",
                "--resource-pattern-type",
                "match",
            ],
        ),
    ));
    steps.push((
        "transaction without a transactional-id ACL",
        transaction(&b, "tx", "plain"),
    ));
    let txn = [
        "--add",
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "Write",
        "--transactional-id",
        "tx",
    ];
    steps.push(("allow WRITE on transactional id tx", acls(&b, &txn)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("transaction with the ACL", transaction(&b, "tx", "plain")));
    let mut remove = vec!["--remove", "--force"];
    remove.extend(cluster_all);
    steps.push(("remove ALL on the cluster", acls(&b, &remove)));
    std::thread::sleep(ACL_SETTLE);
    steps.push(("list without cluster DESCRIBE", acls(&b, &["--list"])));
    steps
}

/// What every step must give, on Myelin and on Kafka alike (besides the tool's listings,
/// compared between the two in the reference run).
fn check(steps: &[(&'static str, String)]) {
    let expect = |name: &str, want: &str| {
        let got = &steps.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!(got.contains(want), "{name}: {got:?} lacks {want:?}");
    };
    expect("list without an authorizer", "SecurityDisabledException");
    expect("list", "operation=ALL, permissionType=ALLOW");
    expect("produce without a topic ACL", "TopicAuthorizationFailed");
    expect("produce with ALLOW", "ok");
    expect("produce with ALLOW and DENY", "TopicAuthorizationFailed");
    expect("produce once the DENY is gone", "ok");
    expect("produce to pre-x without ACL", "TopicAuthorizationFailed");
    expect("produce to pre-x with the prefix", "ok");
    expect(
        "consume pre-x in a group without ACL",
        "GroupAuthorizationFailed",
    );
    expect("consume pre-x in group g1", "record");
    expect("list the ACLs that match pre-x", "patternType=PREFIXED");
    expect(
        "transaction without a transactional-id ACL",
        "TransactionalIdAuthorizationFailed",
    );
    expect("transaction with the ACL", "ok");
    expect(
        "list without cluster DESCRIBE",
        "ClusterAuthorizationException",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_acls_tool_and_clients_follow_the_acls() {
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are needed (kref.sh install)"
        );
        eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
        return;
    }
    let mut myelin = Myelin::start();
    let ours = scenario(&mut myelin).await;
    for (name, outcome) in &ours {
        eprintln!("myelin | {name}: {outcome}");
    }
    check(&ours);
    if std::env::var("MYELIN_KAFKA_REF").as_deref() != Ok("1") {
        return;
    }
    let mut reference = KafkaRef::start(KAFKA_HOST);
    let theirs = scenario(&mut reference).await;
    for (name, outcome) in &theirs {
        eprintln!("kafka  | {name}: {outcome}");
    }
    check(&theirs);
    for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "step {name:?} differs between Myelin and Kafka 4.4");
    }
}

/// Sends one request on a fresh connection and decodes the answer.
fn call<Resp: kafka_protocol::protocol::Decodable>(
    bootstrap: &str,
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    body: &impl kafka_protocol::protocol::Encodable,
) -> Resp {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(bootstrap).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("acls-test")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    s.write_all(&(buf.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&buf).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut frame).unwrap();
    let mut frame = Bytes::from(frame);
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    Resp::decode(&mut frame, version).unwrap()
}

/// DescribeGroups of `ops-g` (READ allowed) and `ops-h` (nothing allowed).
fn describe_groups(b: &str) -> kafka_protocol::messages::DescribeGroupsResponse {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    call(
        b,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default()
            .with_groups(vec![
                GroupId(StrBytes::from_static_str("ops-g")),
                GroupId(StrBytes::from_static_str("ops-h")),
            ])
            .with_include_authorized_operations(true),
    )
}

/// The authorized-operations answers and ACL API refusals, as (what, value) pairs.
async fn operations_scenario(target: &mut dyn Target) -> Vec<(&'static str, String)> {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let s = |v: &str| StrBytes::from_string(v.to_string());
    target.authorizer("User:ANONYMOUS");
    let b = target.bootstrap();
    kafka::create_topic(&b, "ops-t", 1).await;
    kafka::create_topic(&b, "ops-u", 1).await;
    // ALLOW READ on topic ops-t, DESCRIBE and CLUSTER_ACTION on the cluster, for
    // User:ANONYMOUS.
    let creation = |kind: i8, name: &str, op: i8| {
        AclCreation::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_resource_pattern_type(3)
            .with_principal(s("User:ANONYMOUS"))
            .with_host(s("*"))
            .with_operation(op)
            .with_permission_type(3)
    };
    let created: CreateAclsResponse = call(
        &b,
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(vec![
            creation(2, "ops-t", 3),
            creation(4, "kafka-cluster", 8),
            // A Kafka broker registers with its controller as User:ANONYMOUS too.
            creation(4, "kafka-cluster", 9),
            creation(3, "ops-g", 3),
        ]),
    );
    assert!(
        created.results.iter().all(|r| r.error_code == 0),
        "{created:?}"
    );
    // `__consumer_offsets` is created while User:ANONYMOUS is a super user: Kafka's broker
    // creates it through its controller as User:ANONYMOUS, which later lacks CREATE.
    let _: FindCoordinatorResponse = call(
        &b,
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("ops-g")]),
    );
    for _ in 0..150 {
        let loading = describe_groups(&b)
            .groups
            .iter()
            .any(|g| matches!(g.error_code, 14..=16));
        if !loading {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    target.authorizer("");
    let b = target.bootstrap();
    std::thread::sleep(ACL_SETTLE);
    let mut out = Vec::new();
    let named: MetadataResponse = call(
        &b,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_topics(Some(
                ["ops-t", "ops-u"]
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_static_str(n))))
                    })
                    .collect(),
            ))
            .with_include_topic_authorized_operations(true),
    );
    for t in &named.topics {
        out.push((
            "metadata topic (error, operations)",
            format!(
                "{:?} {} {}",
                t.name.as_ref().map(|n| n.0.to_string()),
                t.error_code,
                t.topic_authorized_operations
            ),
        ));
    }
    let all: MetadataResponse = call(
        &b,
        ApiKey::Metadata,
        10,
        &MetadataRequest::default()
            .with_topics(None)
            .with_include_cluster_authorized_operations(true),
    );
    let mut names: Vec<String> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    names.sort();
    out.push(("metadata all topics", names.join(",")));
    out.push((
        "metadata cluster operations",
        all.cluster_authorized_operations.to_string(),
    ));
    for include in [true, false] {
        let d: DescribeClusterResponse = call(
            &b,
            ApiKey::DescribeCluster,
            0,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(include),
        );
        out.push((
            "describe cluster operations",
            d.cluster_authorized_operations.to_string(),
        ));
    }
    let mut groups = describe_groups(&b);
    for _ in 0..100 {
        let loading = groups
            .groups
            .iter()
            .any(|g| matches!(g.error_code, 14..=16));
        if !loading {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        groups = describe_groups(&b);
    }
    for g in &groups.groups {
        out.push((
            "describe groups (group, error, operations)",
            format!(
                "{} {} {}",
                g.group_id.0, g.error_code, g.authorized_operations
            ),
        ));
    }
    let described: DescribeAclsResponse = call(
        &b,
        ApiKey::DescribeAcls,
        3,
        &DescribeAclsRequest::default()
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    out.push((
        "describe acls (error, resources)",
        format!("{} {}", described.error_code, described.resources.len()),
    ));
    let refused: CreateAclsResponse = call(
        &b,
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(vec![creation(2, "ops-u", 3)]),
    );
    out.push((
        "create acls without cluster ALTER",
        refused.results[0].error_code.to_string(),
    ));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn authorized_operations_are_the_principals() {
    let mut myelin = Myelin::start();
    let ours = operations_scenario(&mut myelin).await;
    for (name, v) in &ours {
        eprintln!("myelin | {name}: {v}");
    }
    // READ (3) and the DESCRIBE (8) it implies; the cluster's DESCRIBE (8) and
    // CLUSTER_ACTION (9).
    let want = [
        "Some(\"ops-t\") 0 264",
        "Some(\"ops-u\") 29 -2147483648",
        "ops-t",
        "768",
        "768",
        "-2147483648",
        "ops-h 30 -2147483648",
        "ops-g 0 264",
        "0 3",
        "31",
    ];
    let got: Vec<&str> = ours.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(got, want);
    if std::env::var("MYELIN_KAFKA_REF").as_deref() != Ok("1") || !jars_installed() {
        return;
    }
    let mut reference = KafkaRef::start(KAFKA_OPS_HOST);
    let theirs = operations_scenario(&mut reference).await;
    for (name, v) in &theirs {
        eprintln!("kafka  | {name}: {v}");
    }
    assert_eq!(ours, theirs, "Myelin and Kafka 4.4 differ");
}

/// Produces one record to `topic` as `alice` over SASL PLAIN; "ok" or the error code.
async fn produce_as_alice(sasl: &str, topic: &str) -> String {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", sasl)
        .set("broker.address.family", "v4")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret")
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let sent = producer
        .send(
            FutureRecord::to(topic).key("k").payload("v"),
            Duration::from_secs(15),
        )
        .await;
    match sent {
        Ok(_) => "ok".into(),
        Err((KafkaError::MessageProduction(code), _)) => format!("{code:?}"),
        Err((e, _)) => format!("{e}"),
    }
}

/// A SASL principal is what ACLs name: `User:alice` is refused until an ACL for her allows
/// her, while `User:ANONYMOUS` on the PLAINTEXT listener is the super user that grants it.
#[tokio::test(flavor = "multi_thread")]
async fn acls_name_the_sasl_principal() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse};
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let sasl = common::free_addr();
    let props = dir.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://{sasl}\n\
             sasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=\
             org.apache.kafka.common.security.plain.PlainLoginModule required \
             user_alice=\"alice-secret\";\n\
             authorizer.class.name={AUTHORIZER}\nsuper.users=User:ANONYMOUS\n"
        ),
    )
    .unwrap();
    let broker = Broker::start(&["--config", props.to_str().unwrap()]);
    let b = broker.bootstrap();
    let sasl = sasl.to_string();
    kafka::create_topic(&b, "alice-t", 1).await;
    assert_eq!(
        produce_as_alice(&sasl, "alice-t").await,
        "TopicAuthorizationFailed"
    );
    let grant = |principal: &str| {
        let s = |v: &str| StrBytes::from_string(v.to_string());
        let created: CreateAclsResponse = call(
            &b,
            ApiKey::CreateAcls,
            3,
            &CreateAclsRequest::default().with_creations(vec![AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("alice-t"))
                .with_resource_pattern_type(3)
                .with_principal(s(principal))
                .with_host(s("*"))
                .with_operation(4)
                .with_permission_type(3)]),
        );
        assert_eq!(created.results[0].error_code, 0, "{created:?}");
        std::thread::sleep(ACL_SETTLE);
    };
    grant("User:bob");
    assert_eq!(
        produce_as_alice(&sasl, "alice-t").await,
        "TopicAuthorizationFailed"
    );
    grant("User:alice");
    assert_eq!(produce_as_alice(&sasl, "alice-t").await, "ok");
}
