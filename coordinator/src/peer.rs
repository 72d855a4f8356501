//! A small Kafka client for broker-to-broker requests (WriteTxnMarkers from a transaction
//! coordinator to the leaders of its transaction's partitions): one connection per target
//! broker, kept and reused, one request at a time on it, every wait bounded.
//!
//! It belongs to one shard (no `Send`); each shard that needs it keeps its own.

use bytes::BytesMut;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// Largest response accepted from a peer: a WriteTxnMarkers answer is small; this bounds
/// what a confused peer can make us allocate.
const RESPONSE_BYTES_MAX: usize = 16 << 20;

/// How long one request may take, connecting included.
pub const PEER_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The client id peers see.
const CLIENT_ID: &str = "myelin-broker";

/// Why a peer request failed; every case is retriable by the caller.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Connecting, writing or reading failed.
    #[error("peer i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer did not answer in time.
    #[error("peer request timed out")]
    Timeout,
    /// The answer could not be decoded, or did not match the request.
    #[error("bad answer from peer: {0}")]
    Protocol(String),
}

struct Conn {
    stream: RefCell<Option<TcpStream>>,
    one_at_a_time: Semaphore,
}

/// Connections to other brokers, by `host:port`.
#[derive(Default)]
pub struct PeerClient {
    conns: RefCell<HashMap<String, Rc<Conn>>>,
    correlation: Cell<i32>,
}

impl PeerClient {
    /// Sends `req` as `key` at `version` to the broker at `addr` (`host:port`) and decodes
    /// its answer. A failed connection is dropped, so the next request reconnects.
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &self,
        addr: &str,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp, PeerError> {
        let conn = self
            .conns
            .borrow_mut()
            .entry(addr.to_string())
            .or_insert_with(|| {
                Rc::new(Conn {
                    stream: RefCell::new(None),
                    one_at_a_time: Semaphore::new(1),
                })
            })
            .clone();
        let cid = self.correlation.get().wrapping_add(1);
        self.correlation.set(cid);
        let frame = encode(key, version, cid, req)?;
        let exchange = async {
            let _permit = conn
                .one_at_a_time
                .acquire_permit(1)
                .await
                .map_err(|e| PeerError::Protocol(e.to_string()))?;
            let result = exchange(&conn, addr, &frame).await;
            if result.is_err() {
                conn.stream.borrow_mut().take();
            }
            result
        };
        let mut body =
            match glommio::timer::timeout(PEER_REQUEST_TIMEOUT, async { Ok(exchange.await) }).await
            {
                Ok(r) => r?,
                Err(_) => {
                    conn.stream.borrow_mut().take();
                    return Err(PeerError::Timeout);
                }
            };
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        if header.correlation_id != cid {
            conn.stream.borrow_mut().take();
            return Err(PeerError::Protocol("correlation id mismatch".into()));
        }
        Resp::decode(&mut body, version).map_err(|e| PeerError::Protocol(e.to_string()))
    }
}

fn encode<Req: Encodable>(
    key: ApiKey,
    version: i16,
    cid: i32,
    req: &Req,
) -> Result<Vec<u8>, PeerError> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(cid)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0u8; 4]);
    header
        .encode(&mut buf, key.request_header_version(version))
        .map_err(|e| PeerError::Protocol(e.to_string()))?;
    req.encode(&mut buf, version)
        .map_err(|e| PeerError::Protocol(e.to_string()))?;
    let len = (buf.len() - 4) as i32;
    if let Some(prefix) = buf.get_mut(..4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
    Ok(buf.to_vec())
}

async fn exchange(conn: &Conn, addr: &str, frame: &[u8]) -> Result<bytes::Bytes, PeerError> {
    let existing = conn.stream.borrow_mut().take();
    let mut stream = match existing {
        Some(s) => s,
        None => {
            let s = TcpStream::connect(addr)
                .await
                .map_err(|e| PeerError::Io(std::io::Error::other(e.to_string())))?;
            let _ = s.set_nodelay(true);
            s
        }
    };
    stream.write_all(frame).await?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= RESPONSE_BYTES_MAX)
        .ok_or_else(|| PeerError::Protocol(format!("response of {len} bytes")))?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    *conn.stream.borrow_mut() = Some(stream);
    Ok(bytes::Bytes::from(body))
}
