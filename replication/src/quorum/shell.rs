//! The glommio shell of a controller node: it owns the [`QuorumNode`] over its
//! [`FileStorage`], the [`Controller`] that decides requests while this node leads, and the
//! committed [`MetadataImage`]; it ticks the node, carries out its outputs in order, answers
//! proposals once they commit, and publishes every new image to whoever watches (the local
//! broker).
//!
//! It lives on shard 0 of a controller node and is not `Send`. Peer messages go out through
//! the [`Outbox`] the transport drains; they come in through [`ControllerShell::on_message`].
//!
//! Ordering it relies on (see [`super::node`]): every `Send` is safe to send at once;
//! `Committed` and `RestoreSnapshot` outputs are applied in the order given, before the next
//! step; a `LeaderChanged` comes before the commits of its step.
//!
//! Decisions: while this node leads, requests are decided against a speculative image, the
//! committed one plus every decision proposed and not yet committed, so two decisions in
//! flight never conflict; the speculative image is dropped with the leadership.
//!
//! Blocking: the file storage writes and syncs with plain system calls inside `step`, on the
//! shard's thread. Metadata changes are rare (topic changes, fencing, producer-id blocks;
//! heartbeats write nothing unless they change state), so this costs shard 0 a few fsyncs per
//! change rather than a thread of its own.

use super::file_storage::FileStorage;
use super::node::{
    CommittedRead, ProposalId, QuorumConfig, QuorumInput, QuorumNode, QuorumOutput, QuorumStatus,
};
use crate::clock::Clock;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{MetadataBatch, MetadataRecord};
use crate::controller::{Controller, ControllerConfig, ControllerRequest, ControllerResponse};
use crate::error::{ControllerError, QuorumError};
use crate::types::NodeId;
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// How often the node ticks: with the quorum's default of 10 ticks, a 1–2 s election timeout.
pub const TICK_MS: u64 = 100;

/// Raft messages waiting for the transport before the oldest are dropped (Raft retries).
const OUTBOX_MAX: usize = 10_000;

/// Settings of a controller node.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// Quorum settings (this node, the voters).
    pub quorum: QuorumConfig,
    /// Controller settings (cluster id, session timeout, defaults).
    pub controller: ControllerConfig,
    /// Directory of the Raft log (`<data>/meta/quorum`).
    pub dir: PathBuf,
    /// Records to propose once this node first leads a cluster whose log holds nothing yet
    /// but its cluster id: the import of a single node's older topic catalog.
    pub bootstrap: Vec<MetadataRecord>,
}

/// A committed answer and the index its records took (the caller waits until the image it
/// serves from has reached it). Requests that changed nothing answer with the applied index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The answer.
    pub response: ControllerResponse,
    /// The metadata-log index of the decision's records.
    pub index: u64,
}

