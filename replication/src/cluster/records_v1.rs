//! The metadata record layout of format 1, frozen: entries written before format 2 are read
//! through it and converted. Nothing here may change; a new format gets its own frozen copy
//! when it is superseded.

use super::records::{
    ConfigResource, Endpoint, MetadataBatch, MetadataRecord, PartitionAssignment,
};
use crate::codec::{self, CodecError};
use crate::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format byte of this layout.
pub const FORMAT_VERSION: u8 = 1;

/// Decodes a format-1 entry into the current records.
pub fn decode(bytes: &[u8]) -> Result<MetadataBatch, CodecError> {
    let old: BatchV1 = codec::decode(FORMAT_VERSION, bytes)?;
    Ok(MetadataBatch {
        records: old.records.into_iter().map(MetadataRecord::from).collect(),
    })
}

#[derive(Archive, Serialize, Deserialize)]
struct BatchV1 {
    records: Vec<V1>,
}

impl From<V1> for MetadataRecord {
    fn from(r: V1) -> MetadataRecord {
        match r {
            V1::ClusterId { id } => MetadataRecord::ClusterId { id },
            V1::RegisterBroker {
                id,
                incarnation,
                epoch,
                listeners,
                rack,
            } => MetadataRecord::RegisterBroker {
                id,
                incarnation,
                epoch,
                listeners,
                rack,
            },
            V1::FenceBroker { id, epoch } => MetadataRecord::FenceBroker { id, epoch },
            V1::UnfenceBroker { id, epoch } => MetadataRecord::UnfenceBroker { id, epoch },
            V1::UnregisterBroker { id, epoch } => MetadataRecord::UnregisterBroker { id, epoch },
            V1::CreateTopic {
                name,
                id,
                configs,
                partitions,
            } => MetadataRecord::CreateTopic {
                name,
                id,
                configs,
                partitions,
            },
            V1::DeleteTopic { id } => MetadataRecord::DeleteTopic { id },
            V1::CreatePartitions { topic, added } => {
                MetadataRecord::CreatePartitions { topic, added }
            }
            V1::ChangePartition {
                topic,
                partition,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => MetadataRecord::ChangePartition {
                topic,
                partition,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            },
            V1::SetConfig {
                resource,
                name,
                value,
            } => MetadataRecord::SetConfig {
                resource,
                name,
                value,
            },
            V1::ProducerIdBlock { broker, start, len } => {
                MetadataRecord::ProducerIdBlock { broker, start, len }
            }
            V1::ReassignPartition {
                topic,
                partition,
                replicas,
                adding,
                removing,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
            } => MetadataRecord::ReassignPartition {
                topic,
                partition,
                replicas,
                adding,
                removing,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
            },
        }
    }
}

#[allow(missing_docs)]
mod layout {
    use super::*;

    /// The format-1 record enum, field for field.
    #[derive(Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum V1 {
        ClusterId {
            id: [u8; 16],
        },
        RegisterBroker {
            id: NodeId,
            incarnation: [u8; 16],
            epoch: BrokerEpoch,
            listeners: Vec<Endpoint>,
            rack: Option<String>,
        },
        FenceBroker {
            id: NodeId,
            epoch: BrokerEpoch,
        },
        UnfenceBroker {
            id: NodeId,
            epoch: BrokerEpoch,
        },
        UnregisterBroker {
            id: NodeId,
            epoch: BrokerEpoch,
        },
        CreateTopic {
            name: String,
            id: TopicId,
            configs: BTreeMap<String, String>,
            partitions: Vec<PartitionAssignment>,
        },
        DeleteTopic {
            id: TopicId,
        },
        CreatePartitions {
            topic: TopicId,
            added: Vec<PartitionAssignment>,
        },
        ChangePartition {
            topic: TopicId,
            partition: i32,
            leader: NodeId,
            isr: Vec<NodeId>,
            leader_epoch: LeaderEpoch,
            partition_epoch: i32,
            elr: Vec<NodeId>,
            last_known_elr: Vec<NodeId>,
        },
        SetConfig {
            resource: ConfigResource,
            name: String,
            value: Option<String>,
        },
        ProducerIdBlock {
            broker: NodeId,
            start: i64,
            len: i64,
        },
        ReassignPartition {
            topic: TopicId,
            partition: i32,
            replicas: Vec<NodeId>,
            adding: Vec<NodeId>,
            removing: Vec<NodeId>,
            leader: NodeId,
            isr: Vec<NodeId>,
            leader_epoch: LeaderEpoch,
            partition_epoch: i32,
        },
    }
}
use layout::V1;

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch as the format-1 build wrote it (bytes taken from that build).
    const WRITTEN_BY_FORMAT_1: &[&str] = &[
        "01504c41494e544558543132372e302e302e31000089000000ecffffff89000000edffffff84230000726574656e7469",
        "6f6e2e6d73000000008c000000f0ffffff00000000000000000000000000000000000000000000000000000000000000",
        "0031303030ffffffff000000000000000000000000000000000000000000000000000000000000000001000000010000",
        "0001000000f8ffffff01000000f4ffffff01000000010000000000000000000000e4ffffff00000000dcffffff000000",
        "00d4ffffff00000000ccffffff000000006c6f672e726574656e74696f6e2e6d73000707070707070707070707070707",
        "070700000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000100000001000000020202020202020202020202020202020500000000000000ccfeffff010000",
        "00010000007231ffffffffffff0000000000000000000000000000000000000000050000007061796d656e7473030303",
        "03030303030303030303030303a8feffff0100000000ffffff0100000000000000000000000000000000000000000000",
        "000000000000000000090000000100000001000000000000009000000008ffffff000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000a0000000100000000000000000000",
        "00e803000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000098feffff05000000a1a48d43",
    ];

    #[test]
    fn bytes_written_by_the_format_1_build_still_read() {
        let hex: String = WRITTEN_BY_FORMAT_1.concat();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let batch = MetadataBatch::decode(&bytes).unwrap();
        assert_eq!(batch.records.len(), 5);
        assert_eq!(batch.records[0], MetadataRecord::ClusterId { id: [7; 16] });
        assert!(matches!(
            &batch.records[1],
            MetadataRecord::RegisterBroker { id, listeners, rack, .. }
                if *id == NodeId(1) && listeners[0].port == 9092 && rack.as_deref() == Some("r1")
        ));
        assert!(matches!(
            &batch.records[2],
            MetadataRecord::CreateTopic { name, id, configs, partitions }
                if name == "payments" && *id == TopicId([3; 16])
                    && configs.get("retention.ms").map(String::as_str) == Some("1000")
                    && partitions.len() == 1
        ));
        assert_eq!(
            batch.records[4],
            MetadataRecord::ProducerIdBlock {
                broker: NodeId(1),
                start: 0,
                len: 1000
            }
        );
    }

    #[test]
    fn format_1_entries_still_read() {
        let old = BatchV1 {
            records: vec![
                V1::ClusterId { id: [7; 16] },
                V1::SetConfig {
                    resource: ConfigResource::Topic("t".into()),
                    name: "retention.ms".into(),
                    value: Some("1".into()),
                },
            ],
        };
        let bytes = codec::encode(FORMAT_VERSION, &old);
        let batch = MetadataBatch::decode(&bytes).unwrap();
        assert_eq!(
            batch.records,
            vec![
                MetadataRecord::ClusterId { id: [7; 16] },
                MetadataRecord::SetConfig {
                    resource: ConfigResource::Topic("t".into()),
                    name: "retention.ms".into(),
                    value: Some("1".into()),
                },
            ]
        );
    }
}
