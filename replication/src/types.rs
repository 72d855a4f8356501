//! Newtypes for the cluster values that are easy to mix up: node ids, epochs, offsets, topic
//! ids.
//!
//! They carry Kafka's meaning: a negative [`NodeId`] (Kafka's `-1`) means "no node", for
//! instance a partition without a leader. Raft numbers its nodes from 1 and reserves 0, so
//! [`NodeId::to_raft`] shifts by one; the mapping is total and reversible for every valid id.

use rkyv::{Archive, Deserialize, Serialize};
use std::fmt;

/// A Kafka `node.id` (broker or controller). `-1` means none.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct NodeId(pub i32);

impl NodeId {
    /// No node: a partition without a leader, an unknown controller.
    pub const NONE: NodeId = NodeId(-1);

    /// Whether this names a node (ids are non-negative in Kafka).
    pub fn is_some(self) -> bool {
        self.0 >= 0
    }

    /// The id Raft uses for this node (`node.id + 1`, since Raft reserves 0); `None` for
    /// [`NodeId::NONE`] and other negative ids.
    pub fn to_raft(self) -> Option<u64> {
        u64::try_from(self.0).ok().map(|n| n + 1)
    }

    /// The node behind a Raft id; `None` for 0 (Raft's "nobody") and ids beyond `i32`.
    pub fn from_raft(id: u64) -> Option<NodeId> {
        let n = id.checked_sub(1)?;
        i32::try_from(n).ok().map(NodeId)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A partition leader epoch: bumped by every leadership change of that partition.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct LeaderEpoch(pub i32);

impl LeaderEpoch {
    /// No epoch known (Kafka's -1).
    pub const UNKNOWN: LeaderEpoch = LeaderEpoch(-1);

    /// The epoch after this one.
    pub fn next(self) -> LeaderEpoch {
        LeaderEpoch(self.0.saturating_add(1))
    }
}

/// An offset in a log (a partition log or the metadata log).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct Offset(pub i64);

/// A broker epoch: the metadata-log index of the broker's `RegisterBroker` record, as in
/// KRaft. A new registration (a new incarnation) gets a new, larger epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct BrokerEpoch(pub i64);

/// A topic id, the UUID Metadata v10+ and Fetch v13+ address topics by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    /// Kafka's reserved all-zero id ("no topic id").
    pub const ZERO: TopicId = TopicId([0; 16]);
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", uuid::Uuid::from_bytes(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_ids_shift_by_one_and_back() {
        assert_eq!(NodeId(0).to_raft(), Some(1));
        assert_eq!(NodeId::NONE.to_raft(), None);
        assert_eq!(NodeId::from_raft(0), None);
        assert_eq!(NodeId::from_raft(1), Some(NodeId(0)));
        assert_eq!(NodeId::from_raft(u64::MAX), None);
        let max = NodeId(i32::MAX);
        assert_eq!(max.to_raft().and_then(NodeId::from_raft), Some(max));
    }
}
