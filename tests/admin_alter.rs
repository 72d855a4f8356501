//! The config, DeleteRecords and DescribeLogDirs admin APIs against the real binary:
//! librdkafka's AdminClient (AlterConfigs, DeleteRecords), and raw requests for what
//! librdkafka does not send (IncrementalAlterConfigs, DescribeLogDirs) and for bad input,
//! each answered with Kafka's error code and never a dead broker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const POLICY_VIOLATION: i16 = 44;

/// Sends one request on a fresh connection and decodes the answer.
fn call<Req: Encodable, Resp: Decodable>(b: &Broker, key: ApiKey, version: i16, req: &Req) -> Resp {
    common::wire::call(b.addr, "admin-alter-test", key, version, req)
}

fn op(name: &str, op: i8, value: Option<&str>) -> AlterableConfig {
    AlterableConfig::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_config_operation(op)
        .with_value(value.map(|v| StrBytes::from_string(v.into())))
}

fn incremental(
    b: &Broker,
    version: i16,
    resources: Vec<(i8, &str, Vec<AlterableConfig>)>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(
            resources
                .into_iter()
                .map(|(kind, name, configs)| {
                    AlterConfigsResource::default()
                        .with_resource_type(kind)
                        .with_resource_name(StrBytes::from_string(name.into()))
                        .with_configs(configs)
                })
                .collect(),
        );
    let resp: IncrementalAlterConfigsResponse =
        call(b, ApiKey::IncrementalAlterConfigs, version, &req);
    resp.responses
        .into_iter()
        .map(|r| (r.error_code, r.error_message.map(|m| m.to_string())))
        .collect()
}

/// The topic's configs as DescribeConfigs v4 reports them: name → (value, source).
fn described(b: &Broker, topic: &str) -> Vec<(String, Option<String>, i8)> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))]);
    let resp: DescribeConfigsResponse = call(b, ApiKey::DescribeConfigs, 4, &req);
    assert_eq!(resp.results[0].error_code, 0);
    resp.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()),
                c.config_source,
            )
        })
        .collect()
}

