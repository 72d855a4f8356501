//! Log compaction through librdkafka: keys overwritten many times and some deleted with
//! tombstones, written lz4-compressed; a consumer reading from the beginning then sees the
//! last value of every live key, once, and nothing of deleted keys — also after a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use rdkafka::admin::{AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const KEYS: usize = 50;
const ROUNDS: usize = 40;
const DELETED: usize = 5;

/// A record as read back: offset, key, value.
type Rec = (i64, String, Option<String>);

/// Every record of `topic` from the beginning.
fn read_all(bootstrap: &str, topic: &str) -> Vec<Rec> {
    let consumer = kafka::consumer_from_beginning(bootstrap, topic, 1);
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                let value = m.payload().map(|v| String::from_utf8(v.to_vec()).unwrap());
                out.push((m.offset(), key, value));
                if m.offset() + 1 >= high {
                    break;
                }
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

/// The last value per key in `records`, without keys whose last record is a tombstone.
fn last_values(records: &[Rec]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (_, k, v) in records {
        match v {
            Some(v) => m.insert(k.clone(), v.clone()),
            None => m.remove(k),
        };
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_keeps_the_last_value_per_key() {
    let mut broker = Broker::start(&["--housekeeping-interval-ms", "200"]);
    let bs = broker.bootstrap();
    let admin = kafka::admin(&bs);
    let topic = NewTopic::new("accounts", 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "16384")
        .set("min.cleanable.dirty.ratio", "0.01")
        .set("delete.retention.ms", "0");
    for r in admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let described = admin
        .describe_configs(
            &[ResourceSpecifier::Topic("accounts")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let policy = resource.get("cleanup.policy").and_then(|e| e.value.clone());
    assert_eq!(policy.as_deref(), Some("compact"));

    let producer: FutureProducer = kafka::config(&bs)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("compression.type", "lz4")
        // Many batches, so the log rolls into segments that compaction may clean.
        .set("batch.num.messages", "50")
        .create()
        .unwrap();
    // A record without a key could never be compacted away: the broker refuses it.
    let keyless = producer
        .send(
            FutureRecord::<str, str>::to("accounts").payload("no key"),
            Duration::from_secs(10),
        )
        .await;
    match keyless {
        Err((e, _)) => assert!(e.to_string().contains("InvalidRecord"), "{e}"),
        Ok(d) => panic!("a keyless record was accepted at offset {}", d.offset),
    }
    let mut sends = Vec::new();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            let key = format!("account-{k}");
            let value = format!("balance {} after round {round}", k * 1000 + round);
            sends.push((
                key.clone(),
                Some(value.clone()),
                producer
                    .send_result(FutureRecord::to("accounts").key(&key).payload(&value))
                    .map_err(|(e, _)| e)
                    .unwrap(),
            ));
        }
    }
    for k in 0..DELETED {
        let key = format!("account-{k}");
        sends.push((
            key.clone(),
            None,
            producer
                .send_result(FutureRecord::<str, str>::to("accounts").key(&key))
                .map_err(|(e, _)| e)
                .unwrap(),
        ));
    }
    // More writes to one key, so the segments holding the rest are sealed and cleanable.
    // Incompressible filler, so lz4 cannot squeeze it into the active segment.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..100 {
        let value: String = (0..500)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (b'a' + (seed % 26) as u8) as char
            })
            .collect();
        sends.push((
            "filler".to_string(),
            Some(value.clone()),
            producer
                .send_result(FutureRecord::to("accounts").key("filler").payload(&value))
                .map_err(|(e, _)| e)
                .unwrap(),
        ));
    }
    // What was written, from the acknowledgements: compaction may already be at work.
    let mut written = Vec::new();
    for (key, value, ack) in sends {
        let offset = ack.await.unwrap().unwrap().offset;
        written.push((offset, key, value));
    }
    written.sort();
    let expected = last_values(&written);
    assert_eq!(expected.len(), KEYS - DELETED + 1);

    // Housekeeping runs every 200 ms: wait until a key written 40 times is down to once.
    let deadline = Instant::now() + Duration::from_secs(30);
    let compacted = loop {
        let now = read_all(&bs, "accounts");
        if now.iter().filter(|r| r.1 == "account-20").count() == 1 {
            break now;
        }
        if Instant::now() > deadline {
            let dir = broker.data.path().join("data/topics/accounts-0");
            let files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name(), e.metadata().unwrap().len())
                })
                .collect();
            panic!("no compaction within 30 s: {files:?}\n{}", broker.log());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let check = |records: &[Rec]| {
        assert!(
            records.len() < written.len() / 5,
            "{} of {} left",
            records.len(),
            written.len()
        );
        assert!(
            records.windows(2).all(|w| w[0].0 < w[1].0),
            "offsets stay in order"
        );
        for r in records {
            assert!(written.contains(r), "record {r:?} was never written");
        }
        assert_eq!(last_values(records), expected);
        for k in 0..DELETED {
            let key = format!("account-{k}");
            assert!(
                !records.iter().any(|r| r.1 == key),
                "deleted key {key} is gone, tombstone included"
            );
        }
    };
    check(&compacted);

    broker.stop();
    broker.restart();
    let after_restart = read_all(&broker.bootstrap(), "accounts");
    assert_eq!(after_restart, compacted, "compaction survives a restart");
    check(&after_restart);
}
