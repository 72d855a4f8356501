//! Hostile and broken bytes on a raw socket: each gets a Kafka error or a closed connection,
//! the broker stays up, allocates nothing the announced lengths ask for, and serves the next
//! real client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{kafka, Broker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect(b: &Broker) -> TcpStream {
    let s = TcpStream::connect(b.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// True when the broker closed the connection (EOF or reset) rather than answering.
fn closed(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
    }
}

fn request(key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("bad-input-test")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

fn read_response(s: &mut TcpStream, key: ApiKey, version: i16) -> (i32, Bytes) {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    (header.correlation_id, body)
}

fn assert_serves_real_clients(b: &mut Broker) {
    assert!(b.alive(), "broker died: {}", b.log());
    let c: BaseConsumer = kafka::config(&b.bootstrap()).create().unwrap();
    c.fetch_metadata(None, Duration::from_secs(5))
        .expect("a real client is served");
}

#[test]
fn hostile_frames_close_the_connection_and_nothing_else() {
    let mut b = Broker::start(&[]);
    let rss_before = b.rss_kib();

    // Garbage.
    let mut s = connect(&b);
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&garbage);
    assert!(closed(s));
    assert_serves_real_clients(&mut b);

    // A frame announcing 2^31-1 bytes: refused on the length alone.
    let mut s = connect(&b);
    s.write_all(&i32::MAX.to_be_bytes()).unwrap();
    s.write_all(&[0, 3, 0, 1]).unwrap();
    assert!(closed(s));
    // A negative length.
    let mut s = connect(&b);
    s.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(closed(s));
    // A non-produce frame over the control limit (announced, never sent).
    let mut s = connect(&b);
    s.write_all(&(64i32 << 20).to_be_bytes()).unwrap();
    s.write_all(&[0, 3, 0, 1]).unwrap();
    assert!(closed(s));
    let rss_after = b.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_serves_real_clients(&mut b);

    // Unknown API key.
    let mut s = connect(&b);
    let mut frame = request(
        ApiKey::Metadata,
        1,
        7,
        &kafka_protocol::messages::MetadataRequest::default(),
    );
    frame[4..6].copy_from_slice(&999i16.to_be_bytes());
    s.write_all(&frame).unwrap();
    assert!(closed(s));

    // Known key, unsupported version.
    let mut s = connect(&b);
    let mut frame = request(
        ApiKey::Metadata,
        1,
        7,
        &kafka_protocol::messages::MetadataRequest::default(),
    );
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    s.write_all(&frame).unwrap();
    assert!(closed(s));

    // Truncated body: a Metadata v1 request that announces 5 topics and carries none.
    let mut s = connect(&b);
    let mut frame = request(
        ApiKey::Metadata,
        1,
        7,
        &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![])),
    );
    let n = frame.len();
    frame[n - 4..].copy_from_slice(&5i32.to_be_bytes());
    s.write_all(&frame).unwrap();
    assert!(closed(s));

    // An array count of 2^31-1 in a small frame: the decoder must fail on the bytes, not
    // try to allocate for the count.
    let mut s = connect(&b);
    let mut frame = request(
        ApiKey::Metadata,
        1,
        7,
        &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![])),
    );
    let n = frame.len();
    frame[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    s.write_all(&frame).unwrap();
    assert!(closed(s));
    // The same in a compact (flexible) array.
    let mut s = connect(&b);
    let req = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![]));
    let mut frame = request(ApiKey::Metadata, 12, 7, &req);
    // Body starts after the header; the topics compact array length is its first byte.
    let header_len = 4 + 2 + 2 + 4 + 2 + "bad-input-test".len() + 1;
    let mut patched = frame[..header_len].to_vec();
    patched.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    patched.extend_from_slice(&frame[header_len + 1..]);
    let len = (patched.len() - 4) as i32;
    patched[..4].copy_from_slice(&len.to_be_bytes());
    frame = patched;
    s.write_all(&frame).unwrap();
    assert!(closed(s));
    assert_serves_real_clients(&mut b);

    // Half a frame, then the client goes away.
    let mut s = connect(&b);
    s.write_all(&100i32.to_be_bytes()).unwrap();
    s.write_all(&[0, 3, 0, 1, 0, 0]).unwrap();
    drop(s);
    assert_serves_real_clients(&mut b);
    let rss_end = b.rss_kib();
    assert!(
        rss_end < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_end} KiB"
    );
}

