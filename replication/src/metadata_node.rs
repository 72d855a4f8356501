//! A controller node: the quorum, the committed image, and (while it leads) the controller,
//! glued into one sans-IO state machine that speaks frames. It runs on shard 0 of a
//! controller node; the shell feeds it time, frames and local requests, and sends what it
//! returns.
//!
//! Invariants:
//! * The committed image is exactly the committed log applied in order (or a snapshot of it).
//! * The node is *active* (decides requests) only while it leads and has applied every entry
//!   up to the first entry of its term, so its image holds everything earlier leaders
//!   committed. Decisions are made against a speculative image: the committed image plus every
//!   batch this leadership proposed and has not seen commit; it is discarded when leadership
//!   goes.
//! * A request is answered once its records are committed (at once when there are none);
//!   if leadership goes first it is answered NOT_CONTROLLER, and the client retries.
//!
//! Ordering the shell must keep: outputs in the order returned (frames may go out in any
//! order, Raft tolerates it), local replies to whoever asked.

use crate::cluster::image::MetadataImage;
use crate::cluster::records::{MetadataBatch, MetadataRecord};
use crate::controller::{Controller, ControllerConfig, ControllerRequest, ControllerResponse};
use crate::error::{ControllerError, QuorumError};
use crate::limits::FETCH_METADATA_BYTES_MAX;
use crate::quorum::frame::Frame;
use crate::quorum::node::QuorumOutput;
use crate::quorum::node::{CommittedRead, ProposalId, QuorumConfig, QuorumInput, QuorumNode};
use crate::quorum::rpc::{self, FetchMetadata, MetadataAnswer, Payload, RpcRequest, RpcResponse};
use crate::quorum::storage::DurableStorage;
use crate::types::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// Settings of a controller node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataNodeConfig {
    /// The quorum.
    pub quorum: QuorumConfig,
    /// The controller it runs while it leads.
    pub controller: ControllerConfig,
    /// Seed of the ids the controller draws (topic ids).
    pub id_seed: u64,
    /// Records the first leader of a new log proposes after the cluster id: the import of a
    /// single node's older topic catalog, say. Ignored once the log holds a cluster id.
    pub initial_records: Vec<MetadataRecord>,
}

/// Who is waiting for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// A request made in this process ([`MetadataNode::request`]).
    Local(u64),
    /// A request that came in a frame from `node` with `request_id`.
    Remote {
        /// The node to answer.
        node: NodeId,
        /// Its request id.
        request_id: u64,
    },
}

/// What the node asks of its shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutput {
    /// Send this frame to `to`.
    Send {
        /// The peer.
        to: NodeId,
        /// The encoded frame.
        frame: Vec<u8>,
    },
    /// The answer to a local request.
    Reply {
        /// The local request id.
        request_id: u64,
        /// The answer.
        result: Result<ControllerResponse, ControllerError>,
        /// The committed index when it was given: a caller serving from its own image waits
        /// until that image has reached it.
        index: u64,
    },
    /// The committed image moved to this version (publish it to the other shards).
    ImageChanged {
        /// [`MetadataImage::version`].
        version: u64,
    },
    /// A frame or entry was ignored (for the log; nothing to do).
    Ignored {
        /// Why.
        reason: String,
    },
}

/// A proposal waiting for its commit.
struct Pending {
    requester: Option<Requester>,
    response: Option<ControllerResponse>,
    batch: MetadataBatch,
}

/// A controller node over durable storage `D`.
pub struct MetadataNode<D: DurableStorage> {
    cluster_id: [u8; 16],
    quorum: QuorumNode<D>,
    image: MetadataImage,
    controller: Controller,
    /// While leading: the first index of this term; active once it is applied.
    term_start: Option<u64>,
    speculative: Option<MetadataImage>,
    pending: BTreeMap<ProposalId, Pending>,
    next_proposal: u64,
    now_ms: u64,
    audit: Option<Vec<(u64, u32)>>,
    initial_records: Vec<MetadataRecord>,
    activated_once: bool,
}

