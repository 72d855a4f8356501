//! The brief's aggregation example end to end: payments → per-user running totals, exactly
//! once, across a crash of the processor in the middle of a transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../examples/payment_totals.rs"]
mod payment_totals;

use common::{kafka, Broker};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_are_exact_after_a_processor_crash() {
    let b = Broker::start(&["--shards", "2", "--group-initial-rebalance-delay-ms", "0"]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "payments", 3).await;
    kafka::create_topic(&bs, "payment_totals", 3).await;
    let expected = payment_totals::produce_payments(&bs, 600);

    let bs2 = bs.clone();
    let crashed = std::thread::spawn(move || {
        payment_totals::aggregate(&bs2, Some(275), Duration::from_secs(3))
    })
    .join()
    .unwrap();
    assert_eq!(crashed, 275);
    let bs3 = bs.clone();
    std::thread::spawn(move || payment_totals::aggregate(&bs3, None, Duration::from_secs(3)))
        .join()
        .unwrap();

    let totals = payment_totals::read_totals(&bs);
    assert_eq!(totals, expected, "every payment counted exactly once");
}
