//! The network of leader-to-follower replication, per shard: a listener every shard binds
//! (its port goes into the broker's registration), and the connections a leader's shard
//! keeps to the follower shards that own its partitions' replicas, so a replicated batch
//! never crosses a core on either side.
//!
//! A connection is dialed by the leader's shard and opened with [`ReplicaMessage::Hello`]
//! naming the follower's node and shard; it then carries frames both ways (the leader's
//! `Lead`, `Truncate`, `Reset`, `Append`; the follower's `Position`, `Ack`, `Fenced`). Frames
//! to send wait in a queue bounded by bytes: a live push that does not fit is refused (the
//! leader then catches the follower up from its log), a catch-up send waits for room.
//!
//! Untrusted bytes: a connection whose first frame is not a well-formed `Hello` for this
//! node and shard, or that later sends anything that does not decode, is closed.

use super::wire::{self, ReplicaMessage, WIRE_VERSION};
use crate::types::NodeId;
use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Bytes queued on one connection before a live push is refused: a few milliseconds of a
/// fast link, enough to keep it full; beyond it the follower reads from the leader's log.
pub const QUEUE_BYTES_MAX: usize = 16 << 20;

/// Bytes read from a socket at a time.
const READ_CHUNK_BYTES: usize = 256 << 10;

/// Wait between dials of a follower that did not answer.
const RECONNECT_MS: u64 = 200;

/// How long a dial may take.
const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// How long an accepted connection may take to say who it is.
const HELLO_TIMEOUT_MS: u64 = 5_000;

/// A frame on its way: the encoded header, then the records as they are (written one after
/// the other, so a pushed batch is not copied into the frame).
#[derive(Debug, Clone)]
pub struct OutFrame {
    head: Bytes,
    records: Vec<Bytes>,
}

impl OutFrame {
    /// A frame of `message` with `records` after it (only for `Append`).
    pub fn new(message: &ReplicaMessage, records: Vec<Bytes>) -> OutFrame {
        let records_len: usize = records.iter().map(|r| r.len()).sum();
        let head = wire::encode_head(message, records_len);
        OutFrame { head, records }
    }

    /// Bytes of the records the frame carries.
    pub fn records_len(&self) -> u64 {
        self.records.iter().map(|r| r.len() as u64).sum()
    }

    fn len(&self) -> usize {
        self.head.len() + self.records.iter().map(|r| r.len()).sum::<usize>()
    }
}

/// Where delivered messages go: the shard's partitions.
pub trait Router {
    /// A message from `from` about one partition; answers go back on `conn`.
    fn deliver(&self, from: NodeId, message: ReplicaMessage, records: Bytes, conn: Rc<Conn>);
    /// The connection to `peer`'s shard `shard` broke (the leader's followers on it must say
    /// where they are again).
    fn lost(&self, peer: NodeId, shard: u16);
}

/// One connection's sending side.
pub struct Conn {
    peer: NodeId,
    queue: RefCell<VecDeque<OutFrame>>,
    queued_bytes: Cell<usize>,
    wake: RefCell<Option<oneshot::Sender<()>>>,
    room: RefCell<Vec<oneshot::Sender<()>>>,
    dead: Cell<bool>,
}

impl Conn {
    fn new(peer: NodeId) -> Rc<Conn> {
        Rc::new(Conn {
            peer,
            queue: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            wake: RefCell::new(None),
            room: RefCell::new(Vec::new()),
            dead: Cell::new(false),
        })
    }

    /// The node at the other end.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// Whether the connection is gone.
    pub fn is_dead(&self) -> bool {
        self.dead.get()
    }

    /// Queues a frame if the connection is up and the queue has room.
    pub fn try_send(&self, frame: OutFrame) -> bool {
        if self.dead.get() || self.queued_bytes.get() + frame.len() > QUEUE_BYTES_MAX {
            return false;
        }
        self.push(frame);
        true
    }

    /// Queues a frame, waiting for room; false if the connection dies first.
    pub async fn send(&self, frame: OutFrame) -> bool {
        loop {
            if self.dead.get() {
                return false;
            }
            let empty = self.queue.borrow().is_empty();
            if empty || self.queued_bytes.get() + frame.len() <= QUEUE_BYTES_MAX {
                self.push(frame);
                return true;
            }
            let (tx, rx) = oneshot::channel();
            self.room.borrow_mut().push(tx);
            let _ = rx.await;
        }
    }

    fn push(&self, frame: OutFrame) {
        self.queued_bytes.set(self.queued_bytes.get() + frame.len());
        self.queue.borrow_mut().push_back(frame);
        if let Some(w) = self.wake.borrow_mut().take() {
            let _ = w.send(());
        }
    }