impl<D: DurableStorage> std::fmt::Debug for MetadataNode<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataNode")
            .field("quorum", &self.quorum)
            .field("version", &self.image.version())
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl<D: DurableStorage> MetadataNode<D> {
    /// Opens the node: recovers the quorum, restores the image from the latest snapshot and
    /// replays the committed log after it.
    pub fn open(
        config: MetadataNodeConfig,
        durable: D,
        now_ms: u64,
    ) -> Result<(MetadataNode<D>, Vec<NodeOutput>), QuorumError> {
        let (quorum, outputs) = QuorumNode::open(config.quorum, durable)?;
        let mut node = MetadataNode {
            cluster_id: config.controller.cluster_id,
            quorum,
            image: MetadataImage::new(),
            controller: Controller::new(config.controller, config.id_seed),
            term_start: None,
            speculative: None,
            pending: BTreeMap::new(),
            next_proposal: 1,
            now_ms,
            audit: None,
            initial_records: config.initial_records,
            activated_once: false,
        };
        let mut out = Vec::new();
        node.absorb(outputs, &mut out)?;
        Ok((node, out))
    }

    /// The committed image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The quorum (status for DescribeQuorum, leader, term).
    pub fn quorum(&self) -> &QuorumNode<D> {
        &self.quorum
    }

    /// The controller (session times, for DescribeCluster and tests).
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Whether this node decides requests now.
    pub fn is_active(&self) -> bool {
        self.speculative.is_some()
    }

    /// Whether proposals of this leadership are still waiting for their commit.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The speculative image, while active.
    pub fn speculative_image(&self) -> Option<&MetadataImage> {
        self.speculative.as_ref()
    }

    /// Records (index, CRC-32C of the image bytes) after every applied entry, for a simulator
    /// that compares nodes. Off by default: it serializes the image per entry.
    pub fn enable_audit(&mut self) {
        self.audit = Some(Vec::new());
    }

    /// Takes the audit records gathered so far.
    pub fn take_audit(&mut self) -> Vec<(u64, u32)> {
        self.audit.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Time passed: one Raft tick, and the controller's periodic work while active.
    pub fn tick(&mut self, now_ms: u64) -> Result<Vec<NodeOutput>, QuorumError> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out = Vec::new();
        let outputs = self.quorum.step(QuorumInput::Tick {
            now_ms: self.now_ms,
        })?;
        self.absorb(outputs, &mut out)?;
        if let Some(spec) = &self.speculative {
            let records = self.controller.tick(spec, self.now_ms);
            if !records.is_empty() {
                self.propose(records, None, None, &mut out)?;
            }
        }
        Ok(out)
    }

    /// A request made in this process (the embedded broker, an admin handler).
    pub fn request(
        &mut self,
        now_ms: u64,
        request_id: u64,
        request: &ControllerRequest,
    ) -> Result<Vec<NodeOutput>, QuorumError> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out = Vec::new();
        self.decide(Requester::Local(request_id), request, &mut out)?;
        Ok(out)
    }

    /// One complete frame from a peer (the shell splits its byte stream with
    /// [`Frame::decode`]). Bad frames are ignored with a reason, never fatal.
    pub fn receive(&mut self, now_ms: u64, bytes: &[u8]) -> Result<Vec<NodeOutput>, QuorumError> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out = Vec::new();
        let frame = match Frame::decode(bytes) {
            Ok(Some((frame, used))) if used == bytes.len() => frame,
            Ok(_) => return Ok(ignored("not exactly one frame")),
            Err(e) => return Ok(ignored(&e.to_string())),
        };
        if frame.cluster_id != self.cluster_id || frame.to != self.quorum.id() {
            return Ok(ignored("frame for another cluster or node"));
        }
        let payload = match rpc::decode_payload(frame.kind, &frame.payload) {
            Ok(p) => p,
            Err(e) => return Ok(ignored(&e.to_string())),
        };
        match payload {
            Payload::Raft(message) => match self.quorum.step(QuorumInput::Message(message)) {
                Ok(outputs) => self.absorb(outputs, &mut out)?,
                Err(e) if !e.is_fatal() => out.push(NodeOutput::Ignored {
                    reason: e.to_string(),
                }),
                Err(e) => return Err(e),
            },
            Payload::Request(RpcRequest {
                request_id,
                request,
            }) => {
                let requester = Requester::Remote {
                    node: frame.from,
                    request_id,
                };
                self.decide(requester, &request, &mut out)?;
            }
            Payload::Fetch(FetchMetadata {
                request_id,
                from_index,
            }) => {
                let answer = match self
                    .quorum
                    .read_committed(from_index, FETCH_METADATA_BYTES_MAX)
                {
                    CommittedRead::Entries(entries) => MetadataAnswer::Entries {
                        request_id,
                        entries: entries.into_iter().map(|(i, d)| (i, d.to_vec())).collect(),
                        high_watermark: self.quorum.commit_index(),
                    },
                    CommittedRead::Snapshot { index, data } => MetadataAnswer::Snapshot {
                        request_id,
                        index,
                        data: data.to_vec(),
                    },
                };
                out.push(self.frame(frame.from, &Payload::Metadata(answer)));
            }
            Payload::Response(_) | Payload::Metadata(_) => {
                out.push(NodeOutput::Ignored {
                    reason: "an answer sent to a controller".into(),
                });
            }
        }
        Ok(out)
    }

    fn frame(&self, to: NodeId, payload: &Payload) -> NodeOutput {
        let (kind, payload) = payload.encode();
        let frame = Frame {
            kind,
            cluster_id: self.cluster_id,
            from: self.quorum.id(),
            to,
            payload,
        };
        NodeOutput::Send {
            to,
            frame: frame.encode(),
        }
    }

    fn answer(
        &self,
        requester: Requester,
        result: Result<ControllerResponse, ControllerError>,
        out: &mut Vec<NodeOutput>,
    ) {
        let index = self.image.last_applied();
        match requester {
            Requester::Local(request_id) => out.push(NodeOutput::Reply {
                request_id,
                result,
                index,
            }),
            Requester::Remote { node, request_id } => {
                let response = RpcResponse {
                    request_id,
                    result,
                    index,
                };
                out.push(self.frame(node, &Payload::Response(response)));
            }
        }
    }

    fn decide(
        &mut self,
        requester: Requester,
        request: &ControllerRequest,
        out: &mut Vec<NodeOutput>,
    ) -> Result<(), QuorumError> {
        let Some(spec) = &self.speculative else {
            let leader = self.quorum.leader_id();
            // A leader still catching up with its term answers "not yet" the same way.
            let leader = if leader == self.quorum.id() {
                NodeId::NONE
            } else {
                leader
            };
            self.answer(
                requester,
                Err(ControllerError::NotController { leader }),
                out,
            );
            return Ok(());
        };
        if let ControllerRequest::DescribeQuorum = request {
            let status = self.quorum.status();
            let view = crate::controller::request::QuorumView {
                leader: status.leader,
                term: status.term,
                high_watermark: status.high_watermark,
                voters: status
                    .voters
                    .iter()
                    .map(|v| (v.node, v.log_end, v.last_contact_ms))
                    .collect(),
            };
            self.answer(requester, Ok(ControllerResponse::Quorum(view)), out);
            return Ok(());
        }
        let next_index = self.quorum.next_index();
        match self
            .controller
            .handle(spec, next_index, self.now_ms, request)
        {
            Err(e) => self.answer(requester, Err(e), out),
            Ok(d) if d.records.is_empty() => self.answer(requester, Ok(d.response), out),
            Ok(d) => self.propose(d.records, Some(requester), Some(d.response), out)?,
        }
        Ok(())
    }

    fn propose(
        &mut self,
        records: Vec<MetadataRecord>,
        requester: Option<Requester>,
        response: Option<ControllerResponse>,
        out: &mut Vec<NodeOutput>,
    ) -> Result<(), QuorumError> {
        let id = ProposalId(self.next_proposal);
        self.next_proposal += 1;
        let batch = MetadataBatch { records };
        let payload = batch.encode();
        self.pending.insert(
            id,
            Pending {
                requester,
                response,
                batch,
            },
        );
        let expected = self.quorum.next_index();
        let outputs = self.quorum.step(QuorumInput::Propose { id, payload })?;
        if let Some(index) = outputs.iter().find_map(|o| match o {
            QuorumOutput::Proposed { id: p, index, .. } if *p == id => Some(*index),
            _ => None,
        }) {
            // Broker epochs in the batch were computed from this index.
            assert_eq!(index, expected, "a proposal took an unexpected index");
        }
        self.absorb(outputs, out)
    }

    /// Applies quorum outputs, in order.
    fn absorb(
        &mut self,
        outputs: Vec<QuorumOutput>,
        out: &mut Vec<NodeOutput>,
    ) -> Result<(), QuorumError> {
        let mut queue: VecDeque<QuorumOutput> = outputs.into();
        let version = self.image.version();
        while let Some(o) = queue.pop_front() {
            match o {
                QuorumOutput::Send { to, message } => {
                    out.push(self.frame(to, &Payload::Raft(message)));
                }
                QuorumOutput::Proposed { id, index, .. } => {
                    if let (Some(spec), Some(p)) = (&mut self.speculative, self.pending.get(&id)) {
                        spec.apply_batch(index, &p.batch);
                    }
                }
                QuorumOutput::ProposalDropped { id, leader } => {
                    if let Some(p) = self.pending.remove(&id) {
                        if let Some(r) = p.requester {
                            let e = ControllerError::NotController { leader };
                            self.answer(r, Err(e), out);
                        }
                    }
                }
                QuorumOutput::Committed {
                    index,
                    data,
                    proposal,
                    ..
                } => {
                    self.apply(index, &data, out);
                    if let Some(p) = proposal.and_then(|id| self.pending.remove(&id)) {
                        if let (Some(r), Some(response)) = (p.requester, p.response) {
                            self.answer(r, Ok(response), out);
                        }
                    }
                }
                QuorumOutput::RestoreSnapshot { data, .. } => {
                    self.image = MetadataImage::from_bytes(&data)
                        .map_err(|e| QuorumError::Corrupt(format!("snapshot image: {e}")))?;
                    self.speculative = None;
                    self.record_audit();
                }
                QuorumOutput::LeaderChanged {
                    term_start_index, ..
                } => {
                    self.term_start = term_start_index;
                    self.speculative = None;
                    self.fail_pending(out);
                }
                QuorumOutput::SnapshotDue { index } => {
                    if index == self.image.last_applied() {
                        let data = self.image.to_bytes();
                        let more = self
                            .quorum
                            .step(QuorumInput::SnapshotTaken { index, data })?;
                        queue.extend(more);
                    }
                }
            }
        }
        self.maybe_activate(out)?;
        if self.image.version() != version {
            out.push(NodeOutput::ImageChanged {
                version: self.image.version(),
            });
        }
        Ok(())
    }

    fn apply(&mut self, index: u64, data: &[u8], out: &mut Vec<NodeOutput>) {
        if data.is_empty() {
            self.image.advance_to(index);
        } else {
            match MetadataBatch::decode(data) {
                Ok(batch) => {
                    for (i, reason) in self.image.apply_batch(index, &batch) {
                        out.push(NodeOutput::Ignored {
                            reason: format!("entry {index} record {i}: {reason}"),
                        });
                    }
                }
                Err(e) => {
                    // Every node sees the same bytes and skips them alike.
                    self.image.advance_to(index);
                    out.push(NodeOutput::Ignored {
                        reason: format!("entry {index} does not decode: {e}"),
                    });
                }
            }
        }
        self.record_audit();
    }

    fn record_audit(&mut self) {
        if let Some(audit) = &mut self.audit {
            let crc = crc32c::crc32c(&self.image.to_bytes());
            audit.push((self.image.last_applied(), crc));
        }
    }

    fn fail_pending(&mut self, out: &mut Vec<NodeOutput>) {
        let leader = self.quorum.leader_id();
        for (_, p) in std::mem::take(&mut self.pending) {
            if let Some(r) = p.requester {
                self.answer(r, Err(ControllerError::NotController { leader }), out);
            }
        }
    }

    fn maybe_activate(&mut self, out: &mut Vec<NodeOutput>) -> Result<(), QuorumError> {
        let Some(start) = self.term_start else {
            return Ok(());
        };
        if self.speculative.is_some() || self.image.last_applied() < start {
            return Ok(());
        }
        if !self.quorum.is_leader() {
            self.term_start = None;
            return Ok(());
        }
        self.speculative = Some(self.image.clone());
        let mut records = self.controller.activate(&self.image, self.now_ms);
        if !self.activated_once {
            // The broker of this process started with it: a registration its id still has
            // belongs to a process that is gone, so a new incarnation need not wait it out.
            self.activated_once = true;
            let me = self.quorum.id();
            self.controller.forget_session(me);
        }
        if self.image.cluster_id().is_none() {
            records.append(&mut self.initial_records);
        }
        if !records.is_empty() {
            self.propose(records, None, None, out)?;
        }
        Ok(())
    }
}

