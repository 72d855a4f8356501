//! Transactions with librdkafka against the real broker: read_committed sees only committed
//! transactions, zombies are fenced, a consume-transform-produce loop survives a crash of the
//! processor without duplicates or loss, and a transaction left open across a broker restart
//! is aborted by its timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{kafka, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn broker() -> Broker {
    Broker::start(&["--shards", "2", "--group-initial-rebalance-delay-ms", "0"])
}

fn txn_producer(
    bs: &str,
    id: &str,
    timeout_ms: u32,
) -> ThreadedProducer<rdkafka::producer::DefaultProducerContext> {
    let p: ThreadedProducer<_> = kafka::config(bs)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        .set("linger.ms", "1")
        .create()
        .unwrap();
    p.init_transactions(T).unwrap();
    p
}

fn send(
    p: &ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    topic: &str,
    values: &[String],
) {
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{}", i % 7);
        p.send(BaseRecord::to(topic).key(&key).payload(v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(T).unwrap();
}

/// Everything a consumer with `isolation` reads from the beginning of `topic`: until every
/// partition reported its end (the last stable offset under read_committed), then quiet.
fn read_all(bs: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<String> {
    let c: BaseConsumer = kafka::config(bs)
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = HashSet::new();
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let quiet = quiet_since.elapsed() >= Duration::from_millis(300);
        if at_end.len() == partitions as usize && quiet {
            break;
        }
        match c.poll(Duration::from_millis(100)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(m) => {
                let m = m.expect("consume error");
                at_end.remove(&m.partition());
                out.push(m.payload_view::<str>().unwrap().unwrap().to_string());
                quiet_since = Instant::now();
            }
            None => {}
        }
    }
    out
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_only_committed_transactions() {
    let b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "tx", 3).await;
    let p = txn_producer(&bs, "writer-1", 60_000);
    p.begin_transaction().unwrap();
    send(&p, "tx", &values("committed", 30));
    p.commit_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "tx", &values("aborted", 30));
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "tx", &values("open", 10));

    let committed: HashSet<String> = read_all(&bs, "tx", 3, "read_committed")
        .into_iter()
        .collect();
    assert_eq!(
        committed,
        values("committed", 30).into_iter().collect(),
        "read_committed sees the committed transaction only"
    );
    let uncommitted: HashSet<String> = read_all(&bs, "tx", 3, "read_uncommitted")
        .into_iter()
        .collect();
    assert_eq!(uncommitted.len(), 70, "read_uncommitted sees all three");

    p.commit_transaction(T).unwrap();
    let committed: HashSet<String> = read_all(&bs, "tx", 3, "read_committed")
        .into_iter()
        .collect();
    assert_eq!(committed.len(), 40);
    assert!(committed.iter().all(|v| !v.starts_with("aborted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_fences_the_first_and_aborts_its_transaction() {
    let b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "fenced", 2).await;
    let zombie = txn_producer(&bs, "same-id", 60_000);
    zombie.begin_transaction().unwrap();
    send(&zombie, "fenced", &values("zombie", 10));
    let fresh = txn_producer(&bs, "same-id", 60_000);
    assert!(
        zombie.commit_transaction(T).is_err(),
        "the zombie's commit must fail"
    );
    fresh.begin_transaction().unwrap();
    send(&fresh, "fenced", &values("fresh", 10));
    fresh.commit_transaction(T).unwrap();
    let seen: HashSet<String> = read_all(&bs, "fenced", 2, "read_committed")
        .into_iter()
        .collect();
    assert_eq!(seen, values("fresh", 10).into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_open_across_a_broker_restart_is_aborted_by_its_timeout() {
    let mut b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "restart-tx", 1).await;
    let p = txn_producer(&bs, "restarting", 4_000);
    p.begin_transaction().unwrap();
    send(&p, "restart-tx", &values("lost", 5));
    drop(p);
    b.stop();
    b.restart();
    // Plain writes after the restart become visible to read_committed once the open
    // transaction times out and is aborted.
    let plain: ThreadedProducer<_> = kafka::config(&bs).create().unwrap();
    plain
        .send(BaseRecord::<str, str>::to("restart-tx").payload("after"))
        .map_err(|(e, _)| e)
        .unwrap();
    plain.flush(T).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = read_all(&bs, "restart-tx", 1, "read_committed");
        if !seen.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen,
        vec!["after".to_string()],
        "the open transaction was not aborted"
    );
}

/// Records in the consume-transform-produce test's input.
const INPUT_RECORDS: i64 = 100;

/// One consume-transform-produce processor: reads `input` in group `group` (read_committed),
/// writes `out-<value>` to `output` and commits its input offsets in the same transaction.
/// With `crash_after`, it stops dead in the middle of a transaction after that many records.
fn processor(bs: &str, crash_after: Option<usize>, want: usize) -> usize {
    let consumer: BaseConsumer = kafka::config(bs)
        .set("group.id", "transformers")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&["input"]).unwrap();
    let producer = txn_producer(bs, "transformer", 60_000);
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle_since = Instant::now();
    while done < want
        && Instant::now() < deadline
        && !(done > 0 && idle_since.elapsed() > Duration::from_secs(10))
    {
        let mut batch = Vec::new();
        while batch.len() < 10 {
            match consumer.poll(Duration::from_millis(200)) {
                Some(m) => batch.push(
                    m.expect("consume error")
                        .payload_view::<str>()
                        .unwrap()
                        .unwrap()
                        .to_string(),
                ),
                None => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        idle_since = Instant::now();
        producer.begin_transaction().unwrap();
        for v in &batch {
            let out = format!("out-{v}");
            producer
                .send(BaseRecord::<str, str>::to("output").payload(&out))
                .map_err(|(e, _)| e)
                .unwrap();
            done += 1;
            if crash_after.is_some_and(|n| done >= n) {
                // Crash: outputs sent, offsets not committed, transaction left open.
                producer.flush(T).unwrap();
                return done;
            }
        }
        let offsets = consumer.position().unwrap();
        producer
            .send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), T)
            .unwrap();
        producer.commit_transaction(T).unwrap();
        // Done once the committed positions cover the whole input.
        let consumed: i64 = offsets
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .sum();
        if consumed >= INPUT_RECORDS {
            break;
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_survives_a_crash_exactly_once() {
    let b = broker();
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "input", 2).await;
    kafka::create_topic(&bs, "output", 2).await;
    let plain: ThreadedProducer<_> = kafka::config(&bs).create().unwrap();
    for i in 0..INPUT_RECORDS {
        let v = format!("{i:03}");
        plain
            .send(BaseRecord::<str, str>::to("input").key(&v).payload(&v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    plain.flush(T).unwrap();

    let bs2 = bs.clone();
    let crashed = std::thread::spawn(move || processor(&bs2, Some(45), 100))
        .join()
        .unwrap();
    assert_eq!(crashed, 45);
    let bs3 = bs.clone();
    let resumed = std::thread::spawn(move || processor(&bs3, None, 100))
        .join()
        .unwrap();
    assert!(
        resumed >= 55,
        "the second processor resumed from committed offsets: {resumed}"
    );

    let out = read_all(&bs, "output", 2, "read_committed");
    let distinct: HashSet<&String> = out.iter().collect();
    assert_eq!(distinct.len(), 100, "outputs missing");
    assert_eq!(out.len(), 100, "an output was committed twice");
}
