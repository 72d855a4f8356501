//! One TCP connection to a broker on a glommio executor: the ApiVersions handshake, plain
//! request/response calls, and a split into a writer and a reader for pipelining.
//!
//! Owned by the task (or the writer/reader pair) that made it, on one executor; never shared
//! across threads.

use super::wire::{self, Api, FrameReader, Versions};
use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use glommio::net::TcpStream;
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::StrBytes;

/// Reads the next response frame from `r`.
async fn read_frame<R: futures::io::AsyncRead + Unpin>(
    r: &mut R,
    frames: &mut FrameReader,
) -> anyhow::Result<Bytes> {
    loop {
        if let Some(f) = frames.next_frame()? {
            return Ok(f);
        }
        let n = r
            .read(frames.space()?)
            .await
            .context("reading a response")?;
        if n == 0 {
            bail!("broker closed the connection");
        }
        frames.filled(n);
    }
}

/// A connection with negotiated versions, used one call at a time.
pub struct Conn {
    stream: TcpStream,
    frames: FrameReader,
    buf: BytesMut,
    next_id: i32,
    /// API versions agreed with this broker.
    pub versions: Versions,
}

impl Conn {
    /// Connects to `addr` and agrees API versions.
    pub async fn connect(addr: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| anyhow::anyhow!("TCP_NODELAY: {e}"))?;
        let mut conn = Conn {
            stream,
            frames: FrameReader::default(),
            buf: BytesMut::new(),
            next_id: 0,
            versions: Versions {
                produce: 0,
                fetch: 0,
                metadata: 0,
                list_offsets: 0,
                create_topics: 0,
            },
        };
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("myelin-bench");
        req.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let resp = conn
            .call(&req, wire::API_VERSIONS_VERSION)
            .await
            .with_context(|| format!("ApiVersions with {addr}"))?;
        conn.versions = wire::negotiate(&resp).with_context(|| format!("broker {addr}"))?;
        Ok(conn)
    }

    /// Sends one request and waits for its response.
    pub async fn call<R: Api>(&mut self, req: &R, version: i16) -> anyhow::Result<R::Response> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.buf.clear();
        wire::encode_request(&mut self.buf, req, version, id)?;
        self.stream.write_all(&self.buf).await?;
        let frame = read_frame(&mut self.stream, &mut self.frames).await?;
        let (got, resp) = wire::decode_response::<R>(frame, version)?;
        if got != id {
            bail!("response correlation id {got}, expected {id}");
        }
        Ok(resp)
    }

    /// Splits into a writer and a reader so requests can be pipelined.
    pub fn split(self) -> (ConnWriter, ConnReader) {
        let (r, w) = self.stream.split();
        (
            ConnWriter {
                w,
                buf: self.buf,
                next_id: self.next_id,
            },
            ConnReader {
                r,
                frames: self.frames,
            },
        )
    }
}

/// The sending half of a pipelined connection.
pub struct ConnWriter {
    w: WriteHalf<TcpStream>,
    buf: BytesMut,
    next_id: i32,
}

impl ConnWriter {
    /// Writes one request and returns its correlation id; does not wait for the response.
    pub async fn send<R: Api>(&mut self, req: &R, version: i16) -> anyhow::Result<i32> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.buf.clear();
        wire::encode_request(&mut self.buf, req, version, id)?;
        self.w
            .write_all(&self.buf)
            .await
            .context("writing a request")?;
        Ok(id)
    }
}

/// The receiving half of a pipelined connection.
pub struct ConnReader {
    r: ReadHalf<TcpStream>,
    frames: FrameReader,
}

impl ConnReader {
    /// The next response frame, in request order.
    pub async fn next_frame(&mut self) -> anyhow::Result<Bytes> {
        read_frame(&mut self.r, &mut self.frames).await
    }
}
