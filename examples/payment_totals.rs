//! The brief's aggregation example: payments keyed by user flow into `payments`; this
//! processor keeps a running total per user and writes it to `payment_totals`, exactly once.
//!
//! Each batch of payments is handled in one Kafka transaction: the new totals are produced
//! and the input offsets committed together, so after a crash (of the processor or the broker)
//! every payment is counted exactly once. On start the processor rebuilds its totals from
//! `payment_totals` (the last total per user, read_committed).
//!
//! ```sh
//! cargo run --example payment_totals -- produce 127.0.0.1:9092 1000   # 1000 payments
//! cargo run --example payment_totals -- aggregate 127.0.0.1:9092      # until idle for 5 s
//! cargo run --example payment_totals -- totals 127.0.0.1:9092         # print the totals
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const INPUT: &str = "payments";
const OUTPUT: &str = "payment_totals";
const GROUP: &str = "payment-totals";
const TXN_ID: &str = "payment-totals-processor";
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const T: Duration = Duration::from_secs(30);

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    c
}

/// A payment's value on the wire: `{"user":"alice","amount_cents":20000}`.
fn payment_json(user: &str, cents: i64) -> String {
    format!("{{\"user\":\"{user}\",\"amount_cents\":{cents}}}")
}

fn parse_cents(json: &str) -> Option<i64> {
    let at = json.find("\"amount_cents\":")? + "\"amount_cents\":".len();
    json[at..].trim_end_matches('}').trim().parse().ok()
}

/// Writes `n` payments and returns the expected total per user.
pub fn produce_payments(bootstrap: &str, n: usize) -> HashMap<String, i64> {
    let producer: ThreadedProducer<_> = config(bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let mut expected: HashMap<String, i64> = HashMap::new();
    for i in 0..n {
        let user = USERS[i % USERS.len()];
        let cents = 100 + ((i * 7919) % 50_000) as i64;
        *expected.entry(user.to_string()).or_default() += cents;
        let value = payment_json(user, cents);
        producer
            .send(BaseRecord::to(INPUT).key(user).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(T).unwrap();
    expected
}

/// The committed totals: the last value per user in `payment_totals`.
pub fn read_totals(bootstrap: &str) -> HashMap<String, i64> {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", "payment-totals-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let md = consumer.fetch_metadata(Some(OUTPUT), T).unwrap();
    let partitions = md
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(OUTPUT, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut totals = HashMap::new();
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(2) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume error");
            let user = m.key_view::<str>().unwrap().unwrap().to_string();
            let total: i64 = m.payload_view::<str>().unwrap().unwrap().parse().unwrap();
            totals.insert(user, total);
            quiet = Instant::now();
        }
    }
    totals
}

/// Runs the aggregator until it has been idle for `idle`; with `crash_after`, it stops
/// abruptly in the middle of a transaction after that many payments (a crash). Returns the
/// payments it processed.
pub fn aggregate(bootstrap: &str, crash_after: Option<usize>, idle: Duration) -> usize {
    let mut totals = read_totals(bootstrap);
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[INPUT]).unwrap();
    let producer: ThreadedProducer<_> = config(bootstrap)
        .set("transactional.id", TXN_ID)
        .create()
        .unwrap();
    producer.init_transactions(T).unwrap();
    let mut processed = 0;
    let mut last_work = Instant::now();
    while last_work.elapsed() < idle {
        let mut batch = Vec::new();
        while batch.len() < 50 {
            match consumer.poll(Duration::from_millis(100)) {
                Some(m) => {
                    let m = m.expect("consume error");
                    let user = m.key_view::<str>().unwrap().unwrap().to_string();
                    let cents =
                        parse_cents(m.payload_view::<str>().unwrap().unwrap()).expect("a payment");
                    batch.push((user, cents));
                }
                None => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        last_work = Instant::now();
        producer.begin_transaction().unwrap();
        let before = totals.clone();
        for (user, cents) in batch {
            let total = totals.entry(user.clone()).or_default();
            *total += cents;
            let value = total.to_string();
            producer
                .send(BaseRecord::to(OUTPUT).key(&user).payload(&value))
                .map_err(|(e, _)| e)
                .unwrap();
            processed += 1;
            if crash_after.is_some_and(|n| processed >= n) {
                producer.flush(T).unwrap();
                return processed;
            }
        }
        let offsets = consumer.position().unwrap();
        let committed = producer
            .send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), T)
            .and_then(|()| producer.commit_transaction(T));
        if committed.is_err() {
            // Nothing of this batch counted: forget it and read it again.
            totals = before;
            producer.abort_transaction(T).unwrap();
        }
    }
    processed
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.get(2).map(String::as_str).unwrap_or("127.0.0.1:9092");
    match args.get(1).map(String::as_str) {
        Some("produce") => {
            let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1000);
            for (user, total) in produce_payments(bootstrap, n) {
                println!("{user}\t{total}");
            }
        }
        Some("aggregate") => println!(
            "processed {}",
            aggregate(bootstrap, None, Duration::from_secs(5))
        ),
        Some("totals") => {
            let mut totals: Vec<_> = read_totals(bootstrap).into_iter().collect();
            totals.sort();
            for (user, total) in totals {
                println!("{user}\t{total}");
            }
        }
        _ => eprintln!("usage: payment_totals produce|aggregate|totals BOOTSTRAP [COUNT]"),
    }
}