fn source_of(b: &Broker, topic: &str, name: &str) -> (Option<String>, i8) {
    let all = described(b, topic);
    let (_, v, s) = all.into_iter().find(|(n, _, _)| n == name).unwrap();
    (v, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_alter_configs_as_kafka_does() {
    let mut b = Broker::start(&[]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "cfg", 1).await;
    const DYNAMIC_TOPIC: i8 = 1;
    const DEFAULT: i8 = 5;
    // SET two, then DESCRIBE: both dynamic topic configs.
    for version in [0, 1] {
        let r = incremental(
            &b,
            version,
            vec![(
                2,
                "cfg",
                vec![
                    op("retention.ms", 0, Some("1000")),
                    op("cleanup.policy", 0, Some("compact")),
                ],
            )],
            false,
        );
        assert_eq!(r, vec![(0, None)], "v{version}");
    }
    assert_eq!(
        source_of(&b, "cfg", "retention.ms"),
        (Some("1000".into()), DYNAMIC_TOPIC)
    );
    assert_eq!(
        source_of(&b, "cfg", "cleanup.policy"),
        (Some("compact".into()), DYNAMIC_TOPIC)
    );
    // APPEND and SUBTRACT on the list config.
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("cleanup.policy", 2, Some("delete"))])],
        false,
    );
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(
        source_of(&b, "cfg", "cleanup.policy").0.as_deref(),
        Some("compact,delete")
    );
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("cleanup.policy", 3, Some("compact"))])],
        false,
    );
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(
        source_of(&b, "cfg", "cleanup.policy").0.as_deref(),
        Some("delete")
    );
    // APPEND to a config that is not a list.
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("retention.ms", 2, Some("5"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_CONFIG);
    assert_eq!(
        r[0].1.as_deref(),
        Some("Can't APPEND to key retention.ms because its type is not LIST.")
    );
    // validate_only changes nothing.
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("retention.ms", 0, Some("77"))])],
        true,
    );
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(
        source_of(&b, "cfg", "retention.ms").0.as_deref(),
        Some("1000")
    );
    // DELETE goes back to the default.
    let r = incremental(
        &b,
        1,
        vec![(
            2,
            "cfg",
            vec![op("retention.ms", 1, None), op("cleanup.policy", 1, None)],
        )],
        false,
    );
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(source_of(&b, "cfg", "retention.ms").1, DEFAULT);
    assert!(described(&b, "cfg").iter().all(|(_, _, s)| *s == DEFAULT));
    // Bad values and names: INVALID_CONFIG in Kafka's words; nothing changes.
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("retention.ms", 0, Some("abc"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_CONFIG);
    assert_eq!(
        r[0].1.as_deref(),
        Some("Invalid value abc for configuration retention.ms: Not a number of type LONG")
    );
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("no.such.config", 0, Some("1"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_CONFIG);
    assert_eq!(
        r[0].1.as_deref(),
        Some("Unknown topic config name: no.such.config")
    );
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("cleanup.policy", 0, Some("archive"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_CONFIG);
    // Unknown topic, duplicate resources and keys, null values, unknown operations and
    // resource types.
    let r = incremental(
        &b,
        1,
        vec![(2, "nope", vec![op("retention.ms", 0, Some("1"))])],
        false,
    );
    assert_eq!(r[0].0, UNKNOWN_TOPIC_OR_PARTITION);
    let twice = || vec![op("retention.ms", 0, Some("1"))];
    let r = incremental(&b, 1, vec![(2, "cfg", twice()), (2, "cfg", twice())], false);
    assert_eq!(
        r.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![INVALID_REQUEST; 2]
    );
    let r = incremental(
        &b,
        1,
        vec![(
            2,
            "cfg",
            vec![
                op("retention.ms", 0, Some("1")),
                op("retention.ms", 1, None),
            ],
        )],
        false,
    );
    assert_eq!(
        r[0],
        (
            INVALID_REQUEST,
            Some("Error due to duplicate config keys".into())
        )
    );
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("retention.ms", 0, None)])],
        false,
    );
    assert_eq!(r[0].0, INVALID_REQUEST);
    let r = incremental(
        &b,
        1,
        vec![(2, "cfg", vec![op("retention.ms", 9, Some("1"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_REQUEST);
    let r = incremental(&b, 1, vec![(99, "x", vec![op("a", 0, Some("1"))])], false);
    assert_eq!(r[0].0, INVALID_REQUEST);
    // A broker config cannot be altered dynamically yet: refused, never accepted.
    for name in ["", "0"] {
        let r = incremental(
            &b,
            1,
            vec![(4, name, vec![op("log.retention.ms", 0, Some("5"))])],
            false,
        );
        assert_eq!(r[0].0, INVALID_REQUEST, "broker {name:?}");
        assert_eq!(
            r[0].1.as_deref(),
            Some("Cannot update these configs dynamically: [log.retention.ms]")
        );
    }
    let r = incremental(
        &b,
        1,
        vec![(4, "7", vec![op("log.retention.ms", 0, Some("5"))])],
        false,
    );
    assert_eq!(r[0].0, INVALID_REQUEST);
    // A huge list: every entry refused at once, and the broker serves on.
    let huge: Vec<AlterableConfig> = (0..20_000)
        .map(|i| op(&format!("x.{i}"), 0, Some("1")))
        .collect();
    let r = incremental(&b, 1, vec![(2, "cfg", huge)], false);
    assert_eq!(r[0].0, INVALID_CONFIG);
    assert!(described(&b, "cfg").iter().all(|(_, _, s)| *s == DEFAULT));
    assert!(b.alive(), "broker died: {}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_alter_configs_replaces_the_overrides() {
    let b = Broker::start(&[]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "legacy", 1).await;
    let admin = kafka::admin(&bs);
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let set = AlterConfig::new(ResourceSpecifier::Topic("legacy"))
        .set("retention.ms", "1234")
        .set("segment.ms", "60000");
    let r = admin.alter_configs(&[set], &opts).await.unwrap();
    r[0].as_ref().unwrap();
    assert_eq!(
        source_of(&b, "legacy", "retention.ms"),
        (Some("1234".into()), 1)
    );
    assert_eq!(
        source_of(&b, "legacy", "segment.ms"),
        (Some("60000".into()), 1)
    );
    // The whole set is replaced: segment.ms, left out, goes back to its default.
    let set = AlterConfig::new(ResourceSpecifier::Topic("legacy")).set("retention.ms", "99");
    admin.alter_configs(&[set], &opts).await.unwrap()[0]
        .as_ref()
        .unwrap();
    assert_eq!(
        source_of(&b, "legacy", "retention.ms"),
        (Some("99".into()), 1)
    );
    assert_eq!(source_of(&b, "legacy", "segment.ms").1, 5);
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("legacy")], &opts)
        .await
        .unwrap();
    let entry = described[0].as_ref().unwrap().get("retention.ms").unwrap();
    assert_eq!(entry.value.as_deref(), Some("99"));
    assert_eq!(entry.source, rdkafka::admin::ConfigSource::DynamicTopic);
    // The raw request too, at every version.
    for version in 0..=2 {
        use kafka_protocol::messages::alter_configs_request::{
            AlterConfigsResource as Resource, AlterableConfig as Entry,
        };
        use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
        let req = AlterConfigsRequest::default().with_resources(vec![Resource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("legacy"))
            .with_configs(vec![Entry::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("x")))])]);
        let resp: AlterConfigsResponse = call(&b, ApiKey::AlterConfigs, version, &req);
        assert_eq!(resp.responses[0].error_code, INVALID_CONFIG, "v{version}");
    }
    // rdkafka 0.39 answers every AlterConfigs resource as done (it drops their error
    // codes), so the refusals are checked on the raw answers above and here.
    let bad = AlterConfig::new(ResourceSpecifier::Topic("legacy")).set("retention.ms", "x");
    admin.alter_configs(&[bad], &opts).await.unwrap();
    assert_eq!(
        source_of(&b, "legacy", "retention.ms"),
        (Some("99".into()), 1),
        "a bad value changes nothing"
    );
    use kafka_protocol::messages::alter_configs_request::{
        AlterConfigsResource as Resource, AlterableConfig as Entry,
    };
    use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
    for (kind, name, code) in [
        (2, "none", UNKNOWN_TOPIC_OR_PARTITION),
        (4, "0", INVALID_REQUEST),
        (4, "", INVALID_REQUEST),
    ] {
        let req = AlterConfigsRequest::default().with_resources(vec![Resource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.into()))
            .with_configs(vec![Entry::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("1")))])]);
        let resp: AlterConfigsResponse = call(&b, ApiKey::AlterConfigs, 1, &req);
        assert_eq!(resp.responses[0].error_code, code, "{kind} {name:?}");
    }
}

