//! The network under the metadata quorum: frames between nodes over TCP, on shard 0.
//!
//! Each node may dial the controllers it knows (`controller.quorum.voters`) and accepts
//! connections on its controller listener when it is one. A connection carries frames both
//! ways: the first frame a peer sends names it, and answers to it go back on that connection
//! when this node has no address of its own for the peer (a broker-only node). Frames to a
//! peer wait in a bounded queue while no connection is up; when it overflows the oldest go
//! (Raft resends, RPC callers time out and retry).
//!
//! Untrusted bytes: every frame is length-checked from its header before its payload is read
//! (and the payload is read only as it arrives), its checksum verified, and it must name this
//! cluster and this node; anything else closes the connection. Nothing a peer sends can panic
//! the shard.

use super::frame::{Frame, FrameKind, FRAME_MAGIC};
use crate::types::NodeId;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Frames queued for one peer while it is unreachable; Raft heartbeats every few hundred
/// milliseconds, so this holds well over a minute of them.
const QUEUE_FRAMES_MAX: usize = 4_096;

/// Bytes read from a socket at a time.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// Wait between attempts to dial a peer that did not answer.
const RECONNECT_MS: u64 = 200;

/// How long a dial may take.
const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// How long a connection may go without a complete frame before it is closed. Raft
/// heartbeats every few hundred milliseconds and brokers every few seconds, so a peer that
/// says nothing for this long is not one (or is gone).
const IDLE_TIMEOUT_MS: u64 = 30_000;

/// A received frame, for the node's router.
pub type Inbound = Box<dyn Fn(Frame)>;

/// One peer: where to dial it (if known), what waits for it, and the connection frames to it
/// go out on.
struct Link {
    addr: Option<String>,
    queue: RefCell<VecDeque<Vec<u8>>>,
    wake: RefCell<Option<futures::channel::oneshot::Sender<()>>>,
    writer: RefCell<Option<Rc<Conn>>>,
    running: Cell<bool>,
}

/// The write side of a live connection.
struct Conn {
    write: RefCell<Option<futures::io::WriteHalf<TcpStream>>>,
    dead: Cell<bool>,
}

/// The transport of one node.
pub struct Transport {
    me: NodeId,
    cluster_id: [u8; 16],
    links: RefCell<HashMap<NodeId, Rc<Link>>>,
    inbound: RefCell<Option<Inbound>>,
    me_ref: RefCell<Weak<Transport>>,
    stopping: Cell<bool>,
}

impl Transport {
    /// A transport for node `me` of cluster `cluster_id`, knowing `peers`' addresses.
    pub fn new(
        me: NodeId,
        cluster_id: [u8; 16],
        peers: impl IntoIterator<Item = (NodeId, String)>,
    ) -> Rc<Transport> {
        let t = Rc::new(Transport {
            me,
            cluster_id,
            links: RefCell::new(HashMap::new()),
            inbound: RefCell::new(None),
            me_ref: RefCell::new(Weak::new()),
            stopping: Cell::new(false),
        });
        *t.me_ref.borrow_mut() = Rc::downgrade(&t);
        for (id, addr) in peers {
            if id != me {
                t.links
                    .borrow_mut()
                    .insert(id, Rc::new(Link::new(Some(addr))));
            }
        }
        t
    }

    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The cluster id frames carry.
    pub fn cluster_id(&self) -> [u8; 16] {
        self.cluster_id
    }

    /// Where received frames go.
    pub fn set_inbound(&self, inbound: Inbound) {
        *self.inbound.borrow_mut() = Some(inbound);
    }

    /// Stops dialing and reading; connections close as their tasks notice.
    pub fn stop(&self) {
        self.stopping.set(true);
        for link in self.links.borrow().values() {
            link.notify();
        }
    }

    fn link(&self, peer: NodeId) -> Rc<Link> {
        self.links
            .borrow_mut()
            .entry(peer)
            .or_insert_with(|| Rc::new(Link::new(None)))
            .clone()
    }

