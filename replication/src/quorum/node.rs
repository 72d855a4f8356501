//! A sans-IO quorum node: [`raft::RawNode`] behind an input → outputs API.
//!
//! Ordering guarantees (what the shell may rely on, and must respect):
//! * Persist before send. Inside [`QuorumNode::step`] every Raft ready is written to the
//!   [`DurableStorage`] — snapshot, then entries, then hard state, each durable on return —
//!   before any of its messages is returned. Every [`QuorumOutput::Send`] may therefore go out
//!   at once, in any order (Raft tolerates loss, duplication and reordering).
//! * Apply in order. [`QuorumOutput::Committed`] and [`QuorumOutput::RestoreSnapshot`] come in
//!   log order and must be applied in the order returned, before the next `step`. A restart
//!   starts again from the latest snapshot (returned by [`QuorumNode::open`]) and replays the
//!   committed entries after it, so the applied state needs no persistence of its own.
//! * Leadership first. A [`QuorumOutput::LeaderChanged`] comes before the commits of the same
//!   step. When this node loses leadership every pending proposal is answered with
//!   [`QuorumOutput::ProposalDropped`] (its entry may still commit later, unmarked).
//! * Determinism. Raft draws its election timeout from the thread RNG; this node overrides it
//!   from a generator seeded by [`QuorumConfig::jitter_seed`] whenever Raft resets it (every
//!   reset changes term or role), so a simulation replays from its seed.
//!
//! Voters are fixed (`controller.quorum.voters`); Raft ids are `node.id + 1`.

use super::storage::{DurableStorage, RaftStore};
use crate::error::QuorumError;
use crate::limits::VOTERS_MAX;
use crate::limits::{PROPOSAL_BYTES_MAX, RAFT_INFLIGHT_MESSAGES_MAX, RAFT_MESSAGE_BYTES_MAX};
use crate::rng::SplitMix64;
use crate::types::NodeId;
use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{EntryType, Message, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole, Storage as _};
use std::collections::BTreeMap;

/// Quorum settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// This node's `node.id`.
    pub node: NodeId,
    /// `controller.quorum.voters` (this node among them).
    pub voters: Vec<NodeId>,
    /// Ticks without a leader before a follower campaigns (randomised up to twice that).
    pub election_tick: usize,
    /// Ticks between the leader's heartbeats.
    pub heartbeat_tick: usize,
    /// Applied entries between snapshots of the image (log compaction).
    pub snapshot_interval_entries: u64,
    /// Entries kept before a snapshot's index, so a slightly lagging follower (or broker)
    /// catches up from the log rather than from a snapshot.
    pub snapshot_trailing_entries: u64,
    /// Seed of the election jitter.
    pub jitter_seed: u64,
}

impl QuorumConfig {
    /// Defaults for `node` among `voters`: a tick of ~100 ms gives a 1–2 s election timeout.
    pub fn new(node: NodeId, voters: Vec<NodeId>) -> QuorumConfig {
        QuorumConfig {
            node,
            voters,
            election_tick: 10,
            heartbeat_tick: 2,
            snapshot_interval_entries: 1_000,
            snapshot_trailing_entries: 100,
            jitter_seed: SplitMix64::from_entropy().next_u64(),
        }
    }
}

/// The caller's name for a proposal, echoed in its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(pub u64);

/// What a quorum node is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumInput {
    /// Time passed: one Raft tick. `now_ms` (monotonic) stamps peer contact for
    /// DescribeQuorum.
    Tick {
        /// The node's clock.
        now_ms: u64,
    },
    /// A Raft message from a peer (the payload of a Raft frame).
    Message(Vec<u8>),
    /// A payload to append to the log (leader only).
    Propose {
        /// The caller's id for it.
        id: ProposalId,
        /// Entry bytes.
        payload: Vec<u8>,
    },
    /// The caller serialized its applied state at `index` (after a
    /// [`QuorumOutput::SnapshotDue`]): store it and compact the log.
    SnapshotTaken {
        /// The applied index the data is at.
        index: u64,
        /// The image bytes.
        data: Vec<u8>,
    },
    /// The transport to a peer failed; Raft probes it again.
    Unreachable(NodeId),
}

