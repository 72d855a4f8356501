//! Leader epochs on the wire: OffsetForLeaderEpoch answers where each epoch ends in the
//! leader's log, checks the client's current epoch (FENCED_LEADER_EPOCH below it,
//! UNKNOWN_LEADER_EPOCH above it), and a restart, which moves leadership through a new
//! epoch, leaves the old epoch's end where it was while the new one grows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::{Bytes, BytesMut};
use common::{kafka, Broker};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TOPIC: &str = "epochs";
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn call<Req: Encodable, Resp: Decodable>(b: &Broker, key: ApiKey, version: i16, req: &Req) -> Resp {
    try_call(b, key, version, req).unwrap()
}

/// One request on a new connection; an error while the broker is not listening.
fn try_call<Req: Encodable, Resp: Decodable>(
    b: &Broker,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> std::io::Result<Resp> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(3);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    let mut s = TcpStream::connect(b.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(&(buf.len() as i32).to_be_bytes())?;
    s.write_all(&buf)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    let mut body = Bytes::from(body);
    ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    Ok(Resp::decode(&mut body, version).unwrap())
}

/// OffsetForLeaderEpoch v4 for partition 0 of `topic`: (error, epoch, end offset).
fn end_of(b: &Broker, topic: &str, current: i32, epoch: i32) -> (i16, i32, i64) {
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])]);
    let r: OffsetForLeaderEpochResponse = call(b, ApiKey::OffsetForLeaderEpoch, 4, &req);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// The partition's current leader epoch, as ListOffsets v7 reports it with the latest
/// offset (None while the broker cannot answer yet).
fn current_epoch(b: &Broker) -> Option<(i64, i32)> {
    let req = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)
                .with_current_leader_epoch(-1)])]);
    let r: ListOffsetsResponse = try_call(b, ApiKey::ListOffsets, 7, &req).ok()?;
    let p = &r.topics[0].partitions[0];
    (p.error_code == 0).then_some((p.offset, p.leader_epoch))
}

fn produce(bs: &str, from: usize, n: usize) {
    let p: ThreadedProducer<_> = kafka::config(bs).create().unwrap();
    for i in from..from + n {
        let v = format!("value-{i}");
        p.send(BaseRecord::<str, str>::to(TOPIC).partition(0).payload(&v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_tracks_epochs_across_a_restart() {
    let mut b = Broker::start(&[]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, TOPIC, 1).await;
    produce(&bs, 0, 5);
    let (end, first) = current_epoch(&b).unwrap();
    assert_eq!(end, 5);
    assert_eq!(end_of(&b, TOPIC, -1, first), (0, first, 5));
    assert_eq!(end_of(&b, TOPIC, first, first), (0, first, 5));
    assert_eq!(
        end_of(&b, TOPIC, -1, first + 5),
        (0, -1, -1),
        "newer than any epoch"
    );
    assert_eq!(end_of(&b, TOPIC, first + 1, first).0, UNKNOWN_LEADER_EPOCH);
    assert_eq!(end_of(&b, "nope", -1, 0).0, UNKNOWN_TOPIC_OR_PARTITION);

    // A restart registers a new incarnation: leadership comes back in a newer epoch.
    b.stop();
    b.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (end, second) = loop {
        if let Some(found) = current_epoch(&b) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no leader after the restart: {}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(end, 5);
    assert!(second > first, "epoch {first} -> {second}");
    produce(&bs, 5, 3);
    assert_eq!(
        end_of(&b, TOPIC, -1, first),
        (0, first, 5),
        "the old epoch ended at 5"
    );
    assert_eq!(end_of(&b, TOPIC, -1, second), (0, second, 8));
    assert_eq!(end_of(&b, TOPIC, first, second).0, FENCED_LEADER_EPOCH);

    // librdkafka validates its position with OffsetForLeaderEpoch and reads on through
    // the epoch change.
    let consumer: BaseConsumer = kafka::consumer_from_beginning(&bs, TOPIC, 1);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 8 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            seen.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    let want: Vec<String> = (0..8).map(|i| format!("value-{i}")).collect();
    assert_eq!(seen, want);
}