    /// Queues an encoded frame for `to` and makes sure something is sending it.
    pub fn send(&self, to: NodeId, frame: Vec<u8>) {
        let link = self.link(to);
        {
            let mut q = link.queue.borrow_mut();
            if q.len() >= QUEUE_FRAMES_MAX {
                q.pop_front();
            }
            q.push_back(frame);
        }
        link.notify();
        self.ensure_writer(to, &link);
    }

    /// Builds and queues a frame of `kind` for `to`.
    pub fn send_payload(&self, to: NodeId, kind: FrameKind, payload: Vec<u8>) {
        let frame = Frame {
            kind,
            cluster_id: self.cluster_id,
            from: self.me,
            to,
            payload,
        };
        self.send(to, frame.encode());
    }

    fn ensure_writer(&self, peer: NodeId, link: &Rc<Link>) {
        if link.running.replace(true) {
            return;
        }
        let me = self.me_ref.borrow().clone();
        let link = link.clone();
        glommio::spawn_local(async move {
            write_loop(me, peer, link).await;
        })
        .detach();
    }

    /// Accepts peer connections on `addr` until [`Transport::stop`].
    pub fn listen(self: &Rc<Self>, addr: std::net::SocketAddr) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).map_err(|e| std::io::Error::other(e.to_string()))?;
        let me = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                let accepted = listener.accept().await;
                let Some(t) = me.upgrade() else { break };
                if t.stopping.get() {
                    break;
                }
                match accepted {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        t.serve(stream, None);
                    }
                    Err(e) => {
                        tracing::warn!("controller listener: accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(RECONNECT_MS)).await;
                    }
                }
            }
        })
        .detach();
        Ok(())
    }

    /// Reads frames from a connection (dialed to `dialed`, or accepted when `None`).
    fn serve(self: &Rc<Self>, stream: TcpStream, dialed: Option<NodeId>) -> Rc<Conn> {
        let (read, write) = stream.split();
        let conn = Rc::new(Conn {
            write: RefCell::new(Some(write)),
            dead: Cell::new(false),
        });
        let me = Rc::downgrade(self);
        let c = conn.clone();
        glommio::spawn_local(async move {
            if let Err(e) = read_loop(me, read, c.clone(), dialed).await {
                tracing::debug!("peer connection closed: {e}");
            }
            c.dead.set(true);
            c.write.borrow_mut().take();
        })
        .detach();
        conn
    }

    /// A well-formed frame arrived on `conn`: remember the connection as a way back to its
    /// sender, and hand the frame to the router.
    fn received(&self, frame: Frame, conn: &Rc<Conn>) -> Result<(), String> {
        if frame.cluster_id != self.cluster_id {
            return Err("a frame of another cluster".into());
        }
        if frame.to != self.me || frame.from == self.me || !frame.from.is_some() {
            return Err(format!("a frame from {} to {}", frame.from, frame.to));
        }
        let link = self.link(frame.from);
        let usable = link.writer.borrow().as_ref().is_some_and(|w| !w.dead.get());
        if !usable {
            *link.writer.borrow_mut() = Some(conn.clone());
            link.notify();
        }
        if let Some(handler) = self.inbound.borrow().as_ref() {
            handler(frame);
        }
        Ok(())
    }
}

impl Link {
    fn new(addr: Option<String>) -> Link {
        Link {
            addr,
            queue: RefCell::new(VecDeque::new()),
            wake: RefCell::new(None),
            writer: RefCell::new(None),
            running: Cell::new(false),
        }
    }

    fn notify(&self) {
        if let Some(w) = self.wake.borrow_mut().take() {
            let _ = w.send(());
        }
    }

    async fn wait(&self, ms: Option<u64>) {
        let (tx, rx) = futures::channel::oneshot::channel();
        *self.wake.borrow_mut() = Some(tx);
        match ms {
            Some(ms) => {
                let timer = glommio::timer::sleep(Duration::from_millis(ms));
                futures::pin_mut!(timer);
                futures::future::select(rx, timer).await;
            }
            None => {
                let _ = rx.await;
            }
        }
    }
}

