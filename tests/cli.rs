//! The operator commands (`myelin topic`, `myelin config`, `myelin cluster`) against a real
//! broker: what they print is what the broker holds. With `MYELIN_KAFKA_REF=1` the same
//! scenario also runs against Apache Kafka 4.4 (`kref.sh start` on 127.0.0.45) and must pass
//! there too; scripts/test runs it that way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::kref::{jars_installed, KafkaRef};
use common::Broker;
use std::process::Command;

/// Where Kafka 4.4 is served from for the reference run.
const KAFKA_HOST: &str = "127.0.0.45";

fn myelin(bootstrap: &str, args: &[&str]) -> (bool, String, String) {
    let (group, rest) = args.split_first().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .arg(group)
        .arg("--bootstrap")
        .arg(bootstrap)
        .args(rest)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(bootstrap: &str, args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = myelin(bootstrap, args);
    assert!(ok, "myelin {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

#[test]
fn topic_and_config_commands_show_what_the_broker_holds() {
    let broker = Broker::start(&["--admin-listen", "off"]);
    scenario(&broker.bootstrap());
    drop(broker);
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        assert!(
            jars_installed(),
            "Kafka 4.4's jars are not installed (kref.sh install)"
        );
        let kafka = KafkaRef::start(KAFKA_HOST);
        scenario(&kafka.bootstrap());
    }
}

fn scenario(broker: &str) {
    let (ok, out, err) = myelin(
        broker,
        &[
            "topic",
            "create",
            "cli-orders",
            "-p",
            "3",
            "-c",
            "retention.ms=86400000",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("created cli-orders (3 partitions"), "{out}");

    // A second create of the same name is refused with Kafka's error.
    let (ok, _, err) = myelin(broker, &["topic", "create", "cli-orders", "-p", "3"]);
    assert!(!ok && err.contains("TopicAlreadyExists"), "{err}");
    // A config Kafka does not know is refused.
    let (ok, _, err) = myelin(
        broker,
        &["topic", "create", "cli-bad", "-c", "no.such.config=1"],
    );
    assert!(!ok, "{err}");

    let list = json(broker, &["topic", "list", "--json"]);
    let listed: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "cli-orders")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["partitions"], 3);
    assert_eq!(listed[0]["replication_factor"], 1);

    let described = json(broker, &["topic", "describe", "cli-orders", "--json"]);
    let parts = described["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["partition"], i as i64);
        assert_eq!(p["earliest_offset"], 0);
        assert_eq!(p["latest_offset"], 0);
        assert_eq!(p["isr"].as_array().unwrap().len(), 1);
    }
    assert_eq!(described["configs"]["retention.ms"], "86400000");

    let configs = json(
        broker,
        &["config", "describe", "--topic", "cli-orders", "--json"],
    );
    let retention = configs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "retention.ms")
        .unwrap();
    assert_eq!(retention["value"], "86400000");
    assert_eq!(retention["source"], "DYNAMIC_TOPIC_CONFIG");

    // Set and remove configs (IncrementalAlterConfigs), then read them back.
    let (ok, out, err) = myelin(
        broker,
        &[
            "config",
            "set",
            "--topic",
            "cli-orders",
            "retention.ms=1000",
            "segment.bytes=1048576",
        ],
    );
    assert!(ok && out.contains("altered cli-orders"), "{err}");
    let described = json(broker, &["topic", "describe", "cli-orders", "--json"]);
    assert_eq!(described["configs"]["retention.ms"], "1000");
    assert_eq!(described["configs"]["segment.bytes"], "1048576");
    let (ok, _, err) = myelin(
        broker,
        &[
            "config",
            "set",
            "--topic",
            "cli-orders",
            "--delete",
            "retention.ms",
        ],
    );
    assert!(ok, "{err}");
    let described = json(broker, &["topic", "describe", "cli-orders", "--json"]);
    assert!(
        described["configs"].get("retention.ms").is_none(),
        "{described}"
    );
    let (ok, _, err) = myelin(
        broker,
        &["config", "set", "--topic", "cli-orders", "retention.ms=abc"],
    );
    assert!(!ok && err.contains("InvalidConfig"), "{err}");

    let cluster = json(broker, &["cluster", "describe", "--json"]);
    assert!(cluster.to_string().contains("cli-orders"));

    let (ok, out, err) = myelin(broker, &["topic", "delete", "cli-orders"]);
    assert!(ok && out.contains("deleted cli-orders"), "{err}");
    // Deletion reaches every shard's metadata shortly after the answer, as in Kafka.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (ok, out, err) = myelin(broker, &["topic", "describe", "cli-orders"]);
        if !ok {
            assert!(err.contains("UnknownTopicOrPartition"), "{err}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still there: {out}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
