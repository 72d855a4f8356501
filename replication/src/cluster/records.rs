//! The records of the cluster metadata log: what the controller proposes and every node
//! applies, in log order, to its [`MetadataImage`](super::image::MetadataImage).
//!
//! One Raft entry carries one [`MetadataBatch`]: the records of one controller decision,
//! applied together at the entry's index (a broker epoch is that index). The entry bytes are
//! [`RECORD_FORMAT_VERSION`] followed by the rkyv archive of the batch.
//!
//! Growing the format: the archive layout of an enum depends on all its variants, so adding a
//! record kind (ACLs, SCRAM credentials, feature levels, …) or a field bumps
//! [`RECORD_FORMAT_VERSION`], and the decoder keeps a frozen copy of each older layout it
//! must still read, converting to the current enum. A version this build does not know is a
//! decode error, never a panic, so an old node meeting a newer log stops applying instead of
//! guessing.

pub use super::security::SecurityRecord;
use crate::codec::{self, CodecError};
use crate::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format byte in front of every metadata entry.
///
/// * 1: brokers, topics, partitions, configs, producer ids, reassignments.
/// * 2: adds [`MetadataRecord::Security`] and [`MetadataRecord::FeatureLevel`].
pub const RECORD_FORMAT_VERSION: u8 = 2;

/// A listener a broker serves Kafka clients on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Archive, Serialize, Deserialize)]
pub struct Endpoint {
    /// Listener name (`PLAINTEXT`, `SSL`, …).
    pub name: String,
    /// Host clients connect to.
    pub host: String,
    /// Port clients connect to.
    pub port: u16,
}

/// Replicas, ISR, leader and epochs of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Archive, Serialize, Deserialize)]
pub struct PartitionAssignment {
    /// Replica brokers, preferred leader first.
    pub replicas: Vec<NodeId>,
    /// In-sync replicas, a subset of `replicas`.
    pub isr: Vec<NodeId>,
    /// Current leader, a member of `isr`, or [`NodeId::NONE`] when the partition is offline.
    pub leader: NodeId,
    /// Bumped by every leader change.
    pub leader_epoch: LeaderEpoch,
    /// Bumped by every change of this partition (leader or ISR), as in KRaft.
    pub partition_epoch: i32,
    /// Eligible leader replicas (KIP-966): replicas fenced out of an ISR that had fallen
    /// below `min.insync.replicas`; they hold everything committed and may lead again.
    pub elr: Vec<NodeId>,
    /// The ELR as it was when the ISR last became empty (KIP-966's last known ELR).
    pub last_known_elr: Vec<NodeId>,
    /// While a reassignment runs (KIP-455): replicas being added, part of `replicas`,
    /// catching up until they are in the ISR.
    pub adding: Vec<NodeId>,
    /// While a reassignment runs: replicas to drop once every added one is in sync.
    pub removing: Vec<NodeId>,
}

impl PartitionAssignment {
    /// A new partition on `replicas`, all in sync, the first leading at epoch 0.
    pub fn new(replicas: Vec<NodeId>) -> PartitionAssignment {
        PartitionAssignment {
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(NodeId::NONE),
            replicas,
            leader_epoch: crate::types::LeaderEpoch(0),
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    /// Whether a reassignment is running.
    pub fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas a reassignment moves to (all of them when none runs).
    pub fn target_replicas(&self) -> Vec<NodeId> {
        let mut target: Vec<NodeId> = self
            .replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect();
        if target.is_empty() {
            target.clone_from(&self.replicas);
        }
        target
    }
}

/// What a config entry applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize)]
#[rkyv(
    derive(Debug, PartialEq, Eq, PartialOrd, Ord),
    attr(allow(missing_docs))
)]
pub enum ConfigResource {
    /// A topic's override.
    Topic(String),
    /// A broker's dynamic config.
    Broker(NodeId),
    /// The cluster-wide default for brokers (Kafka's broker resource with an empty name).
    ClusterDefault,
}

