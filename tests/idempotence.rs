//! Idempotent producers: librdkafka with `enable.idempotence=true` through a proxy that cuts
//! connections mid-flight, so requests are retried; every message still lands exactly once,
//! in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker, ChaosProxy};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MESSAGES: usize = 10_000;
const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_idempotent_batches_land_exactly_once_in_order() {
    // Clients learn the proxy's address from Metadata, so all their traffic crosses it.
    let proxy_addr = common::free_addr();
    let broker = Broker::start(&[
        "--shards",
        "2",
        "--advertised-port",
        &proxy_addr.port().to_string(),
    ]);
    let proxy = ChaosProxy::start(broker.addr, proxy_addr);
    let bs = proxy_addr.to_string();
    kafka::create_topic(&bs, "exactly-once", PARTITIONS).await;

    let producer: FutureProducer = kafka::config(&bs)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.num.messages", "50")
        .set("message.timeout.ms", "60000")
        .set("request.timeout.ms", "2000")
        .set("retry.backoff.ms", "20")
        .create()
        .unwrap();
    proxy.set_chaos(true);
    let mut futures = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let key = format!("k{}", i % 17);
        let value = format!("{i:06}");
        let record = FutureRecord::to("exactly-once").key(&key).payload(&value);
        futures.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for f in futures {
        f.await.unwrap().expect("idempotent delivery failed");
    }
    proxy.set_chaos(false);
    assert!(
        proxy.cuts() > 0,
        "the proxy never cut a connection: the test proved nothing"
    );

    let consumer = kafka::consumer_from_beginning(&bs, "exactly-once", PARTITIONS);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_per_key: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut total = 0;
    while total < MESSAGES && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("consume error");
        let key = m.key_view::<str>().unwrap().unwrap().to_string();
        let value = m.payload_view::<str>().unwrap().unwrap().to_string();
        let n: usize = value.parse().unwrap();
        if let Some(prev) = last_per_key.insert(key.clone(), n) {
            assert!(
                n > prev,
                "key {key}: {n} after {prev}: reordered or duplicated"
            );
        }
        *seen.entry(value).or_default() += 1;
        total += 1;
    }
    // Nothing more arrives: no duplicates beyond the 10,000.
    let extra = consumer.poll(Duration::from_secs(2));
    assert!(
        extra.is_none(),
        "a message beyond the expected ones: duplicate write"
    );
    assert_eq!(seen.len(), MESSAGES, "messages missing");
    assert!(seen.values().all(|&c| c == 1), "a message landed twice");
    eprintln!("connections cut during the run: {}", proxy.cuts());
}
