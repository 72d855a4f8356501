//! Just enough HTTP/1.1 for the admin listener: one request per connection, a head of
//! bounded size parsed by `httparse`, no body, and a response that closes the connection.

use futures::AsyncReadExt;
use glommio::net::TcpStream;
use std::time::Duration;

/// Largest request head accepted.
const HEAD_BYTES_MAX: usize = 8 * 1024;
/// Headers a request may carry.
const HEADERS_MAX: usize = 32;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed request: method and path (without the query).
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
}

/// Why a request was refused with 400.
#[derive(Debug)]
pub struct BadRequest(pub String);

/// Reads and parses a request head.
pub async fn read_request(stream: &mut TcpStream) -> Result<Request, BadRequest> {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| BadRequest(format!("read: {e}")))?;
        if n == 0 {
            return Err(BadRequest(
                "connection closed before the request ended".into(),
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(req) = parse(&buf)? {
            return Ok(req);
        }
        if buf.len() > HEAD_BYTES_MAX {
            return Err(BadRequest("request head too large".into()));
        }
    }
}

/// Parses a complete head, `None` while it is partial.
fn parse(buf: &[u8]) -> Result<Option<Request>, BadRequest> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let method = req.method.unwrap_or_default().to_owned();
            let target = req.path.unwrap_or_default();
            let path = target.split('?').next().unwrap_or_default().to_owned();
            Ok(Some(Request { method, path }))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(BadRequest(format!("bad request: {e}"))),
    }
}

/// A response to send.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
        }
    }

    /// Status line, headers and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            503 => "Service Unavailable",
            _ => "",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_partial_and_bad() {
        assert!(parse(b"GET /metr").unwrap().is_none());
        let r = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/metrics"));
        assert!(parse(b"\x00\x01 garbage\r\n\r\n").is_err());
    }
}
