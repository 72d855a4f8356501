//! The requests a broker (or an admin handler) sends to the active controller, and the
//! answers. They travel between nodes inside RPC frames, so they are rkyv-archived.

use super::election::ElectionType;
use crate::cluster::records::{ConfigResource, Endpoint};
use crate::cluster::security::{AclBinding, AclFilter, QuotaChanges, QuotaEntity, ScramCredential};
use crate::error::ControllerError;
use crate::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count; `-1` takes `num.partitions`.
    pub partitions: i32,
    /// Replication factor; `-1` takes `default.replication.factor`.
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

/// A topic to grow.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct NewPartitions {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
}

pub use request_kinds::ControllerRequest;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod request_kinds {
    use super::*;

    /// A request to the active controller.
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum ControllerRequest {
        /// BrokerRegistration: a broker process starts (or retries its registration).
        RegisterBroker {
            /// `node.id`.
            id: NodeId,
            /// Random per process start.
            incarnation: [u8; 16],
            /// The cluster the broker's storage was formatted for.
            cluster_id: [u8; 16],
            /// Where clients reach it.
            listeners: Vec<Endpoint>,
            /// `broker.rack`.
            rack: Option<String>,
        },
        /// BrokerHeartbeat: keeps the session; reports how far the broker has applied the log.
        BrokerHeartbeat {
            /// `node.id`.
            id: NodeId,
            /// Its broker epoch.
            epoch: BrokerEpoch,
            /// The last metadata-log index the broker has applied.
            metadata_offset: u64,
            /// Controlled shutdown: move leadership away and fence.
            want_shutdown: bool,
        },
        /// CreateTopics.
        CreateTopics {
            /// Topics to create.
            topics: Vec<NewTopic>,
            /// Check only; change nothing.
            validate_only: bool,
        },
        /// DeleteTopics (by name).
        DeleteTopics {
            /// Topic names.
            names: Vec<String>,
        },
        /// CreatePartitions.
        CreatePartitions {
            /// Topics to grow.
            topics: Vec<NewPartitions>,
            /// Check only; change nothing.
            validate_only: bool,
        },
        /// IncrementalAlterConfigs for one resource: set (`Some`) or delete (`None`) entries.
        AlterConfigs {
            /// What the entries apply to.
            resource: ConfigResource,
            /// Entries.
            entries: Vec<(String, Option<String>)>,
            /// Check only; change nothing.
            validate_only: bool,
        },
        /// AllocateProducerIds: a broker needs a new block of producer ids.
        AllocateProducerIds {
            /// The broker.
            broker: NodeId,
            /// Its broker epoch.
            epoch: BrokerEpoch,
        },
        /// AlterPartition: a partition's leader changes its ISR (a follower fell behind, or
        /// caught up), at the epochs it knows.
        AlterPartition {
            /// The leader.
            broker: NodeId,
            /// Its broker epoch.
            broker_epoch: BrokerEpoch,
            /// The topic.
            topic: TopicId,
            /// The partition.
            partition: i32,
            /// The leader epoch the change applies to.
            leader_epoch: LeaderEpoch,
            /// The partition epoch the change applies to.
            partition_epoch: i32,
            /// The ISR wanted.
            isr: Vec<NodeId>,
        },
        /// DescribeQuorum: the leader's view of the quorum (answered by the active
        /// controller, which alone knows every voter's progress).
        DescribeQuorum,
        /// AlterPartitionReassignments: per (topic, partition), the replicas to move to, or
        /// `None` to cancel a running reassignment.
        AlterReassignments {
            /// The reassignments, in request order.
            reassignments: Vec<(String, i32, Option<Vec<NodeId>>)>,
        },
        /// ElectLeaders: preferred or unclean elections for the partitions named (`None`:
        /// every partition).
        ElectLeaders {
            /// Which election.
            election: ElectionType,
            /// (topic, partition) pairs.
            partitions: Option<Vec<(String, i32)>>,
        },
        /// AlterUserScramCredentials: (user, mechanism) pairs to remove and salted
        /// credentials to set.
        AlterScramCredentials {
            /// (user, mechanism code) to remove.
            deletions: Vec<(String, u8)>,
            /// (user, mechanism code, credential) to set.
            upsertions: Vec<(String, u8, ScramCredential)>,
        },
        /// CreateAcls.
        CreateAcls {
            /// The bindings, in request order.
            acls: Vec<AclBinding>,
        },
        /// DeleteAcls: every binding each filter matches is removed.
        DeleteAcls {
            /// The filters, in request order.
            filters: Vec<AclFilter>,
        },
        /// AlterClientQuotas: per entity, keys to set (`f64` bits) or remove.
        AlterClientQuotas {
            /// (entity, [(key, value)]) in request order.
            entries: Vec<(QuotaEntity, QuotaChanges)>,
            /// Check only; change nothing.
            validate_only: bool,
        },
    }
}

pub use response_kinds::ControllerResponse;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod response_kinds {
    use super::*;

    /// The answer to a [`ControllerRequest`], given once its records are committed.
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum ControllerResponse {
        /// The broker's epoch.
        Registered {
            /// Broker epoch.
            epoch: BrokerEpoch,
        },
        /// Heartbeat answer.
        Heartbeat {
            /// Whether the broker is fenced (may lead nothing).
            fenced: bool,
            /// Controlled shutdown may complete: the broker leads nothing and is fenced.
            should_shut_down: bool,
        },
        /// Per-topic results of CreateTopics, in request order.
        CreateTopics(Vec<(String, Result<TopicId, ControllerError>)>),
        /// Per-topic results of DeleteTopics, in request order.
        DeleteTopics(Vec<(String, Result<TopicId, ControllerError>)>),
        /// Per-topic results of CreatePartitions, in request order.
        CreatePartitions(Vec<(String, Result<(), ControllerError>)>),
        /// The configs were changed (or would be, for `validate_only`).
        AlterConfigs,
        /// A block of producer ids, `start..start + len`.
        ProducerIds {
            /// First id.
            start: i64,
            /// Ids in the block.
            len: i64,
        },
        /// The quorum as its leader sees it.
        Quorum(QuorumView),
        /// Per partition of AlterPartitionReassignments, in request order.
        AlterReassignments(Vec<(String, i32, Result<(), ControllerError>)>),
        /// Per partition of ElectLeaders, in request order.
        ElectLeaders(Vec<(String, i32, Result<(), ControllerError>)>),
        /// Per user of AlterScramCredentials, in the order users first appear.
        AlterScramCredentials(Vec<(String, Result<(), ControllerError>)>),
        /// Per binding of CreateAcls, in request order.
        CreateAcls(Vec<Result<(), ControllerError>>),
        /// Per filter of DeleteAcls: the bindings it removed.
        DeleteAcls(Vec<Result<Vec<AclBinding>, ControllerError>>),
        /// Per entity of AlterClientQuotas, in request order.
        AlterClientQuotas(Vec<Result<(), ControllerError>>),
        /// The partition as it now is, after an AlterPartition.
        PartitionChanged {
            /// The ISR.
            isr: Vec<NodeId>,
            /// The partition epoch.
            partition_epoch: i32,
        },
    }
}

/// DescribeQuorum's answer: the leader, its term, the commit index, and each voter's log end
/// and when the leader last heard from it.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct QuorumView {
    /// The leader.
    pub leader: NodeId,
    /// Its term (the metadata log's leader epoch).
    pub term: u64,
    /// The commit index (the metadata log's high watermark).
    pub high_watermark: u64,
    /// Per voter: id, log end (match index), last contact in the leader's milliseconds.
    pub voters: Vec<(NodeId, u64, Option<u64>)>,
}
