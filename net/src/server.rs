//! The Kafka listener of one shard: accepts connections (every shard binds the same port with
//! SO_REUSEPORT), reads length-prefixed frames, and answers them in order.

use crate::api::DispatchError;
use crate::limits;
use bytes::{Bytes, BytesMut};
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use myelin_shards::Shard;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

/// Endpoint settings every shard shares.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// This node's broker id.
    pub node_id: i32,
    /// Host clients are told to connect to.
    pub advertised_host: String,
    /// Port clients are told to connect to.
    pub advertised_port: i32,
    /// The name of this client listener (`PLAINTEXT`): the endpoint of each broker that
    /// Metadata and FindCoordinator hand out to clients of this listener.
    pub listener_name: String,
    /// This listener's security protocol.
    pub protocol: crate::security::SecurityProtocol,
    /// This listener's SASL settings (used when the protocol is a SASL one).
    pub sasl: crate::security::SaslConfig,
    /// This listener's TLS files (set when the protocol is SSL or SASL_SSL).
    pub tls: Option<crate::security::tls::TlsConfig>,
    /// Group coordinator settings.
    pub coordinator: crate::group::coordinator::CoordinatorConfig,
    /// `offsets.topic.replication.factor`.
    pub offsets_replication_factor: i16,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_replication_factor: i16,
    /// `transaction.state.log.min.isr`: `min.insync.replicas` of `__transaction_state`.
    pub transaction_state_min_isr: i32,
    /// `max.connections.per.ip`, its overrides and `max.connection.creation.rate`.
    pub connection_limits: crate::quota::connections::ConnectionLimits,
    /// The authorizer settings (disabled: every request is allowed).
    pub authorizer: crate::security::authz::AuthorizerConfig,
}

/// What a request handler can reach.
pub struct Ctx {
    /// The shard serving the connection.
    pub shard: Rc<Shard>,
    /// Endpoint settings.
    pub server: Rc<ServerConfig>,
    /// The client's address as Kafka reports it (`/127.0.0.1`).
    pub peer: String,
    /// Who the client is.
    pub identity: crate::security::Identity,
    /// This shard's client-quota rates.
    pub quotas: Rc<crate::quota::Quotas>,
    /// Until when the connection is muted for a quota violation.
    pub mute: crate::quota::Mute,
}

impl Ctx {
    /// The client's principal (`User:ANONYMOUS` until it authenticates).
    pub fn principal(&self) -> String {
        self.identity.principal()
    }

    /// The client's host as ACLs name it (`127.0.0.1`, without Kafka's leading slash).
    pub fn host(&self) -> &str {
        self.peer.strip_prefix('/').unwrap_or(&self.peer)
    }
}

/// Serves Kafka clients on this shard until shutdown, then lets open connections finish the
/// request they are in.
pub async fn serve(shard: Rc<Shard>, listeners: Vec<ServerConfig>) {
    // Clients are served once the controller has unfenced this broker (it registered and
    // caught up with the metadata log), as a Kafka broker opens its listener only then.
    let unfenced = shard.on_cluster(|c| async move { c.unfenced().await });
    futures::pin_mut!(unfenced);
    let stop = shard.stopped();
    futures::pin_mut!(stop);
    if let futures::future::Either::Right(_) = futures::future::select(unfenced, stop).await {
        return;
    }
    let mut bound = Vec::new();
    for config in listeners {
        match TcpListener::bind(config.listen) {
            Ok(l) => bound.push((l, Rc::new(config))),
            Err(e) => {
                tracing::error!(
                    shard = shard.id.0,
                    "cannot listen on {}: {e}",
                    config.listen
                );
                return;
            }
        }
    }
    let Some(first) = bound.first().map(|(_, c)| c.clone()) else {
        return;
    };
    myelin_coordinator::install(&shard, first.coordinator);
    // Deleted topics leave this shard's per-topic traffic counters.
    shard.on_metadata(Rc::new(|s: &Rc<Shard>| {
        let image = s.metadata();
        myelin_metrics::retain_topics(|name| image.topic(name).is_some());
    }));
    if shard.id.0 == 0 {
        for (_, c) in &bound {
            tracing::info!(listener = %c.listener_name, protocol = c.protocol.name(), listen = %c.listen, "serving Kafka clients");
        }
    }
    crate::txn::coordinator::recover(&shard).await;
    let open = Rc::new(Cell::new(0usize));
    let quotas = Rc::new(crate::quota::Quotas::default());
    let connections = Rc::new(crate::quota::connections::Connections::default());
    let accepts = bound.into_iter().map(|(listener, server)| {
        let shard = shard.clone();
        let open = open.clone();
        let limits = (quotas.clone(), connections.clone());
        Box::pin(accept_loop(shard, listener, server, open, limits))
    });
    let accept = futures::future::join_all(accepts);
    futures::pin_mut!(accept);
    futures::future::select(accept, Box::pin(shard.stopped())).await;
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_millis(myelin_shards::limits::SHUTDOWN_GRACE_MS);
    while open.get() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(std::time::Duration::from_millis(limits::DRAIN_CHECK_MS)).await;
    }
    if open.get() > 0 {
        tracing::warn!(
            shard = shard.id.0,
            open = open.get(),
            "client connections still busy after the shutdown grace period"
        );
    }
}