/// What a quorum node asks of its shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumOutput {
    /// Send a Raft message (already safe to send: see the module notes).
    Send {
        /// The peer.
        to: NodeId,
        /// Protobuf bytes of the Raft message.
        message: Vec<u8>,
    },
    /// A proposal is in the leader's log at `index` (not yet committed).
    Proposed {
        /// Its id.
        id: ProposalId,
        /// Its index.
        index: u64,
        /// The term it was proposed in.
        term: u64,
    },
    /// A proposal will not be committed by this node's leadership; answer NOT_CONTROLLER.
    ProposalDropped {
        /// Its id.
        id: ProposalId,
        /// The leader this node knows of ([`NodeId::NONE`] if none).
        leader: NodeId,
    },
    /// A committed entry to apply. Empty `data` is a Raft no-op: advance the applied index.
    Committed {
        /// Index.
        index: u64,
        /// Term.
        term: u64,
        /// Entry bytes.
        data: Bytes,
        /// Set when this node proposed it and it committed as proposed.
        proposal: Option<ProposalId>,
    },
    /// Replace the applied state by this snapshot (from the leader, or at start-up).
    RestoreSnapshot {
        /// The index it is at.
        index: u64,
        /// Its term.
        term: u64,
        /// Image bytes.
        data: Bytes,
    },
    /// The known leader or the term changed.
    LeaderChanged {
        /// The leader, or [`NodeId::NONE`].
        leader: NodeId,
        /// The term (Kafka's leader epoch of the metadata log).
        term: u64,
        /// When this node is the leader: the index of its term's first entry. Its state is
        /// complete once that is applied.
        term_start_index: Option<u64>,
    },
    /// Take a snapshot of the applied state at `index` and hand it back with
    /// [`QuorumInput::SnapshotTaken`].
    SnapshotDue {
        /// The applied index.
        index: u64,
    },
}

/// One voter as the leader sees it (DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    /// The voter.
    pub node: NodeId,
    /// Its log end as far as the leader knows (match index).
    pub log_end: u64,
    /// When the leader last heard from it (the leader's clock), if ever.
    pub last_contact_ms: Option<u64>,
}

/// DescribeQuorum's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// The leader, or [`NodeId::NONE`].
    pub leader: NodeId,
    /// The term (leader epoch).
    pub term: u64,
    /// The commit index.
    pub high_watermark: u64,
    /// Per-voter progress; filled on the leader only.
    pub voters: Vec<VoterStatus>,
}

/// Committed log for a broker that fetches metadata (`FetchMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommittedRead {
    /// Committed entries from the requested index (empty when caught up). Empty data is a
    /// no-op entry.
    Entries(Vec<(u64, Bytes)>),
    /// The requested index is compacted away: start from this snapshot.
    Snapshot {
        /// Its index.
        index: u64,
        /// Image bytes.
        data: Bytes,
    },
}

/// A quorum node over durable storage `D`.
pub struct QuorumNode<D: DurableStorage> {
    config: QuorumConfig,
    raw: RawNode<RaftStore<D>>,
    jitter: SplitMix64,
    now_ms: u64,
    applied: u64,
    /// Proposals in this leadership's log, by index: (term, id).
    pending: BTreeMap<u64, (u64, ProposalId)>,
    reported: (NodeId, u64),
    snapshot_requested: Option<u64>,
    last_contact_ms: BTreeMap<u64, u64>,
}

impl<D: DurableStorage> std::fmt::Debug for QuorumNode<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumNode")
            .field("node", &self.config.node)
            .field("term", &self.raw.raft.term)
            .field("leader", &self.raw.raft.leader_id)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

fn raft_id(n: NodeId) -> Result<u64, QuorumError> {
    n.to_raft()
        .ok_or_else(|| QuorumError::Config(format!("node id {n} is not a valid voter")))
}

fn encode_message(m: &Message) -> Result<Vec<u8>, QuorumError> {
    m.write_to_bytes()
        .map_err(|e| QuorumError::Raft(format!("encode raft message: {e}")))
}

impl<D: DurableStorage> QuorumNode<D> {
    /// Opens the node over `durable` (recovering it) with a logger that discards.
    pub fn open(
        config: QuorumConfig,
        durable: D,
    ) -> Result<(QuorumNode<D>, Vec<QuorumOutput>), QuorumError> {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        QuorumNode::open_with_logger(config, durable, &logger)
    }