async fn produce(bs: &str, topic: &str, n: usize) {
    let producer: FutureProducer = kafka::config(bs).create().unwrap();
    for i in 0..n {
        let payload = format!("v{i}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

fn delete_raw(b: &Broker, topic: &str, offset: i64) -> (i16, i64) {
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let resp: DeleteRecordsResponse = call(b, ApiKey::DeleteRecords, 2, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start() {
    let mut b = Broker::start(&[]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "del", 1).await;
    produce(&bs, "del", 100).await;
    let admin = kafka::admin(&bs);
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("del", 0, Offset::Offset(40))
        .unwrap();
    let done = admin.delete_records(&tpl, &opts).await.unwrap();
    let e = done.find_partition("del", 0).unwrap();
    assert_eq!(e.error(), Ok(()));
    assert_eq!(e.offset(), Offset::Offset(40), "the low watermark");
    // ListOffsets earliest and a consumer from the beginning both start at 40.
    let c: BaseConsumer = kafka::config(&bs).set("group.id", "g").create().unwrap();
    let (low, high) = c
        .fetch_watermarks("del", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (40, 100));
    let c = kafka::consumer_from_beginning(&bs, "del", 1);
    let first = c.poll(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(first.offset(), 40);
    // A consumer below the start: OFFSET_OUT_OF_RANGE, then auto.offset.reset=earliest.
    let c: BaseConsumer = kafka::config(&bs)
        .set("group.id", "g2")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut at = TopicPartitionList::new();
    at.add_partition_offset("del", 0, Offset::Offset(5))
        .unwrap();
    c.assign(&at).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let m = loop {
        assert!(Instant::now() < deadline, "no record after the reset");
        if let Some(Ok(m)) = c.poll(Duration::from_millis(500)) {
            break m;
        }
    };
    assert_eq!(m.offset(), 40);
    // Past the high watermark, negative offsets other than -1: OFFSET_OUT_OF_RANGE.
    assert_eq!(delete_raw(&b, "del", 101).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(delete_raw(&b, "del", -5).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(delete_raw(&b, "del", i64::MIN).0, OFFSET_OUT_OF_RANGE);
    // Below the current start: nothing moves, the start is answered.
    assert_eq!(delete_raw(&b, "del", 10), (0, 40));
    // -1: up to the high watermark.
    assert_eq!(delete_raw(&b, "del", -1), (0, 100));
    assert_eq!(delete_raw(&b, "nope", 1).0, UNKNOWN_TOPIC_OR_PARTITION);
    // A compacted-only topic refuses (its policy forbids deleting records).
    let r = incremental(
        &b,
        1,
        vec![(2, "del", vec![op("cleanup.policy", 0, Some("compact"))])],
        false,
    );
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(delete_raw(&b, "del", 100).0, POLICY_VIOLATION);
    // The start survives a restart.
    b.stop();
    b.restart();
    let c: BaseConsumer = kafka::config(&b.bootstrap())
        .set("group.id", "g")
        .create()
        .unwrap();
    let (low, _) = c
        .fetch_watermarks("del", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!(low, 100);
    assert!(b.alive(), "broker died: {}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_log_dirs_lists_every_replica() {
    let b = Broker::start(&[]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "dirs", 3).await;
    produce(&bs, "dirs", 20).await;
    for version in 1..=4 {
        let all = DescribeLogDirsRequest::default().with_topics(None);
        let resp: DescribeLogDirsResponse = call(&b, ApiKey::DescribeLogDirs, version, &all);
        assert_eq!(resp.results.len(), 1);
        let dir = &resp.results[0];
        assert_eq!(dir.error_code, 0);
        assert!(dir.log_dir.starts_with('/'), "{}", dir.log_dir.as_str());
        let t = dir
            .topics
            .iter()
            .find(|t| t.name.as_str() == "dirs")
            .unwrap_or_else(|| panic!("v{version}: no topic dirs in {dir:?}"));
        assert_eq!(t.partitions.len(), 3);
        let p0 = t
            .partitions
            .iter()
            .find(|p| p.partition_index == 0)
            .unwrap();
        assert!(p0.partition_size > 0);
        assert!(t
            .partitions
            .iter()
            .all(|p| p.offset_lag == 0 && !p.is_future_key));
        if version >= 4 {
            assert!(dir.total_bytes > 0 && dir.usable_bytes > 0);
            assert!(dir.usable_bytes <= dir.total_bytes);
        }
    }
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    let only = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("dirs")))
            .with_partitions(vec![1, 99]),
        DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("absent")))
            .with_partitions(vec![0]),
    ]));
    let resp: DescribeLogDirsResponse = call(&b, ApiKey::DescribeLogDirs, 4, &only);
    let topics = &resp.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_index, 1);
}
