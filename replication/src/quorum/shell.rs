//! The glommio shell of a controller node: it drives the sans-IO [`MetadataNode`] (quorum,
//! controller, committed image) over its [`FileStorage`] and the [`Transport`]: it ticks it,
//! feeds it frames, sends what it returns, answers local requests, and publishes every new
//! committed image to whoever watches (the local broker).
//!
//! It lives on shard 0 of a controller node and is not `Send`.
//!
//! Blocking: the file storage writes and syncs with plain system calls inside each step, on
//! the shard's thread. Metadata changes are rare (topic changes, fencing, producer-id blocks;
//! heartbeats write nothing unless they change state), so this costs shard 0 a few fsyncs per
//! change rather than a thread of its own.

use super::file_storage::FileStorage;
use super::frame::Frame;
use super::node::QuorumStatus;
use super::transport::Transport;
use crate::clock::Clock;
use crate::cluster::image::MetadataImage;
use crate::controller::{ControllerRequest, ControllerResponse};
use crate::error::{ControllerError, QuorumError};
use crate::metadata_node::{MetadataNode, MetadataNodeConfig, NodeOutput};
use crate::types::NodeId;
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// How often the node ticks: with the quorum's default of 10 ticks, a 1–2 s election timeout.
pub const TICK_MS: u64 = 100;

/// A committed answer and the index the controller had applied when it gave it: a caller
/// serving from its own copy of the image waits until that copy has reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The answer.
    pub response: ControllerResponse,
    /// The committed index.
    pub index: u64,
}

type Waiter = oneshot::Sender<(Result<ControllerResponse, ControllerError>, u64)>;

/// The shell of one controller node.
pub struct ControllerShell {
    node: RefCell<MetadataNode<FileStorage>>,
    transport: Rc<Transport>,
    published: RefCell<Arc<MetadataImage>>,
    watchers: RefCell<Vec<oneshot::Sender<()>>>,
    local: RefCell<HashMap<u64, Waiter>>,
    next_request: Cell<u64>,
    clock: Rc<dyn Clock>,
    last_ms: Cell<u64>,
    failed: RefCell<Option<String>>,
}

impl ControllerShell {
    /// Opens the node over the Raft log in `dir`, replays what is committed, and returns the
    /// shell. A single voter leads at once.
    pub fn open(
        config: MetadataNodeConfig,
        dir: &Path,
        transport: Rc<Transport>,
        clock: Rc<dyn Clock>,
    ) -> Result<Rc<ControllerShell>, QuorumError> {
        let storage = FileStorage::open(dir)?;
        let now = u64::try_from(clock.now_ms()).unwrap_or(0);
        let (node, outputs) = MetadataNode::open(config, storage, now)?;
        let shell = Rc::new(ControllerShell {
            published: RefCell::new(Arc::new(node.image().clone())),
            node: RefCell::new(node),
            transport,
            watchers: RefCell::new(Vec::new()),
            local: RefCell::new(HashMap::new()),
            next_request: Cell::new(1),
            clock,
            last_ms: Cell::new(now),
            failed: RefCell::new(None),
        });
        shell.carry_out(outputs);
        Ok(shell)
    }

    /// Monotonic milliseconds from the shard's clock (never back, even if the wall is).
    fn now_ms(&self) -> u64 {
        let now = u64::try_from(self.clock.now_ms()).unwrap_or(0);
        let now = now.max(self.last_ms.get());
        self.last_ms.set(now);
        now
    }

    /// The committed image, as last published.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.published.borrow().clone()
    }

    /// Resolves at the next published image.
    pub async fn changed(&self) {
        let (tx, rx) = oneshot::channel();
        self.watchers.borrow_mut().push(tx);
        let _ = rx.await;
    }

    /// The leader this node knows of (itself included), or [`NodeId::NONE`].
    pub fn leader(&self) -> NodeId {
        self.node.borrow().quorum().leader_id()
    }

    /// Whether this node decides requests now.
    pub fn is_active(&self) -> bool {
        self.failed.borrow().is_none() && self.node.borrow().is_active()
    }

    /// DescribeQuorum's view.
    pub fn status(&self) -> QuorumStatus {
        self.node.borrow().quorum().status()
    }

    /// Why the node stopped, if its storage failed.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// One tick: Raft's clock, and the controller's periodic work while it leads.
    pub fn tick(&self) {
        let now = self.now_ms();
        let result = self.node.borrow_mut().tick(now);
        self.absorb(result);
    }

    /// A frame a peer sent (Raft, a controller request, a metadata fetch).
    pub fn receive(&self, frame: &Frame) {
        let now = self.now_ms();
        let bytes = frame.encode();
        let result = self.node.borrow_mut().receive(now, &bytes);
        self.absorb(result);
    }

    /// Decides a request made in this process; answers once its records are committed.
    pub async fn submit(&self, request: &ControllerRequest) -> Result<Committed, ControllerError> {
        if let Some(why) = self.failure() {
            return Err(ControllerError::NotCommitted(why));
        }
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.local.borrow_mut().insert(id, tx);
        let now = self.now_ms();
        let result = self.node.borrow_mut().request(now, id, request);
        self.absorb(result);
        match rx.await {
            Ok((Ok(response), index)) => Ok(Committed { response, index }),
            Ok((Err(e), _)) => Err(e),
            Err(_) => Err(ControllerError::NotCommitted("the quorum stopped".into())),
        }
    }

    fn absorb(&self, result: Result<Vec<NodeOutput>, QuorumError>) {
        match result {
            Ok(outputs) => self.carry_out(outputs),
            Err(e) if e.is_fatal() => self.fail(e),
            Err(e) => tracing::debug!("controller input refused: {e}"),
        }
    }

    fn carry_out(&self, outputs: Vec<NodeOutput>) {
        let mut changed = false;
        for o in outputs {
            match o {
                NodeOutput::Send { to, frame } => self.transport.send(to, frame),
                NodeOutput::Reply {
                    request_id,
                    result,
                    index,
                } => {
                    if let Some(w) = self.local.borrow_mut().remove(&request_id) {
                        let _ = w.send((result, index));
                    }
                }
                NodeOutput::ImageChanged { .. } => changed = true,
                NodeOutput::Ignored { reason } => tracing::debug!("controller: {reason}"),
            }
        }
        if changed {
            self.publish();
        }
    }

    fn fail(&self, e: QuorumError) {
        tracing::error!("metadata quorum stopped: {e}");
        *self.failed.borrow_mut() = Some(e.to_string());
        for (_, w) in self.local.borrow_mut().drain() {
            let _ = w.send((
                Err(ControllerError::NotCommitted("the quorum stopped".into())),
                0,
            ));
        }
    }

    fn publish(&self) {
        let image = Arc::new(self.node.borrow().image().clone());
        *self.published.borrow_mut() = image;
        for w in self.watchers.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}
