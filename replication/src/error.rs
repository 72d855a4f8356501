//! Errors of partitions and of the cluster metadata quorum.
//!
//! Three enums for three audiences: [`PartitionError`] is what a partition answers a
//! request with; [`ControllerError`] is what a controller request answers, in Kafka's terms,
//! and it travels between nodes, so it is rkyv-archived (the endpoint maps both to Kafka
//! error codes, in one place). [`QuorumError`] is what the node itself
//! meets (disk, corrupt bytes, Raft refusing) and never goes to a client as such.

use crate::codec::CodecError;
use crate::types::{BrokerEpoch, NodeId};
use myelin_storage::StorageError;
use rkyv::{Archive, Deserialize, Serialize};

pub use controller_error::ControllerError;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod controller_error {
    use super::*;

    /// Why a controller request was refused, one variant per Kafka error code.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum ControllerError {
        /// NOT_CONTROLLER: this node is not the active controller; `leader` is the one it knows of
        /// ([`NodeId::NONE`] when unknown). Retriable.
        #[error("not the active controller (leader: {leader})")]
        NotController {
            /// The leader this node knows of.
            leader: NodeId,
        },
        /// INVALID_TOPIC_EXCEPTION.
        #[error("invalid topic: {0}")]
        InvalidTopic(String),
        /// TOPIC_ALREADY_EXISTS.
        #[error("topic already exists: {0}")]
        TopicAlreadyExists(String),
        /// UNKNOWN_TOPIC_OR_PARTITION.
        #[error("unknown topic: {0}")]
        UnknownTopicOrPartition(String),
        /// INVALID_PARTITIONS.
        #[error("invalid partitions: {0}")]
        InvalidPartitions(String),
        /// INVALID_REPLICATION_FACTOR.
        #[error("invalid replication factor: {0}")]
        InvalidReplicationFactor(String),
        /// INVALID_CONFIG.
        #[error("invalid config: {0}")]
        InvalidConfig(String),
        /// INVALID_REQUEST.
        #[error("invalid request: {0}")]
        InvalidRequest(String),
        /// STALE_BROKER_EPOCH: the broker's epoch is not its current registration.
        #[error("broker {id}: stale broker epoch {epoch:?}")]
        StaleBrokerEpoch {
            /// The broker.
            id: NodeId,
            /// The epoch it sent.
            epoch: BrokerEpoch,
        },
        /// BROKER_ID_NOT_REGISTERED.
        #[error("broker {0} is not registered")]
        BrokerIdNotRegistered(NodeId),
        /// DUPLICATE_BROKER_REGISTRATION: another incarnation of this id is alive.
        #[error("broker {0} is registered by another live incarnation")]
        DuplicateBrokerRegistration(NodeId),
        /// INCONSISTENT_CLUSTER_ID.
        #[error("the request names another cluster")]
        InconsistentClusterId,
        /// REQUEST_TIMED_OUT: the decision was not committed (the controller lost leadership or
        /// the log refused it). Retriable.
        #[error("not committed: {0}")]
        NotCommitted(String),
        /// UNKNOWN_SERVER_ERROR: a bound this cluster cannot go past (producer ids exhausted, …).
        #[error("server error: {0}")]
        Internal(String),
        /// FENCED_LEADER_EPOCH: an ISR change from a leader that is no longer current.
        #[error("fenced leader epoch")]
        FencedLeaderEpoch,
        /// INVALID_UPDATE_VERSION: an ISR change against a partition epoch that has moved.
        #[error("stale partition epoch")]
        InvalidUpdateVersion,
        /// INELIGIBLE_REPLICA: a replica that may not join the ISR (fenced, or not a replica).
        #[error("ineligible replica {0}")]
        IneligibleReplica(NodeId),
        /// NOT_LEADER_OR_FOLLOWER: the sender does not lead the partition.
        #[error("not the leader")]
        NotLeader,
        /// ELECTION_NOT_NEEDED: the partition already has the leader asked for.
        #[error("election not needed")]
        ElectionNotNeeded,
        /// PREFERRED_LEADER_NOT_AVAILABLE: the preferred replica is fenced or out of sync.
        #[error("preferred leader not available")]
        PreferredLeaderNotAvailable,
        /// ELIGIBLE_LEADERS_NOT_AVAILABLE: no live replica may lead.
        #[error("eligible leaders not available")]
        EligibleLeadersNotAvailable,
        /// INVALID_REPLICA_ASSIGNMENT: a reassignment names no, repeated or unknown brokers.
        #[error("invalid replica assignment: {0}")]
        InvalidReplicaAssignment(String),
        /// NO_REASSIGNMENT_IN_PROGRESS: a cancellation for a partition that is not moving.
        #[error("no reassignment in progress")]
        NoReassignmentInProgress,
        /// DUPLICATE_RESOURCE: one request names the same thing twice.
        #[error("duplicate resource: {0}")]
        DuplicateResource(String),
        /// RESOURCE_NOT_FOUND: a deletion of something that does not exist.
        #[error("resource not found: {0}")]
        ResourceNotFound(String),
        /// UNACCEPTABLE_CREDENTIAL: a credential outside the bounds (iterations, empty user).
        #[error("unacceptable credential: {0}")]
        UnacceptableCredential(String),
        /// UNSUPPORTED_SASL_MECHANISM: a SCRAM mechanism code this broker does not know.
        #[error("unsupported SASL mechanism: {0}")]
        UnsupportedSaslMechanism(String),
    }
}

