//! The controller listener takes bytes from the network: whatever a peer sends (garbage, a
//! frame of another cluster, a frame from a node that is no voter, a frame addressed to
//! someone else, a truncated frame, a request from an unregistered broker with a stale
//! epoch) is refused, and the node goes on serving clients and deciding metadata.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{free_addr, kafka, Broker};
use myelin_replication::controller::ControllerRequest;
use myelin_replication::quorum::frame::{Frame, FrameKind};
use myelin_replication::quorum::rpc::{Payload, RpcRequest};
use myelin_replication::types::{BrokerEpoch, NodeId};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `bytes` on a fresh connection to the controller listener and reports whether the
/// node closed it (a read returning end of stream or a reset) within a second.
fn closed_after(addr: std::net::SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
    }
}

fn frame(cluster_id: [u8; 16], from: i32, to: i32, payload: &Payload) -> Vec<u8> {
    let (kind, payload) = payload.encode();
    Frame {
        kind,
        cluster_id,
        from: NodeId(from),
        to: NodeId(to),
        payload,
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peer_input_is_refused_and_the_node_goes_on() {
    let controller = free_addr();
    let voters = format!("0@{controller}");
    let b = Broker::start(&["--controller-quorum-voters", &voters]);
    let bs = b.bootstrap();
    kafka::create_topic(&bs, "before", 2).await;

    // Garbage: not a frame at all.
    assert!(closed_after(
        controller,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    ));
    assert!(closed_after(controller, &[0xff; 4096]));
    // A frame whose header claims a payload far beyond the limit: refused from the header.
    let mut huge = Frame {
        kind: FrameKind::Raft,
        cluster_id: [0; 16],
        from: NodeId(5),
        to: NodeId(0),
        payload: vec![1, 2, 3],
    }
    .encode();
    huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(closed_after(controller, &huge));
    // A frame with a flipped payload byte fails its checksum.
    let request = Payload::Request(RpcRequest {
        request_id: 1,
        request: ControllerRequest::DescribeQuorum,
    });
    let mut corrupt = frame([7; 16], 5, 0, &request);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert!(closed_after(controller, &corrupt));
    // A well-formed frame of another cluster.
    assert!(closed_after(controller, &frame([7; 16], 5, 0, &request)));
    // With this cluster's id (as clients see it): a frame addressed to another node, and one
    // claiming to come from this node itself, close the connection.
    let probe: BaseConsumer = kafka::config(&bs).create().unwrap();
    let hex = probe
        .client()
        .fetch_cluster_id(Duration::from_secs(10))
        .expect("cluster id");
    let ours = *uuid::Uuid::parse_str(&hex).unwrap().as_bytes();
    assert!(closed_after(controller, &frame(ours, 5, 9, &request)));
    assert!(closed_after(controller, &frame(ours, 0, 0, &request)));
    // Raft traffic from a node that is no voter, and a Raft frame whose payload is not a
    // Raft message, are dropped by the quorum without closing anything.
    let mut s = TcpStream::connect(controller).unwrap();
    s.write_all(&frame(
        ours,
        5,
        0,
        &Payload::Raft(vec![0x08, 0x03, 0x10, 0x06]),
    ))
    .unwrap();
    s.write_all(&frame(ours, 5, 0, &Payload::Raft(vec![0xff; 64])))
        .unwrap();
    // A request from a node that is no voter is still answered (brokers are not voters).
    s.write_all(&frame(ours, 5, 0, &request)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 40];
    s.read_exact(&mut answer)
        .expect("an answer to a well-formed request");
    assert_eq!(&answer[..4], b"MYQF");
    drop(s);
    // A truncated frame followed by a close leaves nothing behind.
    let whole = frame([7; 16], 5, 0, &request);
    let _ = closed_after(controller, &whole[..whole.len() / 2]);
    // A heartbeat from a broker that never registered, with a made-up epoch.
    let stale = Payload::Request(RpcRequest {
        request_id: 2,
        request: ControllerRequest::BrokerHeartbeat {
            id: NodeId(42),
            epoch: BrokerEpoch(999),
            metadata_offset: 0,
            want_shutdown: false,
        },
    });
    let _ = closed_after(controller, &frame([7; 16], 42, 0, &stale));

    // The node still serves and still decides metadata.
    kafka::create_topic(&bs, "after", 3).await;
    let c: BaseConsumer = kafka::config(&bs).create().unwrap();
    let md = c
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata after bad peer input");
    let names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
    assert!(
        names.contains(&"before") && names.contains(&"after"),
        "{names:?}"
    );
    assert!(b.log().contains("serving Kafka clients"));
}