/// Raft messages to send, drained by the transport.
#[derive(Default)]
pub struct Outbox {
    messages: RefCell<Vec<(NodeId, Vec<u8>)>>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Outbox {
    fn push(&self, to: NodeId, message: Vec<u8>) {
        let mut m = self.messages.borrow_mut();
        if m.len() >= OUTBOX_MAX {
            m.remove(0);
        }
        m.push((to, message));
        drop(m);
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    /// Everything waiting, oldest first.
    pub fn drain(&self) -> Vec<(NodeId, Vec<u8>)> {
        std::mem::take(&mut *self.messages.borrow_mut())
    }

    /// Resolves once something is waiting.
    pub async fn ready(&self) {
        if !self.messages.borrow().is_empty() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        let _ = rx.await;
    }
}

struct Pending {
    reply: oneshot::Sender<Result<Committed, ControllerError>>,
    response: ControllerResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leadership {
    /// Someone else leads, or nobody.
    Follower { leader: NodeId },
    /// This node leads; it decides once its term's first entry is applied.
    Leader { term_start: u64, active: bool },
}

/// The shell of one controller node.
pub struct ControllerShell {
    node: RefCell<QuorumNode<FileStorage>>,
    controller: RefCell<Controller>,
    committed: RefCell<MetadataImage>,
    speculative: RefCell<Option<MetadataImage>>,
    published: RefCell<Arc<MetadataImage>>,
    watchers: RefCell<Vec<oneshot::Sender<()>>>,
    leadership: Cell<Leadership>,
    term: Cell<u64>,
    pending: RefCell<BTreeMap<ProposalId, Pending>>,
    next_proposal: Cell<u64>,
    bootstrap: RefCell<Vec<MetadataRecord>>,
    /// Set when a new leader's term start was applied: it activates after the step.
    activate_due: Cell<Option<u64>>,
    activated_once: Cell<bool>,
    clock: Rc<dyn Clock>,
    last_ms: Cell<u64>,
    failed: RefCell<Option<String>>,
    /// Raft messages for the transport.
    pub outbox: Outbox,
}

impl ControllerShell {
    /// Opens the node over its directory, replays what is committed, and returns the shell.
    /// A single voter leads at once.
    pub fn open(config: ShellConfig, clock: Rc<dyn Clock>) -> Result<Rc<Self>, QuorumError> {
        let storage = FileStorage::open(&config.dir)?;
        let (node, outputs) = QuorumNode::open(config.quorum, storage)?;
        let shell = Rc::new(ControllerShell {
            node: RefCell::new(node),
            controller: RefCell::new(Controller::new(
                config.controller,
                crate::rng::SplitMix64::from_entropy().next_u64(),
            )),
            committed: RefCell::new(MetadataImage::new()),
            speculative: RefCell::new(None),
            published: RefCell::new(Arc::new(MetadataImage::new())),
            watchers: RefCell::new(Vec::new()),
            leadership: Cell::new(Leadership::Follower {
                leader: NodeId::NONE,
            }),
            term: Cell::new(0),
            pending: RefCell::new(BTreeMap::new()),
            next_proposal: Cell::new(1),
            bootstrap: RefCell::new(config.bootstrap),
            activate_due: Cell::new(None),
            activated_once: Cell::new(false),
            clock,
            last_ms: Cell::new(0),
            failed: RefCell::new(None),
            outbox: Outbox::default(),
        });
        shell.carry_out(outputs)?;
        shell.activate_if_due();
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
        match self.leadership.get() {
            Leadership::Follower { leader } => leader,
            Leadership::Leader { .. } => self.node.borrow().id(),
        }
    }

    /// DescribeQuorum's view.
    pub fn status(&self) -> QuorumStatus {
        self.node.borrow().status()
    }

    /// Committed entries (or a snapshot) for a broker fetching metadata from `from_index`.
    pub fn read_committed(&self, from_index: u64, max_bytes: u64) -> CommittedRead {
        self.node.borrow().read_committed(from_index, max_bytes)
    }

    /// Why the node stopped, if its storage failed.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// One tick of the node; while leading, also the controller's periodic work (fencing).
    pub fn tick(&self) {
        let now = self.now_ms();
        self.step(QuorumInput::Tick { now_ms: now });
        if self.is_active() {
            let records = {
                let spec = self.speculative.borrow();
                match spec.as_ref() {
                    Some(image) => self.controller.borrow_mut().tick(image, now),
                    None => Vec::new(),
                }
            };
            if !records.is_empty() {
                self.propose_records(records, None);
            }
        }
    }

    /// A Raft message from a peer. A malformed or misaddressed one is dropped with a log line.
    pub fn on_message(&self, bytes: Vec<u8>) {
        self.step(QuorumInput::Message(bytes));
    }

    /// The transport could not reach `peer`.
    pub fn unreachable(&self, peer: NodeId) {
        self.step(QuorumInput::Unreachable(peer));
    }

    fn is_active(&self) -> bool {
        matches!(
            self.leadership.get(),
            Leadership::Leader { active: true, .. }
        ) && self.failed.borrow().is_none()
    }

    /// Decides a request (this node must be the active controller) and answers once its
    /// records are committed.
    pub async fn submit(&self, request: ControllerRequest) -> Result<Committed, ControllerError> {
        if !self.is_active() {
            return Err(ControllerError::NotController {
                leader: self.leader(),
            });
        }
        let now = self.now_ms();
        let next_index = self.node.borrow().next_index();
        let decision = {
            let spec = self.speculative.borrow();
            let Some(image) = spec.as_ref() else {
                return Err(ControllerError::NotController {
                    leader: self.leader(),
                });
            };
            self.controller
                .borrow_mut()
                .handle(image, next_index, now, &request)?
        };
        if decision.records.is_empty() {
            return Ok(Committed {
                response: decision.response,
                index: self.committed.borrow().last_applied(),
            });
        }
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            reply: tx,
            response: decision.response,
        };
        self.propose_records(decision.records, Some(pending));
        rx.await
            .unwrap_or_else(|_| Err(ControllerError::NotCommitted("the node stopped".into())))
    }

    /// Proposes records as one entry, applying them to the speculative image first.
    fn propose_records(&self, records: Vec<MetadataRecord>, pending: Option<Pending>) {
        let batch = MetadataBatch { records };
        let next_index = self.node.borrow().next_index();
        if let Some(image) = self.speculative.borrow_mut().as_mut() {
            for (i, reason) in image.apply_batch(next_index, &batch) {
                tracing::debug!(record = i, "speculative record changed nothing: {reason}");
            }
        }
        let id = ProposalId(self.next_proposal.get());
        self.next_proposal.set(id.0 + 1);
        if let Some(p) = pending {
            self.pending.borrow_mut().insert(id, p);
        }
        self.step(QuorumInput::Propose {
            id,
            payload: batch.encode(),
        });
    }

    /// Steps the node and carries out what it returns; a fatal error stops the node.
    fn step(&self, input: QuorumInput) {
        if self.failed.borrow().is_some() {
            return;
        }
        let result = self.node.borrow_mut().step(input);
        match result {
            Ok(outputs) => {
                if let Err(e) = self.carry_out(outputs) {
                    self.fail(e);
                }
            }
            Err(e) if e.is_fatal() => self.fail(e),
            Err(e) => tracing::debug!("controller input refused: {e}"),
        }
        self.activate_if_due();
    }

    /// Activates a new leader whose term start was applied, once the outputs of the step
    /// that applied it are all carried out (its first proposals come after them).
    fn activate_if_due(&self) {
        if let Some(term_start) = self.activate_due.take() {
            let still = matches!(
                self.leadership.get(),
                Leadership::Leader { term_start: t, active: false } if t == term_start
            );
            if still && self.failed.borrow().is_none() {
                self.activate(term_start);
            }
        }
    }

    fn fail(&self, e: QuorumError) {
        tracing::error!("metadata quorum stopped: {e}");
        *self.failed.borrow_mut() = Some(e.to_string());
        self.leadership.set(Leadership::Follower {
            leader: NodeId::NONE,
        });
        self.speculative.borrow_mut().take();
        for (_, p) in std::mem::take(&mut *self.pending.borrow_mut()) {
            let _ = p
                .reply
                .send(Err(ControllerError::NotCommitted("the quorum stopped".into())));
        }
    }

    fn carry_out(&self, outputs: Vec<QuorumOutput>) -> Result<(), QuorumError> {
        let mut applied = false;
        for output in outputs {
            match output {
                QuorumOutput::Send { to, message } => self.outbox.push(to, message),
                QuorumOutput::Proposed { .. } => {}
                QuorumOutput::ProposalDropped { id, leader } => {
                    if let Some(p) = self.pending.borrow_mut().remove(&id) {
                        let _ = p.reply.send(Err(ControllerError::NotController { leader }));
                    }
                }
                QuorumOutput::Committed {
                    index,
                    data,
                    proposal,
                    ..
                } => {
                    self.apply(index, &data, proposal)?;
                    applied = true;
                }
                QuorumOutput::RestoreSnapshot { index, data, .. } => {
                    let image = MetadataImage::from_bytes(&data)?;
                    if image.last_applied() != index {
                        return Err(QuorumError::Corrupt(format!(
                            "snapshot at {index} holds an image at {}",
                            image.last_applied()
                        )));
                    }
                    *self.committed.borrow_mut() = image;
                    applied = true;
                }
                QuorumOutput::LeaderChanged {
                    leader,
                    term,
                    term_start_index,
                } => self.on_leader(leader, term, term_start_index),
                QuorumOutput::SnapshotDue { index } => {
                    let data = {
                        let image = self.committed.borrow();
                        (image.last_applied() == index).then(|| image.to_bytes())
                    };
                    if let Some(data) = data {
                        let outs = self
                            .node
                            .borrow_mut()
                            .step(QuorumInput::SnapshotTaken { index, data })?;
                        self.carry_out(outs)?;
                    }
                }
            }
        }
        if applied {
            self.publish();
        }
        Ok(())
    }

    fn on_leader(&self, leader: NodeId, term: u64, term_start: Option<u64>) {
        self.term.set(term);
        self.speculative.borrow_mut().take();
        match term_start {
            Some(term_start) => {
                self.leadership.set(Leadership::Leader {
                    term_start,
                    active: false,
                });
                tracing::info!(term, "this node is the active controller");
            }
            None => {
                self.leadership.set(Leadership::Follower { leader });
                tracing::info!(term, leader = leader.0, "controller leader changed");
            }
        }
    }

    /// Applies one committed entry; answers its proposal; activates a new leader once its
    /// term's first entry is applied.
    fn apply(
        &self,
        index: u64,
        data: &[u8],
        proposal: Option<ProposalId>,
    ) -> Result<(), QuorumError> {
        if data.is_empty() {
            self.committed.borrow_mut().advance_to(index);
        } else {
            let batch = MetadataBatch::decode(data)?;
            for (i, reason) in self.committed.borrow_mut().apply_batch(index, &batch) {
                tracing::warn!(index, record = i, "metadata record changed nothing: {reason}");
            }
        }
        if let Some(id) = proposal {
            if let Some(p) = self.pending.borrow_mut().remove(&id) {
                let _ = p.reply.send(Ok(Committed {
                    response: p.response,
                    index,
                }));
            }
        }
        if let Leadership::Leader {
            term_start,
            active: false,
        } = self.leadership.get()
        {
            if index >= term_start {
                self.activate_due.set(Some(term_start));
            }
        }
        Ok(())
    }

    fn activate(&self, term_start: u64) {
        let now = self.now_ms();
        let image = self.committed.borrow().clone();
        let mut records = self.controller.borrow_mut().activate(&image, now);
        if !self.activated_once.replace(true) {
            // The broker of this process started with it: whatever registration its id has
            // belongs to a process that is gone.
            let me = self.node.borrow().id();
            self.controller.borrow_mut().forget_session(me);
        }
        // An import of an older single-node catalog goes in once, right after the cluster
        // id, into a log that holds nothing else.
        if image.topic_count() == 0 && image.brokers().count() == 0 {
            records.append(&mut self.bootstrap.borrow_mut());
        }
        *self.speculative.borrow_mut() = Some(image);
        self.leadership.set(Leadership::Leader {
            term_start,
            active: true,
        });
        if !records.is_empty() {
            self.propose_records(records, None);
        }
    }

    fn publish(&self) {
        let image = Arc::new(self.committed.borrow().clone());
        *self.published.borrow_mut() = image;
        for w in self.watchers.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}
