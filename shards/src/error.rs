//! The runtime's error type.

/// What can go wrong running shards or reaching a partition.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The target shard's channel is closed (it is shutting down).
    #[error("shard {0} is not reachable")]
    Unreachable(usize),
    /// No such topic or partition on this node.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// The catalog refused a change.
    #[error(transparent)]
    Metadata(#[from] myelin_replication::MetadataError),
    /// The controller refused a request (or none could be reached).
    #[error(transparent)]
    Controller(#[from] myelin_replication::error::ControllerError),
    /// The partition refused an operation.
    #[error(transparent)]
    Partition(#[from] myelin_replication::PartitionError),
    /// The log refused an operation.
    #[error(transparent)]
    Storage(#[from] myelin_storage::StorageError),
    /// Start-up failed.
    #[error("runtime: {0}")]
    Runtime(String),
}
