//! Kafka's own CLI tools, run from Kafka 4.4's jars, against Myelin: `kafka-configs`
//! (IncrementalAlterConfigs, DescribeConfigs), `kafka-delete-records` (DeleteRecords) and
//! `kafka-log-dirs` (DescribeLogDirs). The same commands give the outputs Apache Kafka 4.4
//! gives (recorded below, from this test run against Kafka), after taking out what differs
//! between any two brokers (log dir paths, byte sizes, broker ids).
//!
//! With `MYELIN_KAFKA_REF=1` the same scenario also runs against Kafka 4.4 itself
//! (`kref.sh start` on 127.0.0.44) and both outputs must agree step by step; scripts/test
//! runs it that way. Without Kafka's jars (`kref.sh install`), the test says so and passes
//! only outside CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::kref::{jars_installed, tool, KafkaRef};
use common::{kafka, Broker};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::path::Path;
use std::time::Duration;

/// Where Kafka 4.4 is served from for the reference run.
const KAFKA_HOST: &str = "127.0.0.44";
/// Records produced before DeleteRecords.
const RECORDS: usize = 10;

/// The first Kafka exception named in a tool's output, with its message:
/// `InvalidConfigurationException: Invalid value …`.
fn exception(text: &str) -> String {
    const PREFIX: &str = "org.apache.kafka.common.errors.";
    text.lines()
        .find_map(|l| {
            l.find(PREFIX)
                .map(|i| l[i + PREFIX.len()..].trim().to_string())
        })
        .unwrap_or_else(|| format!("no Kafka exception in: {text}"))
}

/// `kafka-configs --describe` lines without the synonyms (whose broker-level entries
/// name each broker's own static settings), the entries sorted (Kafka lists them in hash
/// order).
fn config_lines(text: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(" synonyms=")
                .next()
                .unwrap_or(l)
                .trim_end()
                .to_string()
        })
        .collect();
    if let Some(entries) = lines.get_mut(1..) {
        entries.sort();
    }
    lines.join("\n")
}

/// `kafka-log-dirs --describe` as (partition, offsetLag, isFuture, size > 0, error) per
/// replica, without the broker id, dir path and sizes.
fn log_dirs(text: &str) -> String {
    let Some(json) = text.lines().find(|l| l.starts_with('{')) else {
        return format!("no JSON in: {text}");
    };
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut out = Vec::new();
    for broker in v["brokers"].as_array().unwrap() {
        for dir in broker["logDirs"].as_array().unwrap() {
            out.push(format!("dir error={}", dir["error"]));
            for p in dir["partitions"].as_array().unwrap() {
                out.push(format!(
                    "{} offsetLag={} isFuture={} sized={}",
                    p["partition"].as_str().unwrap(),
                    p["offsetLag"],
                    p["isFuture"],
                    p["size"].as_i64().unwrap() > 0
                ));
            }
        }
    }
    out.join("\n")
}

