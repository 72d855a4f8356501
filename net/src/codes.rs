//! Kafka error codes Myelin returns, and the one place storage and runtime errors map to them.

use myelin_replication::MetadataError;
use myelin_shards::ShardError;
use myelin_storage::StorageError;

/// No error.
pub const NONE: i16 = 0;
/// Unexpected server error.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Fetch or ListOffsets offset outside the log.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Batch failed its CRC or structure check.
pub const CORRUPT_MESSAGE: i16 = 2;
/// No such topic or partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Batch larger than `max.message.bytes`.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// Bad topic name.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// acks other than -1, 0, 1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// API version not supported.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Topic exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Bad partition count.
pub const INVALID_PARTITIONS: i16 = 37;
/// Bad replication factor.
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
/// Bad config.
pub const INVALID_CONFIG: i16 = 40;
/// Malformed request.
pub const INVALID_REQUEST: i16 = 42;
/// Legacy message format that cannot be served.
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
/// Log offline after an I/O error.
pub const KAFKA_STORAGE_ERROR: i16 = 56;
/// Record failed validation.
pub const INVALID_RECORD: i16 = 87;
/// Topic id not known.
pub const UNKNOWN_TOPIC_ID: i16 = 100;

/// Kafka's code for a storage error.
pub fn storage(e: &StorageError) -> i16 {
    match e {
        StorageError::CorruptBatch(_) => CORRUPT_MESSAGE,
        StorageError::BatchTooLarge { .. } => MESSAGE_TOO_LARGE,
        StorageError::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
        StorageError::Io(_) | StorageError::Offline | StorageError::BadMetadata(_) => {
            KAFKA_STORAGE_ERROR
        }
    }
}

/// Kafka's code for a catalog error.
pub fn metadata(e: &MetadataError) -> i16 {
    match e {
        MetadataError::InvalidTopic(_) => INVALID_TOPIC_EXCEPTION,
        MetadataError::TopicExists(_) => TOPIC_ALREADY_EXISTS,
        MetadataError::UnknownTopic(_) => UNKNOWN_TOPIC_OR_PARTITION,
        MetadataError::InvalidPartitions(_) => INVALID_PARTITIONS,
        MetadataError::InvalidReplicationFactor(_) => INVALID_REPLICATION_FACTOR,
        MetadataError::InvalidConfig(_) => INVALID_CONFIG,
        MetadataError::Corrupt(_) => UNKNOWN_SERVER_ERROR,
    }
}

/// Kafka's code for a runtime error.
pub fn shard(e: &ShardError) -> i16 {
    match e {
        ShardError::UnknownTopicOrPartition => UNKNOWN_TOPIC_OR_PARTITION,
        ShardError::Metadata(m) => metadata(m),
        ShardError::Storage(s) => storage(s),
        ShardError::Unreachable(_) | ShardError::Runtime(_) => UNKNOWN_SERVER_ERROR,
    }
}