fn ignored(reason: &str) -> Vec<NodeOutput> {
    vec![NodeOutput::Ignored {
        reason: reason.to_string(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::NewTopic;
    use crate::quorum::file_storage::FileStorage;
    use crate::quorum::frame::FrameKind;
    use crate::types::BrokerEpoch;

    const CLUSTER: [u8; 16] = [1; 16];

    fn config() -> MetadataNodeConfig {
        let mut quorum = QuorumConfig::new(NodeId(0), vec![NodeId(0)]);
        quorum.snapshot_interval_entries = 3;
        quorum.snapshot_trailing_entries = 1;
        MetadataNodeConfig {
            quorum,
            controller: ControllerConfig::new(CLUSTER),
            id_seed: 1,
            initial_records: Vec::new(),
        }
    }

    fn reply(out: Vec<NodeOutput>) -> Result<ControllerResponse, ControllerError> {
        out.into_iter()
            .find_map(|o| match o {
                NodeOutput::Reply { result, .. } => Some(result),
                _ => None,
            })
            .expect("a reply")
    }

    #[test]
    fn an_embedded_single_node_serves_requests_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::open(dir.path()).unwrap();
        let (mut node, _) = MetadataNode::open(config(), storage, 0).unwrap();
        assert!(node.is_active());
        assert_eq!(node.image().cluster_id(), Some(CLUSTER));
        let register = ControllerRequest::RegisterBroker {
            id: NodeId(0),
            incarnation: [7; 16],
            cluster_id: CLUSTER,
            listeners: vec![],
            rack: None,
        };
        let Ok(ControllerResponse::Registered { epoch }) =
            reply(node.request(1, 1, &register).unwrap())
        else {
            panic!("registered")
        };
        let heartbeat = ControllerRequest::BrokerHeartbeat {
            id: NodeId(0),
            epoch,
            metadata_offset: node.image().last_applied(),
            want_shutdown: false,
        };
        let r = reply(node.request(2, 2, &heartbeat).unwrap());
        assert!(matches!(
            r,
            Ok(ControllerResponse::Heartbeat { fenced: false, .. })
        ));
        for i in 0..5 {
            let create = ControllerRequest::CreateTopics {
                topics: vec![NewTopic {
                    name: format!("t{i}"),
                    partitions: 2,
                    replication_factor: 1,
                    configs: BTreeMap::new(),
                }],
                validate_only: false,
            };
            let r = reply(node.request(3, 3, &create).unwrap());
            assert!(matches!(r, Ok(ControllerResponse::CreateTopics(v)) if v[0].1.is_ok()));
        }
        let image = node.image().clone();
        assert_eq!(image.topic_count(), 5);
        assert!(node.quorum().store().latest_snapshot().get_metadata().index > 0);

        // A broker-only node fetches the log from the start: it gets the snapshot.
        let fetch = Payload::Fetch(FetchMetadata {
            request_id: 9,
            from_index: 1,
        });
        let (kind, payload) = fetch.encode();
        let frame = Frame {
            kind,
            cluster_id: CLUSTER,
            from: NodeId(5),
            to: NodeId(0),
            payload,
        };
        let out = node.receive(4, &frame.encode()).unwrap();
        let Some(NodeOutput::Send { to, frame }) = out.into_iter().next() else {
            panic!("an answer")
        };
        assert_eq!(to, NodeId(5));
        let (answer, _) = Frame::decode(&frame).unwrap().unwrap();
        assert_eq!(answer.kind, FrameKind::MetadataAnswer);
        let Ok(Payload::Metadata(answer)) = rpc::decode_payload(answer.kind, &answer.payload)
        else {
            panic!("metadata")
        };
        let mut replica = crate::cluster::MetadataReplica::new();
        assert!(replica.apply(&answer).unwrap());

        drop(node);
        let storage = FileStorage::open(dir.path()).unwrap();
        let (node, _) = MetadataNode::open(config(), storage, 10).unwrap();
        // The restarted leader's term starts with a no-op entry, one index later.
        let mut expected = image.clone();
        expected.advance_to(image.last_applied() + 1);
        assert_eq!(
            node.image(),
            &expected,
            "snapshot + replay rebuild the image"
        );
        let stale = ControllerRequest::BrokerHeartbeat {
            id: NodeId(0),
            epoch: BrokerEpoch(epoch.0 + 100),
            metadata_offset: 0,
            want_shutdown: false,
        };
        let mut node = node;
        let r = reply(node.request(11, 4, &stale).unwrap());
        assert!(matches!(r, Err(ControllerError::StaleBrokerEpoch { .. })));
        let garbage = node
            .receive(12, b"not a frame at all, just bytes...........")
            .unwrap();
        assert!(matches!(garbage.as_slice(), [NodeOutput::Ignored { .. }]));
    }
}
