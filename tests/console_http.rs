//! The web console's endpoints on the real binary: librdkafka produces compressed batches
//! with keys, values and headers, `/v1/messages` shows them by offset and by time,
//! `/v1/topics` shows the topic, the console's files are served, and hostile query strings
//! get a JSON 4xx while the broker stays up. The browser's reads are not taken for a
//! consumer's first fetch (`myelin_durable_to_fetch_seconds`), and any broker of a cluster
//! shows the messages of a partition another broker leads. `/metrics` reports each shard's
//! heap and file operations in flight. (tests/clients/test_console.py drives the same pages
//! in a browser.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{free_addr, kafka, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Status, content type and body of `GET path` on the admin listener.
fn get(admin: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_string();
    (status, content_type, raw[split + 4..].to_vec())
}

fn get_json(admin: SocketAddr, path: &str) -> (u16, Value) {
    let (status, content_type, body) = get(admin, path);
    assert_eq!(content_type, "application/json", "{path}");
    (status, serde_json::from_slice(&body).unwrap())
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of every sample of `name` (any labels) in Prometheus text, `None` when there is
/// no sample.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn metrics(admin: SocketAddr) -> String {
    let (status, _, body) = get(admin, "/metrics");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

/// An hour ago, whole seconds: recent enough that no retention applies.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_secs() as i64 - 3600) * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_topics_and_console_files() {
    let admin = free_addr();
    let b = Broker::start(&["--admin-listen", &admin.to_string()]);
    let bs = b.bootstrap();
    let base = base_ms();
    wait_for("the admin listener", || TcpStream::connect(admin).is_ok());
    kafka::create_topic(&bs, "browse", 2).await;
    let p: ThreadedProducer<_> = kafka::config(&bs)
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    for i in 0..20i64 {
        let key = format!("k{i}");
        let value = format!("v{i}");
        let index = i.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "i",
                value: Some(index.as_str()),
            })
            .insert(Header {
                key: "none",
                value: None::<&str>,
            });
        let record = BaseRecord::to("browse")
            .partition(1)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .timestamp(base + i * 10);
        p.send(record).map_err(|(e, _)| e).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();

    wait_for("the high watermark at 20", || {
        let (_, doc) = get_json(admin, "/v1/topics");
        doc["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "browse" && t["partitions"][1]["local"]["high_watermark"] == 20)
    });
    let (_, doc) = get_json(admin, "/v1/topics");
    let topic = doc["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "browse")
        .unwrap();
    assert_eq!(topic["partition_count"], 2);
    assert_eq!(topic["partitions"][0]["local"]["high_watermark"], 0);
    assert!(topic["configs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "cleanup.policy" && c["value"] == "delete"));

    let (status, page) = get_json(
        admin,
        "/v1/messages?topic=browse&partition=1&offset=5&limit=3",
    );
    assert_eq!(status, 200, "{page}");
    let offsets: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [5, 6, 7]);
    let m = &page["messages"][0];
    assert_eq!(m["key"]["data"], "k5");
    assert_eq!(m["value"]["data"], "v5");
    assert_eq!(m["timestamp"], base + 50);
    assert_eq!(m["headers"][0]["key"], "i");
    assert_eq!(m["headers"][0]["value"]["data"], "5");
    assert_eq!(m["headers"][1]["value"], Value::Null);
    assert_eq!(page["next_offset"], 8);

    // By time: the first record at or after it, as ListOffsets finds it.
    let (_, page) = get_json(
        admin,
        &format!(
            "/v1/messages?topic=browse&partition=1&timestamp={}&limit=1",
            base + 125
        ),
    );
    assert_eq!(page["messages"][0]["offset"], 13);
    assert_eq!(page["start_offset"], 13);
    // The newest, by default.
    let (_, page) = get_json(admin, "/v1/messages?topic=browse&partition=1&limit=2");
    assert_eq!(page["messages"][1]["offset"], 19);

    let (status, content_type, body) = get(admin, "/");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(String::from_utf8(body).unwrap().contains("/console/app.js"));
    let (status, content_type, _) = get(admin, "/console/vendor/uPlot.iife.min.js");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let (status, doc) = get_json(admin, "/v1/summary");
    assert_eq!(status, 200);
    assert!(doc["records_in"].as_u64().unwrap() >= 20);

    // The browser read every record just after it became durable, and no consumer has:
    // no durable→first-fetch sample yet.
    let text = metrics(admin);
    assert_eq!(
        metric_sum(&text, "myelin_durable_to_fetch_seconds_count"),
        Some(0.0),
        "the browser's reads were taken for a consumer's first fetch"
    );
    // A consumer's fetch of a new record is one.
    p.send(
        BaseRecord::to("browse")
            .partition(1)
            .key("k20")
            .payload("v20"),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let c = consumer_at(&bs, "browse", 1, 20);
    let m = c.poll(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(rdkafka::Message::offset(&m), 20);
    wait_for("a durable→fetch sample", || {
        metric_sum(&metrics(admin), "myelin_durable_to_fetch_seconds_count") >= Some(1.0)
    });

    // Each shard's heap and the logs' file operations.
    let text = metrics(admin);
    let heap = metric_sum(&text, "myelin_heap_bytes").unwrap();
    let resident = metric_sum(&text, "myelin_resident_memory_bytes").unwrap();
    assert!(
        heap > 0.0 && heap < resident,
        "heap {heap}, resident {resident}"
    );
    assert!(metric_sum(&text, "myelin_shard_allocations_total").unwrap() > 0.0);
    assert!(metric_sum(&text, "myelin_shard_memory_bytes").is_some());
    assert!(metric_sum(&text, "myelin_shard_io_memory_bytes").unwrap() > 0.0);
    // 21 records were written and read back: file operations were issued and completed.
    assert!(metric_sum(&text, "myelin_io_in_flight_at_submit_count").unwrap() > 0.0);
    assert!(metric_sum(&text, "myelin_io_in_flight").is_some());
}

/// A consumer of one partition from `offset` (no group).
fn consumer_at(bootstrap: &str, topic: &str, partition: i32, offset: i64) -> BaseConsumer {
    let c: BaseConsumer = kafka::config(bootstrap)
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
        .unwrap();
    c.assign(&tpl).unwrap();
    c
}

/// Two brokers, each leading some partitions: each one's browser shows a partition the other
/// leads, read from that leader, and the leader takes none of it for a consumer's fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_broker_browses_a_partition_another_leads() {
    let controller = free_addr();
    let voters = format!("1@{controller}");
    let (admin_1, admin_2) = (free_addr(), free_addr());
    let one = Broker::start(&[
        "--node-id",
        "1",
        "--controller-quorum-voters",
        &voters,
        "--admin-listen",
        &admin_1.to_string(),
    ]);
    let two = Broker::start(&[
        "--node-id",
        "2",
        "--process-roles",
        "broker",
        "--controller-quorum-voters",
        &voters,
        "--admin-listen",
        &admin_2.to_string(),
    ]);
    wait_for("both brokers registered and unfenced", || {
        let (_, doc) = get_json(admin_1, "/v1/brokers");
        doc["brokers"]
            .as_array()
            .is_some_and(|b| b.len() == 2 && b.iter().all(|b| b["fenced"] == false))
    });
    let bs = format!("{},{}", one.bootstrap(), two.bootstrap());
    // The controller spreads the partitions over both brokers; find one each leads.
    kafka::create_topic(&bs, "split", 4).await;
    let leaders = |id: i32| -> Vec<i32> {
        let c: BaseConsumer = kafka::config(&bs).create().unwrap();
        let md = c
            .fetch_metadata(Some("split"), Duration::from_secs(10))
            .unwrap();
        md.topics()[0]
            .partitions()
            .iter()
            .filter(|p| p.leader() == id)
            .map(|p| p.id())
            .collect()
    };
    let mut led = (Vec::new(), Vec::new());
    wait_for("partitions led by each broker", || {
        led = (leaders(1), leaders(2));
        led.0.len() + led.1.len() == 4
    });
    let (by_1, by_2) = (led.0[0], led.1[0]);
    let p: ThreadedProducer<_> = kafka::config(&bs).create().unwrap();
    for (partition, n) in [(by_1, 5), (by_2, 3)] {
        for i in 0..n {
            let key = format!("p{partition}-k{i}");
            p.send(
                BaseRecord::to("split")
                    .partition(partition)
                    .key(&key)
                    .payload("v"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        }
    }
    p.flush(Duration::from_secs(10)).unwrap();

    // Each partition is browsed on the broker that does not lead it.
    for (admin, partition, leader, n) in [(admin_2, by_1, 1, 5), (admin_1, by_2, 2, 3)] {
        let path = format!("/v1/messages?topic=split&partition={partition}&offset=0&limit=10");
        let mut page = Value::Null;
        wait_for("the page from the leader", || {
            let (status, doc) = get_json(admin, &path);
            page = doc;
            status == 200 && page["high_watermark"] == n
        });
        assert_eq!(page["leader"], leader, "{page}");
        assert_eq!(page["read_from"], "leader", "{page}");
        let keys: Vec<String> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["key"]["data"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..n).map(|i| format!("p{partition}-k{i}")).collect();
        assert_eq!(keys, want, "{page}");
        assert_eq!(page["next_offset"], n);
        // By time and the newest go to the leader too.
        let (_, newest) = get_json(
            admin,
            &format!("/v1/messages?topic=split&partition={partition}&limit=1"),
        );
        assert_eq!(newest["messages"][0]["offset"], n - 1, "{newest}");
        let (_, by_time) = get_json(
            admin,
            &format!("/v1/messages?topic=split&partition={partition}&timestamp=0&limit=1"),
        );
        assert_eq!(by_time["start_offset"], 0, "{by_time}");
    }
    // On its leader the page is read locally.
    let path = format!("/v1/messages?topic=split&partition={by_1}&limit=1");
    let (_, page) = get_json(admin_1, &path);
    assert_eq!(page["read_from"], "local");
    // Out of range on the leader is the same 400 as locally.
    let path = format!("/v1/messages?topic=split&partition={by_1}&offset=99");
    let (status, doc) = get_json(admin_2, &path);
    assert_eq!(status, 400, "{doc}");
    // Neither leader took the other's browsing for a consumer's fetch.
    for admin in [admin_1, admin_2] {
        let text = metrics(admin);
        assert_eq!(
            metric_sum(&text, "myelin_durable_to_fetch_seconds_count"),
            Some(0.0)
        );
    }
}

#[test]
fn hostile_queries_get_json_errors_and_the_broker_stays_up() {
    let admin = free_addr();
    let mut b = Broker::start(&["--admin-listen", &admin.to_string()]);
    wait_for("the admin listener", || TcpStream::connect(admin).is_ok());
    let fixed = [
        ("/v1/messages", 400),
        ("/v1/messages?topic=nope", 404),
        ("/v1/messages?topic=nope&offset=x", 400),
        ("/v1/messages?topic=nope&partition=-1", 400),
        ("/v1/messages?topic=nope&limit=0", 400),
        ("/v1/messages?topic=%", 400),
        ("/v1/messages?topic=%C0%80", 400),
        ("/v1/messages?topic=a&&&&", 404),
        ("/v1/messages?=&=", 400),
        ("/v1/nothing", 404),
    ];
    for (path, want) in fixed {
        let (status, doc) = get_json(admin, path);
        assert_eq!(status, want, "{path}: {doc}");
        assert!(doc["error"].is_string(), "{path}: {doc}");
    }
    // Random strings from pieces that mean something to the parser.
    let pieces = [
        "topic=",
        "offset=",
        "timestamp=",
        "limit=",
        "partition=",
        "&",
        "=",
        "%",
        "%2",
        "%41",
        "-",
        "9",
        "99999999999999999999",
        "__consumer_offsets",
        "+",
        "é",
        "x",
    ];
    let mut seed: u64 = 0x0c0_501e;
    for _ in 0..300 {
        let mut q = String::new();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        for _ in 0..(seed >> 60) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            q.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
        }
        let q: String = q
            .chars()
            .flat_map(|c| {
                if c.is_ascii() {
                    vec![c]
                } else {
                    // A request line carries bytes; send non-ASCII percent-encoded.
                    let mut buf = [0u8; 4];
                    c.encode_utf8(&mut buf)
                        .bytes()
                        .flat_map(|b| format!("%{b:02X}").chars().collect::<Vec<_>>())
                        .collect()
                }
            })
            .collect();
        let (status, _) = get_json(admin, &format!("/v1/messages?{q}"));
        assert!(
            [200, 400, 404, 503].contains(&status),
            "{q}: answered {status}"
        );
    }
    let (status, _, _) = get(admin, "/v1/health/live");
    assert_eq!(status, 200);
    b.stop();
}
