//! Real request frames captured from segmentio/kafka-go 0.2 (the brief's Go client, as Debian
//! packages it), replayed against the broker: old Metadata, ListOffsets, Produce v2 with magic 1
//! message sets (plain, gzip, snappy, lz4, null keys and values), Fetch v2, CreateTopics v0,
//! DeleteTopics v1 and FindCoordinator v0, each answered as Kafka would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::Broker;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::RecordBatchDecoder;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn frame(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/kafka-go-0.2/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let hex = std::fs::read_to_string(path).unwrap();
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Sends a captured frame and decodes the answer as `R` at the frame's own version.
fn replay<R: Decodable>(b: &Broker, name: &str) -> R {
    let f = frame(name);
    let key = ApiKey::try_from(i16::from_be_bytes([f[4], f[5]])).unwrap();
    let version = i16::from_be_bytes([f[6], f[7]]);
    let correlation = i32::from_be_bytes([f[8], f[9], f[10], f[11]]);
    let mut s = TcpStream::connect(b.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&f).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .unwrap_or_else(|e| panic!("{name}: no answer ({e}): {}", b.log()));
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, correlation);
    R::decode(&mut body, version).unwrap()
}

#[test]
fn kafka_go_frames_are_answered_as_kafka_would() {
    let b = Broker::start(&[]);
    let md: MetadataResponse = replay(&b, "metadata_v1_payments");
    assert_eq!(md.topics[0].error_code, 0, "auto-created on Metadata v1");
    let all: MetadataResponse = replay(&b, "metadata_v1_no_topics");
    assert!(all.topics.is_empty(), "an empty list asks for no topics");

    let mut expected = 0;
    for (name, count) in [
        ("produce_v2_magic1_uncompressed_5msgs", 5),
        ("produce_v2_magic1_gzip_3msgs", 3),
        ("produce_v2_magic1_snappy_3msgs", 3),
        ("produce_v2_magic1_lz4_3msgs", 3),
        ("produce_v2_magic1_null_key_null_value", 2),
    ] {
        let r: ProduceResponse = replay(&b, name);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, expected), "{name}");
        expected += count;
    }
    let latest: ListOffsetsResponse = replay(&b, "listoffsets_v1_latest");
    assert_eq!(latest.topics[0].partitions[0].offset, expected);
    let earliest: ListOffsetsResponse = replay(&b, "listoffsets_v1_earliest");
    assert_eq!(earliest.topics[0].partitions[0].offset, 0);
    let by_time: ListOffsetsResponse = replay(&b, "listoffsets_v1_timestamp");
    assert_eq!(by_time.topics[0].partitions[0].error_code, 0);

    // Fetch v2 gets magic 1 messages back, with absolute offsets, keys and values intact.
    let fetched: FetchResponse = replay(&b, "fetch_v2_offset0");
    let p = &fetched.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, expected));
    let mut set = p.records.clone().unwrap();
    let sets = RecordBatchDecoder::decode_all(&mut set).unwrap();
    let records: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
    assert!(
        sets.iter().all(|s| s.version == 1),
        "Fetch v2 answers in magic 1"
    );
    assert_eq!(records.len() as i64, expected);
    assert!(records
        .iter()
        .enumerate()
        .all(|(i, r)| r.offset == i as i64));
    assert_eq!(records[0].key.as_deref(), Some(&b"alice"[..]));
    let last = records.last().unwrap();
    assert_eq!(
        (last.key.as_deref(), last.value.as_deref()),
        (Some(&b""[..]), None),
        "empty key and null value survive"
    );

    let created: CreateTopicsResponse = replay(&b, "createtopics_v0");
    assert_eq!(created.topics[0].error_code, 0);
    let deleted: DeleteTopicsResponse = replay(&b, "deletetopics_v1");
    assert_eq!(deleted.responses[0].error_code, 0);
    let coordinator: FindCoordinatorResponse = replay(&b, "findcoordinator_v0");
    assert_eq!((coordinator.error_code, coordinator.node_id.0), (0, 0));
}
