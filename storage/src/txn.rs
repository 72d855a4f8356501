//! What the log itself knows of transactions: the marker types control batches carry, and
//! the shape of an aborted transaction, which compaction removes. Which transactions are
//! open or aborted is the partition's state (`myelin-replication`).

/// Marker type of a control batch: abort.
pub const MARKER_ABORT: i8 = 0;
/// Marker type of a control batch: commit.
pub const MARKER_COMMIT: i8 = 1;
/// Not a control batch.
pub const MARKER_NONE: i8 = -1;

/// A transaction that was aborted in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Its first batch in this partition.
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
}