    /// Opens the node; the outputs start with the snapshot to restore (if any) and the
    /// committed entries to replay after it.
    pub fn open_with_logger(
        config: QuorumConfig,
        durable: D,
        logger: &slog::Logger,
    ) -> Result<(QuorumNode<D>, Vec<QuorumOutput>), QuorumError> {
        let voters = config
            .voters
            .iter()
            .map(|&v| raft_id(v))
            .collect::<Result<Vec<_>, _>>()?;
        let mut distinct = voters.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != voters.len() || voters.is_empty() || voters.len() > VOTERS_MAX {
            return Err(QuorumError::Config(format!("voters {:?}", config.voters)));
        }
        let id = raft_id(config.node)?;
        if !voters.contains(&id) {
            return Err(QuorumError::Config(format!(
                "node {} is not among the voters {:?}",
                config.node, config.voters
            )));
        }
        let store = RaftStore::open(durable, &voters)?;
        let snapshot = store.latest_snapshot().clone();
        let applied = snapshot.get_metadata().index;
        let raft_config = raft::Config {
            id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            applied,
            max_size_per_msg: RAFT_MESSAGE_BYTES_MAX,
            max_inflight_msgs: RAFT_INFLIGHT_MESSAGES_MAX,
            check_quorum: true,
            pre_vote: true,
            ..raft::Config::default()
        };
        raft_config.validate()?;
        let raw = RawNode::new(&raft_config, store, logger)?;
        let mut node = QuorumNode {
            jitter: SplitMix64::new(config.jitter_seed),
            config,
            raw,
            now_ms: 0,
            applied,
            pending: BTreeMap::new(),
            reported: (NodeId::NONE, 0),
            snapshot_requested: None,
            last_contact_ms: BTreeMap::new(),
        };
        node.rejitter();
        let mut out = Vec::new();
        if applied > 0 {
            out.push(QuorumOutput::RestoreSnapshot {
                index: applied,
                term: snapshot.get_metadata().term,
                data: snapshot.data.clone(),
            });
        }
        if voters.len() == 1 {
            // A single voter needs nobody's vote: lead at once (the embedded default).
            let before = node.role();
            node.raw.campaign()?;
            node.after_raft_call(before, &mut out);
        }
        node.drain(&mut out)?;
        node.report_leadership(&mut out);
        Ok((node, out))
    }

    /// Handles one input.
    ///
    /// An error with [`QuorumError::is_fatal`] (storage failed or is corrupt) means the node
    /// must stop; others (a malformed or misaddressed message) only reject that input.
    pub fn step(&mut self, input: QuorumInput) -> Result<Vec<QuorumOutput>, QuorumError> {
        let mut out = Vec::new();
        let before = self.role();
        match input {
            QuorumInput::Tick { now_ms } => {
                self.now_ms = self.now_ms.max(now_ms);
                self.raw.tick();
            }
            QuorumInput::Message(bytes) => self.receive(&bytes)?,
            QuorumInput::Propose { id, payload } => self.propose(id, payload, &mut out)?,
            QuorumInput::SnapshotTaken { index, data } => self.compact(index, data)?,
            QuorumInput::Unreachable(peer) => {
                if let Some(p) = peer.to_raft() {
                    self.raw.report_unreachable(p);
                }
            }
        }
        self.after_raft_call(before, &mut out);
        self.drain(&mut out)?;
        self.report_leadership(&mut out);
        self.request_snapshot(&mut out);
        Ok(out)
    }

    fn role(&self) -> (u64, StateRole) {
        (self.raw.raft.term, self.raw.raft.state)
    }

    /// After any Raft call: re-draw the election timeout if Raft reset it, and report a
    /// leadership change before anything that step commits.
    fn after_raft_call(&mut self, before: (u64, StateRole), out: &mut Vec<QuorumOutput>) {
        if self.role() != before {
            self.rejitter();
            if before.1 == StateRole::Leader {
                self.drop_pending(out);
            }
        }
        self.report_leadership(out);
    }

    fn rejitter(&mut self) {
        let base = self.raw.raft.election_timeout();
        let spread = u64::try_from(base).unwrap_or(1);
        let extra = usize::try_from(self.jitter.below(spread)).unwrap_or(0);
        self.raw.raft.set_randomized_election_timeout(base + extra);
    }

    fn leader(&self) -> NodeId {
        NodeId::from_raft(self.raw.raft.leader_id).unwrap_or(NodeId::NONE)
    }