/// Accepts the connections of one listener until the shard stops.
async fn accept_loop(
    shard: Rc<Shard>,
    listener: TcpListener,
    server: Rc<ServerConfig>,
    open: Rc<Cell<usize>>,
    (quotas, connections): (
        Rc<crate::quota::Quotas>,
        Rc<crate::quota::connections::Connections>,
    ),
) {
    let tls = match &server.tls {
        Some(c) if server.protocol.tls() => match crate::security::tls::Reloading::new(c.clone()) {
            Ok(r) => Some(Rc::new(r)),
            Err(e) => {
                tracing::error!(listener = %server.listener_name, "TLS: {e}");
                return;
            }
        },
        _ if server.protocol.tls() => {
            tracing::error!(listener = %server.listener_name, "TLS listener without ssl.keystore.location");
            return;
        }
        _ => None,
    };
    {
        loop {
            // `max.connection.creation.rate`: the listener waits before its next accept.
            let wait_ms =
                connections.listener_throttle_ms(&server.connection_limits, quotas.now_ms());
            if wait_ms > 0 {
                glommio::timer::sleep(std::time::Duration::from_millis(wait_ms)).await;
            }
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    glommio::timer::sleep(std::time::Duration::from_millis(
                        limits::ACCEPT_RETRY_MS,
                    ))
                    .await;
                    continue;
                }
            };
            if open.get() >= limits::CONNECTIONS_PER_SHARD_MAX {
                drop(stream);
                continue;
            }
            let peer_ip = stream.peer_addr().ok().map(|a| a.ip());
            if let Some(ip) = peer_ip {
                use crate::quota::connections::Admit;
                let image = shard.metadata();
                let quota_table = &image.security().quotas;
                match connections.admit(&server.connection_limits, quota_table, ip, quotas.now_ms())
                {
                    Admit::Yes => {}
                    Admit::TooMany => {
                        tracing::debug!(%ip, "too many connections from the address");
                        drop(stream);
                        continue;
                    }
                    Admit::Throttled(ms) => {
                        // Kafka holds the connection for the throttle time, then closes it,
                        // so the client does not reconnect at once.
                        glommio::spawn_local(async move {
                            glommio::timer::sleep(std::time::Duration::from_millis(ms)).await;
                            drop(stream);
                        })
                        .detach();
                        continue;
                    }
                }
            }
            let peer = peer_ip.map(|ip| format!("/{ip}")).unwrap_or_default();
            let ctx = Rc::new(Ctx {
                shard: shard.clone(),
                server: server.clone(),
                peer,
                identity: Default::default(),
                quotas: quotas.clone(),
                mute: Default::default(),
            });
            let connections = connections.clone();
            let open = open.clone();
            open.set(open.get() + 1);
            myelin_metrics::record(|m| m.connections_accepted.add(1));
            let acceptor = tls.as_ref().map(|t| t.acceptor());
            glommio::spawn_local(async move {
                let served = match acceptor {
                    None => connection(&ctx, stream).await,
                    Some(acceptor) => tls_connection(&ctx, stream, acceptor).await,
                };
                if let Err(e) = served {
                    tracing::debug!("connection closed: {e}");
                }
                open.set(open.get() - 1);
                if let Some(ip) = peer_ip {
                    connections.closed(ip);
                }
                myelin_metrics::record(|m| m.connections_closed.add(1));
            })
            .detach();
        }
    }
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is outside the limit")]
    FrameSize(i64),
    #[error("bad request header: {0}")]
    Header(String),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("shutting down")]
    Stopping,
    #[error("closed: {0}")]
    Closed(String),
    #[error("not authenticated within {0} ms")]
    AuthenticationTimeout(u64),
}