    fn kill(&self) {
        self.dead.set(true);
        self.queue.borrow_mut().clear();
        self.queued_bytes.set(0);
        if let Some(w) = self.wake.borrow_mut().take() {
            let _ = w.send(());
        }
        for w in self.room.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    async fn next_frames(&self) -> Option<Vec<OutFrame>> {
        loop {
            if self.dead.get() {
                return None;
            }
            let frames: Vec<OutFrame> = self.queue.borrow_mut().drain(..).collect();
            if !frames.is_empty() {
                return Some(frames);
            }
            let (tx, rx) = oneshot::channel();
            *self.wake.borrow_mut() = Some(tx);
            let _ = rx.await;
        }
    }

    fn sent(&self, bytes: usize) {
        self.queued_bytes
            .set(self.queued_bytes.get().saturating_sub(bytes));
        for w in self.room.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}

/// A leader shard's way to one follower shard: the address, and the live connection.
struct Link {
    addr: String,
    conn: RefCell<Option<Rc<Conn>>>,
    dialing: Cell<bool>,
}

/// One shard's replication network.
pub struct ReplicaNet {
    me: NodeId,
    shard: u16,
    cluster_id: [u8; 16],
    links: RefCell<HashMap<(NodeId, u16), Rc<Link>>>,
    router: RefCell<Option<Rc<dyn Router>>>,
    port: Cell<u16>,
    stopping: Cell<bool>,
    me_ref: RefCell<Weak<ReplicaNet>>,
}

impl ReplicaNet {
    /// The network of shard `shard` of node `me`.
    pub fn new(me: NodeId, shard: u16, cluster_id: [u8; 16]) -> Rc<ReplicaNet> {
        let net = Rc::new(ReplicaNet {
            me,
            shard,
            cluster_id,
            links: RefCell::new(HashMap::new()),
            router: RefCell::new(None),
            port: Cell::new(0),
            stopping: Cell::new(false),
            me_ref: RefCell::new(Weak::new()),
        });
        *net.me_ref.borrow_mut() = Rc::downgrade(&net);
        net
    }

    /// Where delivered messages go.
    pub fn set_router(&self, router: Rc<dyn Router>) {
        *self.router.borrow_mut() = Some(router);
    }

    /// The port the listener took.
    pub fn port(&self) -> u16 {
        self.port.get()
    }

    /// Stops dialing; connections close as their tasks notice.
    pub fn stop(&self) {
        self.stopping.set(true);
        for link in self.links.borrow().values() {
            if let Some(c) = link.conn.borrow_mut().take() {
                c.kill();
            }
        }
    }

    /// Binds the listener on `host` (an ephemeral port) and accepts leaders' connections.
    pub fn listen(self: &Rc<Self>, host: std::net::IpAddr) -> std::io::Result<u16> {
        let listener = TcpListener::bind(std::net::SocketAddr::new(host, 0))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let port = listener
            .local_addr()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .port();
        self.port.set(port);
        let me = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                let accepted = listener.accept().await;
                let Some(net) = me.upgrade() else { break };
                if net.stopping.get() {
                    break;
                }
                match accepted {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        let n = net.clone();
                        glommio::spawn_local(async move {
                            if let Err(e) = n.serve_accepted(stream).await {
                                tracing::debug!("replication connection closed: {e}");
                            }
                        })
                        .detach();
                    }
                    Err(e) => {
                        tracing::warn!("replication listener: accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(RECONNECT_MS)).await;
                    }
                }
            }
        })
        .detach();
        Ok(port)
    }

    /// The connection to follower `node`'s shard `shard` at `addr`, dialing it (in the
    /// background) when there is none; `None` while it is not up.
    pub fn connection(&self, node: NodeId, shard: u16, addr: &str) -> Option<Rc<Conn>> {
        let known = self.links.borrow().get(&(node, shard)).cloned();
        let link = match known {
            Some(l) if l.addr == addr => l,
            // A new address (the follower restarted on other ports): a new link.
            old => {
                if let Some(c) = old.and_then(|l| l.conn.borrow_mut().take()) {
                    c.kill();
                }
                let l = Rc::new(Link {
                    addr: addr.to_string(),
                    conn: RefCell::new(None),
                    dialing: Cell::new(false),
                });
                self.links.borrow_mut().insert((node, shard), l.clone());
                l
            }
        };
        let live = link.conn.borrow().clone().filter(|c| !c.is_dead());
        if live.is_some() {
            return live;
        }
        if !link.dialing.replace(true) && !self.stopping.get() {
            let me = self.me_ref.borrow().clone();
            glommio::spawn_local(async move {
                dial(me, node, shard, link).await;
            })
            .detach();
        }
        None
    }

    fn hello(&self, to: NodeId, to_shard: u16) -> OutFrame {
        OutFrame::new(
            &ReplicaMessage::Hello {
                version: WIRE_VERSION,
                cluster_id: self.cluster_id,
                from: self.me,
                to,
                to_shard,
            },
            Vec::new(),
        )
    }

    async fn serve_accepted(self: Rc<Self>, stream: TcpStream) -> Result<(), String> {
        let (mut read, write) = stream.split();
        let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        let first = glommio::timer::timeout(Duration::from_millis(HELLO_TIMEOUT_MS), async {
            Ok(read_frame(&mut read, &mut buf).await)
        })
        .await
        .map_err(|e| e.to_string())??;
        let (hello, _) = wire::decode(first).map_err(|e| e.to_string())?;
        let from = match hello {
            ReplicaMessage::Hello {
                version,
                cluster_id,
                from,
                to,
                to_shard,
            } if version == WIRE_VERSION
                && cluster_id == self.cluster_id
                && to == self.me
                && to_shard == self.shard
                && from.is_some()
                && from != self.me =>
            {
                from
            }
            other => return Err(format!("refused opening frame {other:?}")),
        };
        let conn = Conn::new(from);
        spawn_writer(conn.clone(), write);
        let result = self.read_loop(&mut read, &mut buf, from, &conn).await;
        conn.kill();
        result
    }

    async fn read_loop(
        &self,
        read: &mut futures::io::ReadHalf<TcpStream>,
        buf: &mut BytesMut,
        from: NodeId,
        conn: &Rc<Conn>,
    ) -> Result<(), String> {
        loop {
            let frame = read_frame(read, buf).await?;
            let (message, records) = wire::decode(frame).map_err(|e| e.to_string())?;
            if message.partition().is_none() {
                return Err("a second Hello".into());
            }
            let router = self.router.borrow().clone();
            if let Some(r) = router {
                r.deliver(from, message, records, conn.clone());
            }
            if self.stopping.get() {
                return Ok(());
            }
        }
    }
}