impl ControllerError {
    /// Whether a client should retry (against the leader it names, or after a back-off).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ControllerError::NotController { .. } | ControllerError::NotCommitted(_)
        )
    }
}

/// What went wrong inside a quorum node.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which file.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Durable state that does not check out and cannot be cut off as a torn tail.
    #[error("corrupt raft storage: {0}")]
    Corrupt(String),
    /// Bytes from a peer or the disk did not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Raft refused an operation.
    #[error("raft: {0}")]
    Raft(String),
    /// A peer message that is malformed, misaddressed or refused by Raft; only that message
    /// is rejected.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The configuration cannot work (bad voter set, this node not a voter, …).
    #[error("invalid quorum config: {0}")]
    Config(String),
}

impl QuorumError {
    /// Whether the node must stop: its durable state failed or cannot be trusted. Other errors
    /// reject one input and leave the node running.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, QuorumError::BadMessage(_) | QuorumError::Codec(_))
    }

    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> QuorumError {
        QuorumError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<raft::Error> for QuorumError {
    fn from(e: raft::Error) -> QuorumError {
        QuorumError::Raft(e.to_string())
    }
}

/// Why a partition refused a request.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// This broker does not lead the partition (it follows, or the partition is offline).
    #[error("not the leader of this partition")]
    NotLeader,
    /// The request's leader epoch is older than the partition's.
    #[error("fenced leader epoch {requested} (current {current})")]
    FencedLeaderEpoch {
        /// Epoch in the request.
        requested: i32,
        /// The partition's epoch.
        current: i32,
    },
    /// The request's leader epoch is newer than this broker knows.
    #[error("unknown leader epoch {requested} (current {current})")]
    UnknownLeaderEpoch {
        /// Epoch in the request.
        requested: i32,
        /// The partition's epoch.
        current: i32,
    },
    /// An idempotent producer skipped a sequence number.
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    /// An idempotent producer wrote with an epoch older than the partition has seen.
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    /// A producer the partition does not know wrote from a sequence other than 0.
    #[error("unknown producer id")]
    UnknownProducerId,
    /// Fewer replicas are in sync than `min.insync.replicas` asks for.
    #[error("{isr} in-sync replicas, {min} required")]
    NotEnoughReplicas {
        /// In-sync replicas.
        isr: usize,
        /// `min.insync.replicas`.
        min: usize,
    },
    /// Written, but the ISR shrank below `min.insync.replicas` before it was committed.
    #[error("{isr} in-sync replicas after the append, {min} required")]
    NotEnoughReplicasAfterAppend {
        /// In-sync replicas.
        isr: usize,
        /// `min.insync.replicas`.
        min: usize,
    },
    /// The topic's config forbids the operation (DeleteRecords on a topic whose cleanup
    /// policy does not include `delete`).
    #[error("{0}")]
    PolicyViolation(String),
    /// The partition's log refused the operation.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