pub use record_kinds::MetadataRecord;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod record_kinds {
    use super::*;

    /// One change to the cluster metadata.
    ///
    /// A new kind joins this enum under a new [`RECORD_FORMAT_VERSION`]; see the module
    /// notes.
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum MetadataRecord {
        /// The cluster's id: the first record the first leader writes; the image adopts it.
        ClusterId {
            /// The id (a UUID).
            id: [u8; 16],
        },
        /// A broker (re)registers with a new incarnation.
        RegisterBroker {
            /// The broker.
            id: NodeId,
            /// Random per process start; a new one means a restarted broker.
            incarnation: [u8; 16],
            /// The metadata-log index of this record.
            epoch: BrokerEpoch,
            /// Where clients reach it.
            listeners: Vec<Endpoint>,
            /// Its `broker.rack`.
            rack: Option<String>,
        },
        /// The broker's session lapsed (or it is shutting down): it may lead nothing.
        FenceBroker {
            /// The broker.
            id: NodeId,
            /// The registration this applies to.
            epoch: BrokerEpoch,
        },
        /// The broker caught up with the metadata log and may lead partitions.
        UnfenceBroker {
            /// The broker.
            id: NodeId,
            /// The registration this applies to.
            epoch: BrokerEpoch,
        },
        /// The broker is removed from the cluster.
        UnregisterBroker {
            /// The broker.
            id: NodeId,
            /// The registration this applies to.
            epoch: BrokerEpoch,
        },
        /// A new topic with its partitions.
        CreateTopic {
            /// Topic name.
            name: String,
            /// Topic id.
            id: TopicId,
            /// Topic config overrides.
            configs: BTreeMap<String, String>,
            /// Partitions 0.. in order.
            partitions: Vec<PartitionAssignment>,
        },
        /// A topic is removed.
        DeleteTopic {
            /// Topic id.
            id: TopicId,
        },
        /// Partitions are appended to a topic.
        CreatePartitions {
            /// Topic id.
            topic: TopicId,
            /// The new partitions, numbered after the existing ones.
            added: Vec<PartitionAssignment>,
        },
        /// A partition's leader or ISR changes.
        ChangePartition {
            /// Topic id.
            topic: TopicId,
            /// Partition index.
            partition: i32,
            /// New leader, or [`NodeId::NONE`].
            leader: NodeId,
            /// New ISR.
            isr: Vec<NodeId>,
            /// New leader epoch (bumped when the leader changes).
            leader_epoch: LeaderEpoch,
            /// New partition epoch (always bumped).
            partition_epoch: i32,
            /// New eligible leader replicas.
            elr: Vec<NodeId>,
            /// New last known ELR.
            last_known_elr: Vec<NodeId>,
        },
        /// A config entry is set (`Some`) or removed (`None`).
        SetConfig {
            /// What it applies to.
            resource: ConfigResource,
            /// Config name.
            name: String,
            /// New value, or `None` to delete.
            value: Option<String>,
        },
        /// A block of producer ids goes to a broker; ids are never handed out twice.
        ProducerIdBlock {
            /// The broker that hands them out.
            broker: NodeId,
            /// First id of the block.
            start: i64,
            /// Ids in the block.
            len: i64,
        },
        /// A partition's replica set changes (a reassignment starts, completes or is
        /// cancelled), with the leader and ISR that go with it.
        ReassignPartition {
            /// Topic id.
            topic: TopicId,
            /// Partition index.
            partition: i32,
            /// The replica set, preferred leader first.
            replicas: Vec<NodeId>,
            /// Replicas being added.
            adding: Vec<NodeId>,
            /// Replicas to be removed.
            removing: Vec<NodeId>,
            /// New leader, or [`NodeId::NONE`].
            leader: NodeId,
            /// New ISR.
            isr: Vec<NodeId>,
            /// New leader epoch (bumped when the leader changes).
            leader_epoch: LeaderEpoch,
            /// New partition epoch (always bumped).
            partition_epoch: i32,
        },
        /// A change to credentials, ACLs or client quotas.
        Security(SecurityRecord),
        /// A feature's finalized level is set (KIP-584); level 0 removes it.
        FeatureLevel {
            /// Feature name (`metadata.version`, `transaction.version`, …).
            name: String,
            /// The finalized level.
            level: i16,
        },
    }
}

/// The records of one Raft entry, applied together at the entry's index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct MetadataBatch {
    /// The records, in order.
    pub records: Vec<MetadataRecord>,
}

impl MetadataBatch {
    /// The entry bytes: format byte, then the archive.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(RECORD_FORMAT_VERSION, self)
    }

    /// Decodes and validates entry bytes (from the log or a peer), in this format or an older
    /// one.
    pub fn decode(bytes: &[u8]) -> Result<MetadataBatch, CodecError> {
        match bytes.first() {
            Some(&super::records_v1::FORMAT_VERSION) => super::records_v1::decode(bytes),
            _ => codec::decode(RECORD_FORMAT_VERSION, bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_garbage_is_an_error() {
        let batch = MetadataBatch {
            records: vec![
                MetadataRecord::ClusterId { id: [7; 16] },
                MetadataRecord::SetConfig {
                    resource: ConfigResource::Broker(NodeId(3)),
                    name: "log.retention.ms".into(),
                    value: None,
                },
            ],
        };
        let bytes = batch.encode();
        assert_eq!(MetadataBatch::decode(&bytes).unwrap(), batch);
        assert_eq!(MetadataBatch::decode(&[]), Err(CodecError::Empty));
        let newer = codec::encode(RECORD_FORMAT_VERSION + 1, &batch);
        assert!(matches!(
            MetadataBatch::decode(&newer),
            Err(CodecError::UnknownVersion { .. })
        ));
        for cut in 1..bytes.len() {
            let _ = MetadataBatch::decode(&bytes[..cut]);
        }
        assert!(MetadataBatch::decode(&[RECORD_FORMAT_VERSION, 1, 2, 3]).is_err());
    }
}
