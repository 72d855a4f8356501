//! Fetch semantics on the wire: a long poll wakes as soon as data arrives, a fetch that
//! starts inside a batch returns the whole batch, `max_bytes` bounds a response but never
//! starves it, and an offset past the end is OFFSET_OUT_OF_RANGE.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::time::{Duration, Instant};

const VERSION: i16 = 12;

fn fetch(
    b: &Broker,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> FetchResponse {
    let req = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("fs")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])]);
    common::wire::call(b.addr, "fetch-semantics", ApiKey::Fetch, VERSION, &req)
}

/// Base offsets of the whole batches in a fetch answer.
fn batch_bases(resp: &FetchResponse) -> Vec<i64> {
    let mut records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    let mut bases = Vec::new();
    while records.len() >= 61 {
        let h = myelin_storage_header(&records);
        bases.push(h.0);
        if records.len() < h.1 {
            break;
        }
        let _ = records.split_to(h.1);
    }
    bases
}

/// (base offset, total size) of the batch at the start of `b`.
fn myelin_storage_header(b: &[u8]) -> (i64, usize) {
    let base = i64::from_be_bytes(b[0..8].try_into().unwrap());
    let len = i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize + 12;
    (base, len)
}

fn produce_batch(bs: &str, n: usize) {
    let p: ThreadedProducer<_> = kafka::config(bs)
        .set("linger.ms", "50")
        .set("enable.idempotence", "false")
        .create()
        .unwrap();
    for i in 0..n {
        let v = format!("value-{i:04}-{}", "z".repeat(100));
        p.send(BaseRecord::<str, str>::to("fs").partition(0).payload(&v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_waits_wakes_and_returns_whole_batches() {
    let b = Broker::start(&["--shards", "2"]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "fs", 1).await;

    // An empty partition: the fetch waits for max_wait.
    let t0 = Instant::now();
    let r = fetch(&b, 0, 300, 1, 1 << 20);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "returned early: {:?}",
        t0.elapsed()
    );
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(batch_bases(&r).is_empty());

    // A long poll wakes as soon as data arrives, well before its 10 s wait.
    let bs2 = bs.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        produce_batch(&bs2, 10);
    });
    let t0 = Instant::now();
    let r = fetch(&b, 0, 10_000, 1, 1 << 20);
    let waited = t0.elapsed();
    writer.join().unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "long poll did not wake: {waited:?}"
    );
    assert_eq!(batch_bases(&r), vec![0]);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 10);

    // Starting inside the batch returns the whole containing batch.
    let r = fetch(&b, 7, 0, 1, 1 << 20);
    assert_eq!(batch_bases(&r), vec![0]);

    // max_bytes smaller than one batch still returns that batch (never starves)...
    produce_batch(&bs, 10);
    let r = fetch(&b, 0, 0, 1, 10);
    assert_eq!(batch_bases(&r), vec![0]);
    // ...and a larger one returns both.
    let r = fetch(&b, 0, 0, 1, 1 << 20);
    assert_eq!(batch_bases(&r), vec![0, 10]);

    // Past the end: OFFSET_OUT_OF_RANGE with the high watermark.
    let r = fetch(&b, 21, 0, 1, 1 << 20);
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 20);
    // At the end: empty, no error.
    let r = fetch(&b, 20, 0, 1, 1 << 20);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(batch_bases(&r).is_empty());
}

/// As Kafka answers them: a Fetch that names no partitions, and one that asks for at least
/// 0 bytes, are answered at once whatever their max wait (the Java consumer's close sends
/// the first kind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_fetches_and_min_bytes_zero_are_answered_at_once() {
    let b = Broker::start(&[]);
    kafka::create_topic(&b.bootstrap(), "fs", 1).await;
    let started = Instant::now();
    let r = fetch(&b, 0, 5_000, 0, 1 << 20);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "min_bytes 0 waited {:?}",
        started.elapsed()
    );
    assert!(batch_bases(&r).is_empty());
    let nothing = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(5_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20);
    let started = Instant::now();
    let r: FetchResponse =
        common::wire::call(b.addr, "fetch-semantics", ApiKey::Fetch, VERSION, &nothing);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a fetch of no partitions waited {:?}",
        started.elapsed()
    );
    assert_eq!(r.error_code, 0);
    assert!(r.responses.is_empty());
}
