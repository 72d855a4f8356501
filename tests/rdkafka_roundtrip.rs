//! librdkafka against the real broker: 10,000 keyed messages with headers and timestamps over
//! six partitions, checked field by field on the way back; admin create/delete; ListOffsets by
//! timestamp.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MESSAGES: usize = 10_000;
const PARTITIONS: i32 = 6;
const KEYS: usize = 97;
const BASE_TS: i64 = 1_700_000_000_000;

#[derive(Debug, Clone, PartialEq)]
struct Sent {
    key: String,
    value: String,
    ts: i64,
    header: String,
    partition: i32,
    offset: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keyed_messages_round_trip() {
    let broker = Broker::start(&["--shards", "2"]);
    let bs = broker.bootstrap();
    kafka::create_topic(&bs, "payments", PARTITIONS).await;

    let producer: FutureProducer = kafka::config(&bs)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("enable.idempotence", "false")
        .set("compression.type", "none")
        .create()
        .unwrap();
    let mut pending = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let key = format!("user-{}", i % KEYS);
        let value = format!("payment {i} of {}", (i * 7919) % 100_000);
        let header = format!("h{i}");
        let ts = BASE_TS + i as i64;
        let record = FutureRecord::to("payments")
            .key(&key)
            .payload(&value)
            .timestamp(ts)
            .headers(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some(&header),
            }));
        let fut = producer.send_result(record).map_err(|(e, _)| e).unwrap();
        pending.push((
            Sent {
                key,
                value,
                ts,
                header,
                partition: -1,
                offset: -1,
            },
            fut,
        ));
    }
    let mut sent = Vec::with_capacity(MESSAGES);
    for (mut s, fut) in pending {
        let delivery = fut.await.expect("delivery future").expect("delivered");
        s.partition = delivery.partition;
        s.offset = delivery.offset;
        sent.push(s);
    }

    // Same key → same partition; offsets per partition are dense from 0.
    let mut key_partition: HashMap<&str, i32> = HashMap::new();
    for s in &sent {
        assert_eq!(
            *key_partition.entry(&s.key).or_insert(s.partition),
            s.partition,
            "key moved partitions"
        );
    }
    let mut by_offset: HashMap<(i32, i64), &Sent> = HashMap::new();
    for s in &sent {
        assert!(
            by_offset.insert((s.partition, s.offset), s).is_none(),
            "two messages at one offset"
        );
    }
    let used: std::collections::HashSet<i32> = sent.iter().map(|s| s.partition).collect();
    assert!(used.len() > 1, "keys all went to one partition");

    // Read everything back.
    let consumer = kafka::consumer_from_beginning(&bs, "payments", PARTITIONS);
    let mut got = 0;
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "only {got} of {MESSAGES} consumed"
        );
        let Some(m) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.expect("consume error");
        let s = by_offset
            .get(&(m.partition(), m.offset()))
            .expect("unknown offset");
        assert_eq!(m.key_view::<str>().unwrap().unwrap(), s.key);
        assert_eq!(m.payload_view::<str>().unwrap().unwrap(), s.value);
        assert_eq!(m.timestamp().to_millis(), Some(s.ts));
        let h = m.headers().expect("headers");
        assert_eq!(h.count(), 1);
        let h0 = h.get(0);
        assert_eq!((h0.key, h0.value), ("trace", Some(s.header.as_bytes())));
        let prev = last_offset.insert(m.partition(), m.offset());
        assert_eq!(
            prev.map_or(0, |o| o + 1),
            m.offset(),
            "gap or reorder in partition {}",
            m.partition()
        );
        got += 1;
    }

    // ListOffsets by timestamp: the first message at or after a time, per partition.
    let target = BASE_TS + 5_000;
    let mut query = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        query
            .add_partition_offset("payments", p, Offset::Offset(target))
            .unwrap();
    }
    let found = consumer
        .offsets_for_times(query, Duration::from_secs(10))
        .unwrap();
    for p in 0..PARTITIONS {
        let expected = sent
            .iter()
            .filter(|s| s.partition == p && s.ts >= target)
            .map(|s| s.offset)
            .min();
        let got = found.find_partition("payments", p).unwrap().offset();
        match expected {
            Some(o) => assert_eq!(got, Offset::Offset(o), "partition {p}"),
            None => assert_eq!(got, Offset::End, "partition {p}"),
        }
    }
    let (low, high) = consumer
        .fetch_watermarks("payments", 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!(low, 0);
    assert_eq!(
        high,
        sent.iter().filter(|s| s.partition == 0).count() as i64
    );

    // Delete through the admin API: gone from metadata, and a new topic of the same name is
    // empty.
    let admin = kafka::admin(&bs);
    for r in admin
        .delete_topics(&["payments"], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    assert!(md.topics().iter().all(|t| t.name() != "payments"));
    kafka::create_topic(&bs, "payments", 2).await;
    let (low, high) = consumer
        .fetch_watermarks("payments", 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!((low, high), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_errors_are_kafka_errors() {
    let broker = Broker::start(&[]);
    let bs = broker.bootstrap();
    let admin = kafka::admin(&bs);
    use rdkafka::admin::{NewPartitions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;
    kafka::create_topic(&bs, "t1", 2).await;
    let again = admin
        .create_topics(
            &[NewTopic::new("t1", 2, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        again[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::TopicAlreadyExists
    );
    let bad = admin
        .create_topics(
            &[NewTopic::new("bad name", 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        bad[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidTopic
    );
    let rf = admin
        .create_topics(
            &[NewTopic::new("t2", 1, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        rf[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidReplicationFactor
    );
    let cfg = admin
        .create_topics(
            &[NewTopic::new("t3", 1, TopicReplication::Fixed(1)).set("retention.ms", "soon")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        cfg[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidConfig
    );
    let grow = admin
        .create_partitions(&[NewPartitions::new("t1", 4)], &AdminOptions::new())
        .await
        .unwrap();
    grow[0].as_ref().unwrap();
    let shrink = admin
        .create_partitions(&[NewPartitions::new("t1", 3)], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        shrink[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidPartitions
    );
    let del = admin
        .delete_topics(&["nope"], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        del[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::UnknownTopicOrPartition
    );
    // DescribeConfigs reports the override and the defaults.
    use rdkafka::admin::ResourceSpecifier;
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("t1")], &AdminOptions::new())
        .await
        .unwrap();
    let res = described[0].as_ref().unwrap();
    let retention = res.get("retention.ms").expect("retention.ms listed");
    assert_eq!(retention.value.as_deref(), Some("604800000"));
    let md = rdkafka::consumer::BaseConsumer::<rdkafka::consumer::DefaultConsumerContext>::fetch_metadata(
        &kafka::config(&bs).create().unwrap(),
        Some("t1"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 4);
}