/// A response on its way: the request's task, or an answer known at once.
type Pending = glommio::task::JoinHandle<Result<Option<BytesMut>, DispatchError>>;

/// A request in flight on a connection: its API key, when it was read, its response.
struct InFlight {
    api_key: i16,
    read_at: std::time::Instant,
    response: Pending,
}

/// Completes the TLS handshake (within the authentication deadline), takes the principal
/// from a client certificate, and serves the connection over TLS.
async fn tls_connection(
    ctx: &Rc<Ctx>,
    stream: TcpStream,
    acceptor: futures_rustls::TlsAcceptor,
) -> Result<(), ConnectionEnd> {
    stream
        .set_nodelay(true)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let handshake = acceptor.accept(stream);
    futures::pin_mut!(handshake);
    let limit = std::time::Duration::from_millis(limits::AUTHENTICATION_TIMEOUT_MS);
    let tls = match futures::future::select(handshake, Box::pin(glommio::timer::sleep(limit))).await
    {
        futures::future::Either::Left((r, _)) => r?,
        futures::future::Either::Right(_) => {
            return Err(ConnectionEnd::AuthenticationTimeout(
                limits::AUTHENTICATION_TIMEOUT_MS,
            ))
        }
    };
    let principal = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(crate::security::tls::principal_of);
    if let Some(p) = principal {
        ctx.identity.certificate_principal(p);
    }
    serve_stream(ctx, tls).await
}

/// Serves one plaintext connection.
async fn connection(ctx: &Rc<Ctx>, stream: TcpStream) -> Result<(), ConnectionEnd> {
    stream
        .set_nodelay(true)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    serve_stream(ctx, stream).await
}

/// Serves one connection. The reader reads a request, starts it as its own task, and goes
/// on to the next request once the task says the request is dispatched (see
/// [`api::dispatch`]); the writer sends responses strictly in request order.
async fn serve_stream<S>(ctx: &Rc<Ctx>, stream: S) -> Result<(), ConnectionEnd>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin + 'static,
{
    let (mut reader, mut writer) = stream.split();
    let (queue, responses) = glommio::channels::local_channel::new_bounded::<InFlight>(
        limits::IN_FLIGHT_PER_CONNECTION_MAX,
    );
    let write = glommio::spawn_local(async move {
        while let Some(request) = responses.recv().await {
            match request.response.await {
                Some(Ok(Some(frame))) => {
                    writer.write_all(&frame).await?;
                    // TLS holds records until flushed; plaintext flushes for free.
                    writer.flush().await?;
                    myelin_metrics::record(|m| m.net_bytes_out.add(frame.len() as u64));
                    myelin_metrics::request(request.api_key, request.read_at.elapsed());
                }
                Some(Ok(None)) => {
                    myelin_metrics::request(request.api_key, request.read_at.elapsed());
                }
                Some(Err(DispatchError::CloseAfter { response, reason })) => {
                    writer.write_all(&response).await?;
                    writer.flush().await?;
                    let _ = writer.close().await;
                    return Err(ConnectionEnd::Closed(reason));
                }
                Some(Err(e)) => {
                    let _ = writer.close().await;
                    return Err(ConnectionEnd::Dispatch(e));
                }
                None => return Err(ConnectionEnd::Stopping),
            }
        }
        Ok(())
    });
    let accepted = std::time::Instant::now();
    let read = async move {
        loop {
            // A quota violation mutes the connection: its next request is not read yet.
            ctx.mute.wait().await;
            let next = if ctx.server.protocol.sasl() && !ctx.identity.is_authenticated() {
                // Before authentication: small frames, and a deadline for the handshake.
                let left = (accepted
                    + std::time::Duration::from_millis(limits::AUTHENTICATION_TIMEOUT_MS))
                .saturating_duration_since(std::time::Instant::now());
                let read = read_request(ctx, &mut reader, limits::UNAUTHENTICATED_FRAME_BYTES_MAX);
                futures::pin_mut!(read);
                match futures::future::select(read, Box::pin(glommio::timer::sleep(left))).await {
                    futures::future::Either::Left((r, _)) => r,
                    futures::future::Either::Right(_) => Err(ConnectionEnd::AuthenticationTimeout(
                        limits::AUTHENTICATION_TIMEOUT_MS,
                    )),
                }
            } else {
                read_request(ctx, &mut reader, limits::FRAME_BYTES_MAX).await
            };
            let (header, body) = match next {
                Ok(r) => r,
                Err(e) => break e,
            };
            // A mute that began while this request was being read holds it too.
            ctx.mute.wait().await;
            let read_at = std::time::Instant::now();
            let api_key = header.request_api_key;
            let (dispatched, placed) = futures::channel::oneshot::channel();
            let task_ctx = ctx.clone();
            let task = glommio::spawn_local(async move {
                crate::quota::enforce::dispatch(&task_ctx, &header, body, dispatched).await
            })
            .detach();
            // Wait until the request's order is fixed (or it failed) before reading on.
            let _ = placed.await;
            let request = InFlight {
                api_key,
                read_at,
                response: task,
            };
            if queue.send(request).await.is_err() {
                break ConnectionEnd::Stopping;
            }
        }
    };
    // A failed response ends the connection at once; a finished reader lets the responses
    // already started go out first.
    // The reader owns the queue: when it finishes, the queue closes and the writer drains it.
    match futures::future::select(Box::pin(read), write).await {
        futures::future::Either::Left((end, write)) => {
            write.await?;
            Err(end)
        }
        futures::future::Either::Right((written, _)) => written,
    }
}

