//! kcat (Debian's build, linking its own librdkafka) producing and consuming through the
//! broker. CI installs kcat; a missing kcat fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Broker;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn kcat_produces_and_consumes_keyed_messages_with_headers() {
    let broker = Broker::start(&["--default-partitions", "3"]);
    let bs = broker.bootstrap();
    let mut producer = Command::new("kcat")
        .args([
            "-b",
            &bs,
            "-P",
            "-t",
            "kcat-topic",
            "-K",
            ":",
            "-H",
            "origin=kcat",
            "-p",
            "1",
            "-X",
            "acks=all",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat must be installed (apt-get install kcat)");
    {
        let stdin = producer.stdin.as_mut().unwrap();
        for i in 0..500 {
            writeln!(stdin, "alice:payment-{i}").unwrap();
        }
    }
    assert!(producer.wait().unwrap().success());

    let out = Command::new("kcat")
        .args([
            "-b",
            &bs,
            "-C",
            "-t",
            "kcat-topic",
            "-p",
            "1",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k|%s|%o|%h\n",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 500);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("alice|payment-{i}|{i}|origin=kcat"));
    }

    let meta = Command::new("kcat")
        .args(["-b", &bs, "-L", "-t", "kcat-topic"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&meta.stdout);
    assert!(
        text.contains("topic \"kcat-topic\" with 3 partitions"),
        "{text}"
    );
}