    fn report_leadership(&mut self, out: &mut Vec<QuorumOutput>) {
        let now = (self.leader(), self.raw.raft.term);
        if now == self.reported {
            return;
        }
        self.reported = now;
        let term_start_index =
            (self.raw.raft.state == StateRole::Leader).then(|| self.raw.raft.raft_log.last_index());
        out.push(QuorumOutput::LeaderChanged {
            leader: now.0,
            term: now.1,
            term_start_index,
        });
    }

    fn drop_pending(&mut self, out: &mut Vec<QuorumOutput>) {
        let leader = self.leader();
        for (_, (_, id)) in std::mem::take(&mut self.pending) {
            out.push(QuorumOutput::ProposalDropped { id, leader });
        }
    }

    fn receive(&mut self, bytes: &[u8]) -> Result<(), QuorumError> {
        let m = Message::parse_from_bytes(bytes)
            .map_err(|e| QuorumError::BadMessage(format!("raft message: {e}")))?;
        let me = self.raw.raft.id;
        let from_voter = m.from != me
            && self
                .raw
                .store()
                .initial_state()?
                .conf_state
                .voters
                .contains(&m.from);
        if m.to != me || !from_voter || raft::raw_node::is_local_msg(m.get_msg_type()) {
            return Err(QuorumError::BadMessage(format!(
                "{:?} from {} to {}",
                m.get_msg_type(),
                m.from,
                m.to
            )));
        }
        self.last_contact_ms.insert(m.from, self.now_ms);
        self.raw
            .step(m)
            .map_err(|e| QuorumError::BadMessage(format!("raft refused a message: {e}")))
    }

    fn propose(
        &mut self,
        id: ProposalId,
        payload: Vec<u8>,
        out: &mut Vec<QuorumOutput>,
    ) -> Result<(), QuorumError> {
        let leader = self.leader();
        if self.raw.raft.state != StateRole::Leader || payload.len() > PROPOSAL_BYTES_MAX {
            out.push(QuorumOutput::ProposalDropped { id, leader });
            return Ok(());
        }
        let index = self.raw.raft.raft_log.last_index() + 1;
        let term = self.raw.raft.term;
        if self.raw.propose(Vec::new(), payload).is_err() {
            out.push(QuorumOutput::ProposalDropped { id, leader });
            return Ok(());
        }
        assert_eq!(
            self.raw.raft.raft_log.last_index(),
            index,
            "a proposal takes the next index"
        );
        self.pending.insert(index, (term, id));
        out.push(QuorumOutput::Proposed { id, index, term });
        Ok(())
    }

    fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), QuorumError> {
        self.snapshot_requested = None;
        let have = self.raw.store().latest_snapshot().get_metadata().index;
        if index > self.applied || index <= have {
            return Err(QuorumError::BadMessage(format!(
                "snapshot at {index}: applied {}, latest snapshot {have}",
                self.applied
            )));
        }
        let trailing = self.config.snapshot_trailing_entries;
        self.raw.mut_store().compact(index, data, trailing)
    }

    fn request_snapshot(&mut self, out: &mut Vec<QuorumOutput>) {
        let since = self
            .snapshot_requested
            .unwrap_or_else(|| self.raw.store().latest_snapshot().get_metadata().index);
        if self.applied >= since + self.config.snapshot_interval_entries {
            self.snapshot_requested = Some(self.applied);
            out.push(QuorumOutput::SnapshotDue {
                index: self.applied,
            });
        }
    }

    /// Processes every ready: persist, then send, then hand out commits.
    fn drain(&mut self, out: &mut Vec<QuorumOutput>) -> Result<(), QuorumError> {
        while self.raw.has_ready() {
            let mut rd = self.raw.ready();
            let mut snapshots_sent = Vec::new();
            if !rd.snapshot().is_empty() {
                let snap = rd.snapshot().clone();
                self.raw.mut_store().install_snapshot(&snap)?;
                let meta = snap.get_metadata();
                self.applied = meta.index;
                self.pending.retain(|&i, _| i > meta.index);
                out.push(QuorumOutput::RestoreSnapshot {
                    index: meta.index,
                    term: meta.term,
                    data: snap.data.clone(),
                });
            }
            if !rd.entries().is_empty() {
                self.raw.mut_store().append(rd.entries())?;
            }
            if let Some(hs) = rd.hs() {
                let hs = hs.clone();
                self.raw.mut_store().set_hard_state(&hs)?;
            }
            let mut messages = rd.take_messages();
            messages.extend(rd.take_persisted_messages());
            self.send(messages, &mut snapshots_sent, out)?;
            self.commit(rd.take_committed_entries(), out);
            let mut light = self.raw.advance(rd);
            if let Some(commit) = light.commit_index() {
                self.raw.mut_store().set_commit(commit);
            }
            self.send(light.take_messages(), &mut snapshots_sent, out)?;
            self.commit(light.take_committed_entries(), out);
            self.raw.advance_apply();
            for to in snapshots_sent {
                // Optimistic: a lost snapshot shows up as a rejected append, and Raft probes
                // (and sends a snapshot) again. Without a report the follower stays paused.
                self.raw.report_snapshot(to, SnapshotStatus::Finish);
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        messages: Vec<Message>,
        snapshots_sent: &mut Vec<u64>,
        out: &mut Vec<QuorumOutput>,
    ) -> Result<(), QuorumError> {
        for m in messages {
            let Some(to) = NodeId::from_raft(m.to) else {
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                snapshots_sent.push(m.to);
            }
            out.push(QuorumOutput::Send {
                to,
                message: encode_message(&m)?,
            });
        }
        Ok(())
    }

    fn commit(&mut self, entries: Vec<raft::eraftpb::Entry>, out: &mut Vec<QuorumOutput>) {
        for e in entries {
            assert_eq!(e.index, self.applied + 1, "committed entries come in order");
            self.applied = e.index;
            let mine = self.pending.remove(&e.index);
            if e.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            let proposal = match mine {
                Some((term, id)) if term == e.term => Some(id),
                Some((_, id)) => {
                    out.push(QuorumOutput::ProposalDropped {
                        id,
                        leader: self.leader(),
                    });
                    None
                }
                None => None,
            };
            out.push(QuorumOutput::Committed {
                index: e.index,
                term: e.term,
                data: e.data,
                proposal,
            });
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.node
    }

    /// The leader this node knows of, or [`NodeId::NONE`].
    pub fn leader_id(&self) -> NodeId {
        self.leader()
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The index the next proposal will take (leader only meaningful).
    pub fn next_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index() + 1
    }

    /// The last index handed out as committed (or restored from a snapshot).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The commit index.
    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// DescribeQuorum: leader, term, high watermark, and (on the leader) each voter's log end
    /// and last contact.
    pub fn status(&self) -> QuorumStatus {
        let mut voters = Vec::new();
        if self.is_leader() {
            let me = self.raw.raft.id;
            for (&id, progress) in self.raw.raft.prs().iter() {
                let Some(node) = NodeId::from_raft(id) else {
                    continue;
                };
                let (log_end, last_contact_ms) = if id == me {
                    (self.raw.raft.raft_log.last_index(), Some(self.now_ms))
                } else {
                    (progress.matched, self.last_contact_ms.get(&id).copied())
                };
                voters.push(VoterStatus {
                    node,
                    log_end,
                    last_contact_ms,
                });
            }
            voters.sort_by_key(|v| v.node);
        }
        QuorumStatus {
            leader: self.leader(),
            term: self.raw.raft.term,
            high_watermark: self.commit_index(),
            voters,
        }
    }

    /// Committed entries from `from_index` (at most about `max_bytes`), or the snapshot to
    /// start from when that index is compacted away.
    pub fn read_committed(&self, from_index: u64, max_bytes: u64) -> CommittedRead {
        let store = self.raw.store();
        let from = from_index.max(1);
        if from < store.first() {
            let snap = store.latest_snapshot();
            return CommittedRead::Snapshot {
                index: snap.get_metadata().index,
                data: snap.data.clone(),
            };
        }
        let last = self.commit_index().min(store.last());
        let mut entries = Vec::new();
        let mut bytes = 0u64;
        for index in from..=last {
            let Some(e) = store.entry(index) else {
                break;
            };
            if e.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            bytes += e.data.len() as u64;
            if bytes > max_bytes && !entries.is_empty() {
                break;
            }
            entries.push((index, e.data.clone()));
        }
        CommittedRead::Entries(entries)
    }

    /// The storage (tests and the simulator inspect it).
    pub fn store(&self) -> &RaftStore<D> {
        self.raw.store()
    }
}

#[cfg(test)]
mod tests;
