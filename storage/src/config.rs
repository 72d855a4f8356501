//! Per-partition log settings (the storage half of Kafka's topic configs).

use crate::limits;

/// How a log is configured; the broker fills it from topic configs and broker defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll the active segment when it would exceed this many bytes (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment when it is older than this (`segment.ms`).
    pub segment_ms: i64,
    /// Delete sealed segments whose newest record is older than this; -1 keeps forever
    /// (`retention.ms`).
    pub retention_ms: i64,
    /// Delete the oldest sealed segments while the log is larger than this; -1 keeps all
    /// (`retention.bytes`).
    pub retention_bytes: i64,
    /// Largest batch accepted (`max.message.bytes`).
    pub max_message_bytes: u32,
    /// Stamp batches with the broker's clock (`message.timestamp.type=LogAppendTime`).
    pub log_append_time: bool,
    /// `fdatasync` after this many appended messages; 1 makes every acknowledged write
    /// durable before it is acknowledged (`flush.messages`).
    pub flush_messages: u64,
    /// Bytes of recent batches kept in memory for tailing readers.
    pub cache_bytes: usize,
    /// `fdatasync` at least this often while unsynced batches exist; -1 leaves it to the
    /// other flush settings (`flush.ms`).
    pub flush_ms: i64,
    /// `fdatasync` once this many bytes are unsynced; -1 never by size
    /// (`myelin.flush.bytes`, a Myelin extension).
    pub flush_bytes: i64,
    /// `cleanup.policy` contains `delete`: retention by time and size applies.
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: only the last record per key is kept.
    pub cleanup_compact: bool,
    /// How long a tombstone stays after compaction reached it (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// Compact once the uncleaned share of the sealed log reaches this
    /// (`min.cleanable.dirty.ratio`).
    pub min_cleanable_dirty_ratio: f64,
    /// Records younger than this are never compacted (`min.compaction.lag.ms`).
    pub min_compaction_lag_ms: i64,
    /// `min.insync.replicas`: the log ignores it; it travels with the topic's other configs
    /// to the partition, whose `acks=all` produces need this many in-sync replicas.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: the log ignores it too; the controller reads it
    /// from the topic's configs when no in-sync replica is left to lead.
    pub unclean_leader_election: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: limits::SEGMENT_BYTES_DEFAULT,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: limits::MESSAGE_BYTES_DEFAULT,
            log_append_time: false,
            flush_messages: 1,
            cache_bytes: limits::CACHE_BYTES_DEFAULT,
            flush_ms: -1,
            flush_bytes: -1,
            cleanup_delete: true,
            cleanup_compact: false,
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            min_insync_replicas: 1,
            unclean_leader_election: false,
        }
    }
}