/// Sends what is queued for `peer` while there is anything, over its connection, dialing it
/// when it has an address and no live connection.
async fn write_loop(transport: Weak<Transport>, peer: NodeId, link: Rc<Link>) {
    loop {
        let Some(t) = transport.upgrade() else { break };
        if t.stopping.get() {
            break;
        }
        if link.queue.borrow().is_empty() {
            drop(t);
            link.wait(None).await;
            continue;
        }
        let live = link.writer.borrow().clone().filter(|c| !c.dead.get());
        let conn = match live {
            Some(c) => c,
            None => match link.addr.clone() {
                Some(addr) => match dial(&addr).await {
                    Ok(stream) => {
                        let c = t.serve(stream, Some(peer));
                        *link.writer.borrow_mut() = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        tracing::debug!(peer = peer.0, addr, "cannot reach controller peer: {e}");
                        drop(t);
                        link.wait(Some(RECONNECT_MS)).await;
                        continue;
                    }
                },
                // No address: wait for the peer to connect (its answers go back that way).
                None => {
                    drop(t);
                    link.wait(Some(RECONNECT_MS)).await;
                    continue;
                }
            },
        };
        drop(t);
        let frames: Vec<Vec<u8>> = link.queue.borrow_mut().drain(..).collect();
        let writer = conn.write.borrow_mut().take();
        let Some(mut w) = writer else {
            conn.dead.set(true);
            requeue(&link, frames);
            continue;
        };
        let mut failed = false;
        for f in &frames {
            if w.write_all(f).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || w.flush().await.is_err() {
            conn.dead.set(true);
            requeue(&link, frames);
            glommio::timer::sleep(Duration::from_millis(RECONNECT_MS)).await;
        } else {
            *conn.write.borrow_mut() = Some(w);
        }
    }
    link.running.set(false);
}

/// Puts frames that may not have gone out back at the front of the queue (Raft and the RPC
/// callers tolerate a duplicate).
fn requeue(link: &Link, frames: Vec<Vec<u8>>) {
    let mut q = link.queue.borrow_mut();
    for f in frames.into_iter().rev() {
        if q.len() >= QUEUE_FRAMES_MAX {
            break;
        }
        q.push_front(f);
    }
}

async fn dial(addr: &str) -> std::io::Result<TcpStream> {
    let connect = TcpStream::connect(addr);
    let timed = glommio::timer::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), async {
        connect
            .await
            .map_err(|e| glommio::GlommioError::IoError(std::io::Error::other(e.to_string())))
    });
    let stream = timed
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Splits the byte stream into frames and hands each to the transport. Ends (closing the
/// connection) at the first thing that is not a frame of this cluster for this node.
async fn read_loop(
    transport: Weak<Transport>,
    mut read: futures::io::ReadHalf<TcpStream>,
    conn: Rc<Conn>,
    dialed: Option<NodeId>,
) -> Result<(), String> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    loop {
        while let Some(total) = Frame::frame_len(&buf).map_err(|e| e.to_string())? {
            if buf.len() < total {
                break;
            }
            let (frame, used) = match Frame::decode(&buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            };
            buf.drain(..used);
            if dialed.is_some_and(|p| p != frame.from) {
                return Err(format!(
                    "peer {} answered as {}",
                    dialed.map_or(-1, |p| p.0),
                    frame.from
                ));
            }
            let Some(t) = transport.upgrade() else {
                return Ok(());
            };
            t.received(frame, &conn)?;
        }
        if transport.upgrade().is_none_or(|t| t.stopping.get()) {
            return Ok(());
        }
        // Refuse a stream that is not ours as soon as its first bytes say so.
        let prefix = buf.len().min(FRAME_MAGIC.len());
        if buf.get(..prefix) != FRAME_MAGIC.get(..prefix) {
            return Err("not a Myelin peer".into());
        }
        let idle = Duration::from_millis(IDLE_TIMEOUT_MS);
        let n = glommio::timer::timeout(idle, async {
            read.read(&mut chunk)
                .await
                .map_err(glommio::GlommioError::IoError)
        })
        .await
        .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed by the peer".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}
