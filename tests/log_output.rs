//! The broker keeps serving when its log output cannot be written: stderr on a full disk
//! (here `/dev/full`, where every write fails with ENOSPC) once panicked a shard.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{free_addr, kafka, test_tmp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_whose_stderr_fails_keeps_serving() {
    let data = tempfile::tempdir_in(test_tmp()).unwrap();
    let addr = free_addr();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("--listen")
        .arg(addr.to_string())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(full)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "broker did not start");
        assert!(
            child.try_wait().unwrap().is_none(),
            "broker exited at start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let bs = addr.to_string();
    // Creating a topic and producing to it log at info and debug level on every shard.
    kafka::create_topic(&bs, "quiet", 4).await;
    let producer: FutureProducer = kafka::config(&bs).set("acks", "all").create().unwrap();
    for i in 0..200 {
        let key = format!("k{i}");
        producer
            .send(
                FutureRecord::to("quiet").key(&key).payload("v"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the broker died when its log output failed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