/// What each step showed, in order.
type Steps = Vec<(&'static str, String)>;

/// The scenario, against one broker.
async fn scenario(bootstrap: &str, work: &Path) -> Steps {
    let mut steps: Steps = Vec::new();
    let configs = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", bootstrap];
        all.extend_from_slice(args);
        tool("org.apache.kafka.tools.ConfigCommand", &all)
    };
    let t = ["--entity-type", "topics", "--entity-name", "cli"];
    let (code, out, err) = tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            "cli",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
    );
    assert_eq!(code, 0, "create: {out}{err}");
    let alter = [
        &t[..],
        &[
            "--alter",
            "--add-config",
            "retention.ms=1000,cleanup.policy=compact",
        ],
    ]
    .concat();
    let (code, out, err) = configs(&alter);
    steps.push(("alter", format!("{code} {}", out.trim())));
    assert_eq!(code, 0, "alter: {out}{err}");
    let describe = [&t[..], &["--describe"]].concat();
    let (_, out, _) = configs(&describe);
    steps.push(("describe after alter", config_lines(&out)));
    let (code, out, _) =
        configs(&[&t[..], &["--alter", "--delete-config", "retention.ms"]].concat());
    steps.push(("delete-config", format!("{code} {}", out.trim())));
    let (_, out, _) = configs(&describe);
    steps.push(("describe after delete", config_lines(&out)));
    let (code, out, err) =
        configs(&[&t[..], &["--alter", "--add-config", "retention.ms=abc"]].concat());
    steps.push((
        "bad value",
        format!("{code} {}", exception(&format!("{out}{err}"))),
    ));
    let (code, out, err) =
        configs(&[&t[..], &["--alter", "--add-config", "no.such.config=1"]].concat());
    steps.push((
        "unknown name",
        format!("{code} {}", exception(&format!("{out}{err}"))),
    ));
    for (step, kv) in [
        ("INT out of range", "segment.bytes=99999999999"),
        ("DOUBLE above its range", "min.cleanable.dirty.ratio=1.5"),
        ("STRING not one of", "message.timestamp.type=foo"),
        ("INT below its range", "min.insync.replicas=0"),
    ] {
        let (code, out, err) = configs(&[&t[..], &["--alter", "--add-config", kv]].concat());
        steps.push((
            step,
            format!("{code} {}", exception(&format!("{out}{err}"))),
        ));
    }
    // Broker configs: the cluster default (the same resource on either broker).
    let default = ["--entity-type", "brokers", "--entity-default", "--alter"];
    let (code, out, err) = configs(
        &[
            &default[..],
            &["--add-config", "auto.create.topics.enable=false"],
        ]
        .concat(),
    );
    steps.push((
        "broker default set",
        format!("{code} {}", exception(&format!("{out}{err}"))),
    ));
    let (code, out, _) = configs(&[&default[..], &["--delete-config", "num.partitions"]].concat());
    steps.push(("broker default delete", format!("{code} {}", out.trim())));
    let nope = [
        "--entity-type",
        "topics",
        "--entity-name",
        "nope",
        "--alter",
    ];
    let (code, out, err) = configs(&[&nope[..], &["--add-config", "retention.ms=5"]].concat());
    steps.push((
        "unknown topic",
        format!("{code} {}", exception(&format!("{out}{err}"))),
    ));
    let (code, out, _) =
        configs(&[&t[..], &["--alter", "--delete-config", "cleanup.policy"]].concat());
    steps.push(("delete cleanup.policy", format!("{code} {}", out.trim())));
    let (_, out, _) = configs(&describe);
    steps.push(("describe after both deleted", config_lines(&out)));

    let producer: FutureProducer = kafka::config(bootstrap).create().unwrap();
    for i in 0..RECORDS {
        let v = format!("v{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("cli").partition(0).payload(&v),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let delete = |offset: i64| {
        let file = work.join(format!("delete-{offset}.json"));
        let json = format!(
            r#"{{"partitions":[{{"topic":"cli","partition":0,"offset":{offset}}}],"version":1}}"#
        );
        std::fs::write(&file, json).unwrap();
        let file = file.to_str().unwrap().to_string();
        tool(
            "org.apache.kafka.tools.DeleteRecordsCommand",
            &["--bootstrap-server", bootstrap, "--offset-json-file", &file],
        )
    };
    let (code, out, _) = delete(4);
    steps.push(("delete-records 4", format!("{code} {}", out.trim())));
    let (code, out, err) = delete(1000);
    let shown = out
        .lines()
        .find(|l| l.contains("partition: cli-0"))
        .map(|l| l.split(": ").take(3).collect::<Vec<_>>().join(": "))
        .unwrap_or_else(|| format!("{out}{err}"));
    steps.push(("delete-records past the end", format!("{code} {shown}")));
    let (code, out, _) = delete(-1);
    steps.push(("delete-records -1", format!("{code} {}", out.trim())));
    let (code, out, err) = tool(
        "org.apache.kafka.tools.GetOffsetShell",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            "cli",
            "--time",
            "-2",
        ],
    );
    steps.push(("earliest", format!("{code} {}{}", out.trim(), err.trim())));
    let (code, out, _) = tool(
        "org.apache.kafka.tools.LogDirsCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--topic-list",
            "cli",
        ],
    );
    steps.push(("log-dirs", format!("{code}\n{}", log_dirs(&out))));
    steps
}

