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

/// A parsed request: method, path, and the query (after `?`, still percent-encoded).
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
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
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            Ok(Some(Request {
                method,
                path: path.to_owned(),
                query: query.to_owned(),
            }))
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

    /// A JSON error: `{"error": why}`, for the JSON API's clients to show.
    pub fn error(status: u16, why: impl Into<String>) -> Response {
        Response::json(status, &serde_json::json!({ "error": why.into() }))
    }

    /// Status line, headers and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        };
        // `no-cache`: the console's pages are embedded in the binary, so a browser must not
        // keep serving an older broker's copy after an upgrade; every answer is small.
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
             Connection: close\r\n\r\n",
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
        assert_eq!(r.query, "x=1");
        let r = parse(b"GET / HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", ""));
        assert!(parse(b"\x00\x01 garbage\r\n\r\n").is_err());
    }
}
