//! The errors of a partition, in terms a Kafka handler maps to error codes in one place
//! (`myelin-net`'s `codes.rs`).

use myelin_storage::StorageError;

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
    /// The partition's log refused the operation.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
