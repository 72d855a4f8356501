//! Newtypes for values that are easy to mix up: broker ids and leader epochs (offsets are
//! `i64` fields whose names end in `_offset`).

/// A broker (node) id, as `node.id` sets it; -1 is "no broker".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub i32);

impl NodeId {
    /// No broker: a partition without a leader.
    pub const NONE: NodeId = NodeId(-1);
}

/// A partition leader epoch: bumped by every leadership change, stamped on every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaderEpoch(pub i32);

impl LeaderEpoch {
    /// No epoch known (Kafka's -1).
    pub const UNKNOWN: LeaderEpoch = LeaderEpoch(-1);
}