async fn read_request<R: futures::AsyncRead + Unpin>(
    ctx: &Ctx,
    stream: &mut R,
    frame_max: usize,
) -> Result<(RequestHeader, Bytes), ConnectionEnd> {
    let mut len = [0u8; 4];
    let read = stream.read_exact(&mut len);
    futures::pin_mut!(read);
    // Between requests, shutdown may end the connection.
    match futures::future::select(read, Box::pin(ctx.shard.stopped())).await {
        futures::future::Either::Left((r, _)) => r?,
        futures::future::Either::Right(_) => return Err(ConnectionEnd::Stopping),
    }
    let len = i32::from_be_bytes(len) as i64;
    if len < 8 || len as usize > frame_max {
        return Err(ConnectionEnd::FrameSize(len));
    }
    myelin_metrics::record(|m| m.net_bytes_in.add(4 + len as u64));
    // Peek at the API key before reading the body: only Produce may be large.
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    if i16::from_be_bytes(head) != ApiKey::Produce as i16
        && len as usize > limits::CONTROL_FRAME_BYTES_MAX
    {
        return Err(ConnectionEnd::FrameSize(len));
    }
    let mut frame = BytesMut::zeroed(len as usize);
    if let Some(dst) = frame.get_mut(..2) {
        dst.copy_from_slice(&head);
    }
    if let Some(rest) = frame.get_mut(2..) {
        stream.read_exact(rest).await?;
    }
    let mut body: Bytes = frame.freeze();
    let header = parse_header(&mut body)?;
    Ok((header, body))
}

fn parse_header(body: &mut Bytes) -> Result<RequestHeader, ConnectionEnd> {
    let field = |at: usize| {
        body.get(at..at + 2)
            .and_then(|s| s.try_into().ok())
            .map(i16::from_be_bytes)
    };
    let (Some(key), Some(version)) = (field(0), field(2)) else {
        return Err(ConnectionEnd::Header("short".into()));
    };
    let api_key = ApiKey::try_from(key)
        .map_err(|_| ConnectionEnd::Header(format!("unknown api key {key}")))?;
    let header_version = api_key.request_header_version(version);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        RequestHeader::decode(body, header_version)
    })) {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(ConnectionEnd::Header(e.to_string())),
        Err(_) => Err(ConnectionEnd::Header("header decoder panicked".into())),
    }
}