/// Dials a follower shard, opens with `Hello`, and serves the connection until it breaks.
async fn dial(net: Weak<ReplicaNet>, node: NodeId, shard: u16, link: Rc<Link>) {
    let stream = {
        let connect = TcpStream::connect(link.addr.as_str());
        glommio::timer::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), async {
            connect
                .await
                .map_err(|e| glommio::GlommioError::IoError(std::io::Error::other(e.to_string())))
        })
        .await
    };
    let Some(n) = net.upgrade() else { return };
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(
                peer = node.0,
                shard,
                addr = link.addr,
                "cannot reach follower: {e}"
            );
            glommio::timer::sleep(Duration::from_millis(RECONNECT_MS)).await;
            link.dialing.set(false);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.split();
    let conn = Conn::new(node);
    conn.push(n.hello(node, shard));
    spawn_writer(conn.clone(), write);
    *link.conn.borrow_mut() = Some(conn.clone());
    link.dialing.set(false);
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let result = n.read_loop(&mut read, &mut buf, node, &conn).await;
    drop(n);
    conn.kill();
    if let Err(e) = result {
        tracing::debug!(peer = node.0, shard, "replication connection closed: {e}");
    }
    if let Some(n) = net.upgrade() {
        let router = n.router.borrow().clone();
        if let Some(r) = router {
            r.lost(node, shard);
        }
    }
}

fn spawn_writer(conn: Rc<Conn>, mut write: futures::io::WriteHalf<TcpStream>) {
    glommio::spawn_local(async move {
        while let Some(frames) = conn.next_frames().await {
            let mut bytes = 0;
            for f in &frames {
                bytes += f.len();
                let mut ok = write.write_all(&f.head).await.is_ok();
                for r in &f.records {
                    ok = ok && write.write_all(r).await.is_ok();
                }
                if !ok {
                    conn.kill();
                    let _ = write.close().await;
                    return;
                }
            }
            if write.flush().await.is_err() {
                conn.kill();
                return;
            }
            conn.sent(bytes);
        }
        let _ = write.close().await;
    })
    .detach();
}

/// Reads one whole frame, keeping what follows it in `buf`.
async fn read_frame(
    read: &mut futures::io::ReadHalf<TcpStream>,
    buf: &mut BytesMut,
) -> Result<Bytes, String> {
    loop {
        if let Some(n) = wire::frame_len(buf).map_err(|e| e.to_string())? {
            if buf.len() >= n {
                return Ok(buf.split_to(n).freeze());
            }
            buf.reserve(n - buf.len());
        }
        let start = buf.len();
        let want = READ_CHUNK_BYTES.max(buf.capacity() - start);
        buf.resize(start + want, 0);
        let got = match buf.get_mut(start..) {
            Some(space) => read.read(space).await.map_err(|e| e.to_string())?,
            None => 0,
        };
        buf.truncate(start + got);
        if got == 0 {
            return Err("closed by the peer".into());
        }
    }
}
