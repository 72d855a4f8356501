//! Durability across restarts: a clean stop keeps everything; kill -9 during an `acks=all`
//! run keeps every acknowledged message, in order, and serves nothing torn.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads a whole topic from the beginning until `expect` messages or the timeout.
fn read_all(
    bs: &str,
    topic: &str,
    partitions: i32,
    expect: usize,
) -> Vec<(i32, i64, String, String)> {
    let consumer = kafka::consumer_from_beginning(bs, topic, partitions);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut idle_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(m) => {
                let m = m.expect("consume error: a torn or corrupt batch was served");
                out.push((
                    m.partition(),
                    m.offset(),
                    m.key_view::<str>().unwrap().unwrap().to_string(),
                    m.payload_view::<str>().unwrap().unwrap().to_string(),
                ));
                idle_since = Instant::now();
            }
            None if out.len() >= expect && idle_since.elapsed() > Duration::from_secs(1) => break,
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_restart_keeps_everything() {
    let mut broker = Broker::start(&["--shards", "2", "--segment-bytes", "65536"]);
    let bs = broker.bootstrap();
    kafka::create_topic(&bs, "keep", 4).await;
    let producer: ThreadedProducer<_> = kafka::config(&bs)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("batch.size", "16384")
        .create()
        .unwrap();
    for i in 0..3000 {
        let key = format!("k{}", i % 13);
        let value = format!("v{i:06}{}", ".".repeat(200));
        producer
            .send(BaseRecord::to("keep").key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    drop(producer);
    broker.stop();
    broker.restart();
    let got = read_all(&bs, "keep", 4, 3000);
    assert_eq!(got.len(), 3000, "messages lost across a clean restart");
    let mut per_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (_, _, k, v) in &got {
        per_key.entry(k).or_default().push(v[1..7].parse().unwrap());
    }
    for (k, vs) in per_key {
        assert!(vs.windows(2).all(|w| w[0] < w[1]), "key {k} out of order");
    }
    // Segments rolled (64 KiB) and the sealed ones carry an index.
    let dir = broker.data.path().join("data/topics");
    let indexes = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .count();
    assert!(indexes > 0, "no sealed segment index written");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Records what the broker acknowledged.
#[derive(Clone, Default)]
struct Acks(Arc<Mutex<Vec<(i32, i64, String)>>>);
impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            let v = m.payload_view::<str>().unwrap().unwrap().to_string();
            self.0.lock().unwrap().push((m.partition(), m.offset(), v));
        }
    }
}

#[test]
fn kill_nine_during_acks_all_loses_nothing_acknowledged() {
    let mut broker = Broker::start(&["--shards", "2", "--segment-bytes", "262144"]);
    let bs = broker.bootstrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(kafka::create_topic(&bs, "crash", 3));
    let acks = Acks::default();
    let producer: ThreadedProducer<Acks> = kafka::config(&bs)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "5000")
        .set("retries", "0")
        .create_with_context(acks.clone())
        .unwrap();
    let started = Instant::now();
    let mut sent = 0u64;
    // Keep writing until well after the kill.
    while started.elapsed() < Duration::from_millis(2500) {
        let value = format!("m{sent:08}-{}", "x".repeat((sent % 300) as usize));
        let key = format!("k{}", sent % 11);
        if producer
            .send(BaseRecord::to("crash").key(&key).payload(&value))
            .is_ok()
        {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        if broker.alive() && started.elapsed() > Duration::from_millis(1200) {
            broker.kill9();
        }
        if sent % 64 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let _ = producer.flush(Duration::from_secs(6));
    drop(producer);
    let acked = acks.0.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few acknowledged before the kill: {}",
        acked.len()
    );
    broker.restart();
    let got = read_all(&bs, "crash", 3, acked.len());
    let stored: HashMap<(i32, i64), &str> = got
        .iter()
        .map(|(p, o, _, v)| ((*p, *o), v.as_str()))
        .collect();
    for (p, o, v) in &acked {
        assert_eq!(
            stored.get(&(*p, *o)).copied(),
            Some(v.as_str()),
            "acknowledged message lost at {p}/{o}"
        );
    }
    // Offsets stay dense per partition after recovery.
    for p in 0..3 {
        let mut offs: Vec<i64> = got.iter().filter(|m| m.0 == p).map(|m| m.1).collect();
        offs.sort_unstable();
        assert!(
            offs.iter().enumerate().all(|(i, o)| *o == i as i64),
            "gap in partition {p}"
        );
    }
    // The broker takes new writes after recovery.
    let producer: ThreadedProducer<_> = kafka::config(&bs)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .create()
        .unwrap();
    producer
        .send(BaseRecord::to("crash").key("after").payload("recovered"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}