#[test]
fn api_versions_at_an_unknown_version_gets_the_supported_ranges() {
    let b = Broker::start(&[]);
    let mut s = connect(&b);
    // A future client writes the v2 header that ApiVersions v3+ uses.
    let mut frame = request(
        ApiKey::ApiVersions,
        3,
        42,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    frame[6..8].copy_from_slice(&77i16.to_be_bytes());
    s.write_all(&frame).unwrap();
    let (cid, mut body) = read_response(&mut s, ApiKey::ApiVersions, 0);
    assert_eq!(cid, 42);
    let resp = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert!(produce.max_version >= 9);
}

fn batch_bytes() -> BytesMut {
    let records = vec![Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: Default::default(),
    }];
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf
}

fn produce(b: &Broker, records: Bytes, acks: i16) -> Option<ProduceResponse> {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("raw")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let mut s = connect(b);
    s.write_all(&request(ApiKey::Produce, 9, 1, &req)).unwrap();
    if acks == 0 {
        return None;
    }
    let (_, mut body) = read_response(&mut s, ApiKey::Produce, 9);
    Some(ProduceResponse::decode(&mut body, 9).unwrap())
}

fn code(r: &ProduceResponse) -> i16 {
    r.responses[0].partition_responses[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_oversized_batches_get_kafka_error_codes() {
    let mut b = Broker::start(&[]);
    kafka::create_topic(&b.bootstrap(), "raw", 1).await;
    let good = batch_bytes();
    assert_eq!(code(&produce(&b, good.clone().freeze(), -1).unwrap()), 0);

    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 2] ^= 0xff;
    assert_eq!(
        code(&produce(&b, flipped.freeze(), -1).unwrap()),
        2,
        "CORRUPT_MESSAGE"
    );

    let truncated = good.clone().freeze().slice(..good.len() - 3);
    assert_eq!(
        code(&produce(&b, truncated, 1).unwrap()),
        2,
        "CORRUPT_MESSAGE"
    );

    let mut huge = BytesMut::new();
    let records: Vec<Record> = (0..1)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from(vec![b'x'; 1200 * 1024])),
            headers: Default::default(),
        })
        .collect();
    RecordBatchEncoder::encode(
        &mut huge,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    assert_eq!(
        code(&produce(&b, huge.freeze(), -1).unwrap()),
        10,
        "MESSAGE_TOO_LARGE"
    );

    let bad_acks = produce(&b, good.clone().freeze(), 2).unwrap();
    assert_eq!(code(&bad_acks), 21, "INVALID_REQUIRED_ACKS");
    assert_serves_real_clients(&mut b);
    // Only the one good batch landed.
    let c: BaseConsumer = kafka::config(&b.bootstrap()).create().unwrap();
    let (lo, hi) = c
        .fetch_watermarks("raw", 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!((lo, hi), (0, 1));
}

#[test]
fn clients_cannot_write_to_the_coordinators_topics() {
    let b = Broker::start(&[]);
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("__consumer_offsets")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch_bytes().freeze()))])]);
    // The topic is created on first use, as Kafka does: a client looking for its group's
    // coordinator makes it.
    let find = kafka_protocol::messages::FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("some-group"));
    let mut s = connect(&b);
    s.write_all(&request(ApiKey::FindCoordinator, 1, 7, &find))
        .unwrap();
    let (_, mut body) = read_response(&mut s, ApiKey::FindCoordinator, 1);
    let found = kafka_protocol::messages::FindCoordinatorResponse::decode(&mut body, 1).unwrap();
    assert_eq!(found.error_code, 0, "the coordinator is found");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect(&b);
        s.write_all(&request(ApiKey::Produce, 9, 1, &req)).unwrap();
        let (_, mut body) = read_response(&mut s, ApiKey::Produce, 9);
        let code = code(&ProduceResponse::decode(&mut body, 9).unwrap());
        if code != 3 || std::time::Instant::now() > deadline {
            assert_eq!(code, 17, "INVALID_TOPIC_EXCEPTION");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
