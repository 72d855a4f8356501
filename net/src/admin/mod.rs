//! The admin HTTP listener: `/metrics` (Prometheus text format), `/v1/health`, a small
//! JSON API (`/v1/brokers`, `/v1/partitions`, `/v1/groups`, `/v1/topics`, `/v1/messages`,
//! `/v1/summary`), and the web console at `/` that is built on it.
//!
//! It runs on shard 0. A scrape asks every shard over the mesh for its report (its metrics
//! snapshot, the partitions it owns, the committed offsets of the groups it coordinates) and
//! merges them here; nothing is shared between cores. Requests are HTTP/1.1, one per
//! connection, parsed with `httparse`.

mod console;
mod http;
mod leader;
mod messages;
mod params;
mod report;
mod summary;
mod topics;

use futures::AsyncWriteExt;
use glommio::net::TcpListener;
use myelin_shards::Shard;
use std::net::SocketAddr;
use std::rc::Rc;

pub use report::{disk_space, gather, NodeReport};

/// Binds `listen` for one process alone. glommio's own bind sets SO_REUSEPORT (the Kafka
/// listener's shards share their port that way), which would let a second broker on the same
/// address take half the scrapes; this socket has no such option, so a second bind fails.
fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let socket = Socket::new(Domain::for_address(listen), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&listen.into())?;
    socket.listen(ADMIN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    // SAFETY: the descriptor is a bound, listening TCP socket that nothing else owns.
    Ok(unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) })
}

/// How long a taken admin address is retried before the listener is given up.
const BIND_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);
/// Pause between tries.
const BIND_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Pending admin connections the kernel queues.
const ADMIN_BACKLOG: i32 = 64;

/// Serves the admin listener on `listen` until the shard stops. Call on shard 0.
pub async fn serve_admin(shard: Rc<Shard>, listen: SocketAddr) {
    // A broker restarted at once may find its predecessor's listener still there for a
    // moment (a killed process's io_uring lets go of its sockets late): try for a while.
    let deadline = std::time::Instant::now() + BIND_RETRY_WINDOW;
    let listener = loop {
        match bind(listen) {
            Ok(l) => break l,
            Err(e) if std::time::Instant::now() >= deadline || shard.is_stopping() => {
                tracing::warn!(
                    "no admin HTTP listener: cannot listen on {listen}: {e} (set --admin-listen)"
                );
                return;
            }
            Err(_) => glommio::timer::sleep(BIND_RETRY_PAUSE).await,
        }
    };
    tracing::info!(listen = %listen, "serving admin HTTP (/metrics, /v1/health, console at /)");
    let accept = async {
        loop {
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    glommio::timer::sleep(std::time::Duration::from_millis(
                        crate::limits::ACCEPT_RETRY_MS,
                    ))
                    .await;
                    continue;
                }
            };
            let shard = shard.clone();
            glommio::spawn_local(async move {
                let mut stream = stream;
                let response = match http::read_request(&mut stream).await {
                    Ok(req) => route(&shard, &req).await,
                    Err(http::BadRequest(why)) => http::Response::text(400, why),
                };
                let _ = stream.write_all(&response.to_bytes()).await;
                let _ = stream.close().await;
            })
            .detach();
        }
    };
    futures::pin_mut!(accept);
    futures::future::select(accept, Box::pin(shard.stopped())).await;
}

async fn route(shard: &Rc<Shard>, req: &http::Request) -> http::Response {
    if req.method != "GET" && req.method != "HEAD" {
        return http::Response::text(405, "only GET".into());
    }
    match req.path.as_str() {
        "/metrics" => {
            let node = report::gather(shard).await;
            http::Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: report::prometheus(&node).into_bytes(),
            }
        }
        "/v1/health" | "/v1/health/ready" => {
            let health = report::health(shard);
            let status = if health.ready { 200 } else { 503 };
            http::Response::json(status, &health.to_json())
        }
        "/v1/health/live" => http::Response::json(200, &serde_json::json!({"live": true})),
        "/v1/brokers" => http::Response::json(200, &report::brokers_json(shard)),
        "/v1/partitions" => {
            let node = report::gather(shard).await;
            http::Response::json(200, &report::partitions_json(&node))
        }
        "/v1/groups" => {
            let node = report::gather(shard).await;
            http::Response::json(200, &report::groups_json(&node))
        }
        "/v1/topics" => {
            let node = report::gather(shard).await;
            http::Response::json(200, &topics::topics_json(shard, &node))
        }
        "/v1/messages" => messages::handle(shard, &req.query).await,
        "/v1/summary" => {
            let node = report::gather(shard).await;
            http::Response::json(200, &summary::summary_json(&node, shard.now_ms()))
        }
        p if p.starts_with("/v1/") => http::Response::error(404, format!("no endpoint {p}")),
        p => console::asset(p).unwrap_or_else(|| http::Response::text(404, "not found".into())),
    }
}