/// What Kafka 4.4 shows for each step (observed with `MYELIN_KAFKA_REF=1`).
fn expected() -> Steps {
    vec![
        ("alter", "0 Completed updating config for topic cli.".into()),
        (
            "describe after alter",
            "Dynamic configs for topic cli are:\n  cleanup.policy=compact sensitive=false\n  \
             retention.ms=1000 sensitive=false"
                .into(),
        ),
        (
            "delete-config",
            "0 Completed updating config for topic cli.".into(),
        ),
        (
            "describe after delete",
            "Dynamic configs for topic cli are:\n  cleanup.policy=compact sensitive=false".into(),
        ),
        (
            "bad value",
            "1 InvalidConfigurationException: Invalid value abc for configuration \
             retention.ms: Not a number of type LONG"
                .into(),
        ),
        (
            "unknown name",
            "1 InvalidConfigurationException: Unknown topic config name: no.such.config".into(),
        ),
        (
            "INT out of range",
            "1 InvalidConfigurationException: Invalid value 99999999999 for configuration \
             segment.bytes: Not a number of type INT"
                .into(),
        ),
        (
            "DOUBLE above its range",
            "1 InvalidConfigurationException: Invalid value 1.5 for configuration \
             min.cleanable.dirty.ratio: Value must be no more than 1"
                .into(),
        ),
        (
            "STRING not one of",
            "1 InvalidConfigurationException: Invalid value foo for configuration \
             message.timestamp.type: String must be one of: CreateTime, LogAppendTime"
                .into(),
        ),
        (
            "INT below its range",
            "1 InvalidConfigurationException: Invalid value 0 for configuration \
             min.insync.replicas: Value must be at least 1"
                .into(),
        ),
        (
            "broker default set",
            "1 InvalidRequestException: Cannot update these configs dynamically: \
             [auto.create.topics.enable]"
                .into(),
        ),
        (
            "broker default delete",
            "0 Completed updating default config for brokers in the cluster.".into(),
        ),
        (
            "unknown topic",
            "1 UnknownTopicOrPartitionException: The topic 'nope' does not exist.".into(),
        ),
        (
            "delete cleanup.policy",
            "0 Completed updating config for topic cli.".into(),
        ),
        (
            "describe after both deleted",
            "Dynamic configs for topic cli are:".into(),
        ),
        (
            "delete-records 4",
            "0 Executing records delete operation\nRecords delete operation completed:\n\
             partition: cli-0\tlow_watermark: 4"
                .into(),
        ),
        (
            "delete-records past the end",
            "0 partition: cli-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException"
                .into(),
        ),
        (
            "delete-records -1",
            "0 Executing records delete operation\nRecords delete operation completed:\n\
             partition: cli-0\tlow_watermark: 10"
                .into(),
        ),
        ("earliest", "0 cli:0:10".into()),
        (
            "log-dirs",
            "0\ndir error=null\ncli-0 offsetLag=0 isFuture=false sized=true".into(),
        ),
    ]
}

fn assert_steps(who: &str, got: &Steps, want: &Steps) {
    for ((name, g), (_, w)) in got.iter().zip(want) {
        assert_eq!(g, w, "{who}, step {name:?}");
    }
    assert_eq!(got.len(), want.len(), "{who}: steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_cli_tools_see_what_kafka_shows() {
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are not installed (kref.sh install); CI must have them"
        );
        eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
        return;
    }
    let work = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let b = Broker::start(&[]);
    let myelin = scenario(&b.bootstrap(), work.path()).await;
    drop(b);
    for (name, out) in &myelin {
        eprintln!("[myelin] {name}: {out}");
    }
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        let k = KafkaRef::start(KAFKA_HOST);
        let reference = scenario(&format!("{KAFKA_HOST}:9092"), work.path()).await;
        drop(k);
        for (name, out) in &reference {
            eprintln!("[kafka] {name}: {out}");
        }
        assert_steps(
            "Kafka 4.4 against the recorded outputs",
            &reference,
            &expected(),
        );
        assert_steps("Myelin against Kafka 4.4", &myelin, &reference);
    }
    assert_steps("Myelin", &myelin, &expected());
}
