//! Kafka error codes Myelin returns, and the one place storage, partition and runtime errors
//! map to them.

use myelin_replication::error::ControllerError;
use myelin_replication::{MetadataError, PartitionError};
use myelin_shards::ShardError;
use myelin_storage::StorageError;

/// No error.
pub const NONE: i16 = 0;
/// The principal may not use the topic.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// The principal may not use the group.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// The principal may not perform the cluster operation.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// The SASL mechanism is not enabled on this listener.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// A SASL request out of order.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// The principal may not use the transactional id.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// No authorizer is configured.
pub const SECURITY_DISABLED: i16 = 54;
/// Wrong credentials, unknown user or a failed SASL exchange.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// A deletion named something that does not exist.
pub const RESOURCE_NOT_FOUND: i16 = 91;
/// A request named the same resource twice.
pub const DUPLICATE_RESOURCE: i16 = 92;
/// A credential outside what the broker accepts.
pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;
/// Unexpected server error.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Fetch or ListOffsets offset outside the log.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Batch failed its CRC or structure check.
pub const CORRUPT_MESSAGE: i16 = 2;
/// No such topic or partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// No leader for the partition right now (an election, or an offline partition).
pub const LEADER_NOT_AVAILABLE: i16 = 5;
/// This broker does not lead the partition.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// The request timed out.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// The broker is not available.
pub const BROKER_NOT_AVAILABLE: i16 = 8;
/// Fewer in-sync replicas than `min.insync.replicas`; nothing was written.
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
/// Written, but the ISR shrank below `min.insync.replicas` before it was committed.
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
/// The request went to a broker that is not the active controller.
pub const NOT_CONTROLLER: i16 = 41;
/// The request's leader epoch is older than the partition's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// The request's leader epoch is newer than this broker knows.
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// A broker's epoch is no longer current.
pub const STALE_BROKER_EPOCH: i16 = 77;
/// The broker id is not registered with the controller.
pub const BROKER_ID_NOT_REGISTERED: i16 = 102;
/// Another live incarnation of the broker id is registered.
pub const DUPLICATE_BROKER_REGISTRATION: i16 = 101;
/// The request names another cluster.
pub const INCONSISTENT_CLUSTER_ID: i16 = 104;
/// An update names a partition epoch that has moved on.
pub const INVALID_UPDATE_VERSION: i16 = 95;
/// A replica that may not join the ISR.
pub const INELIGIBLE_REPLICA: i16 = 107;
/// The preferred replica cannot lead now (fenced or out of sync).
pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
/// No live replica may lead the partition.
pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
/// The partition already has the leader an election would give it.
pub const ELECTION_NOT_NEEDED: i16 = 84;
/// A replica assignment names no, repeated or unknown brokers.
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// A reassignment cancelled where none runs.
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
/// Offset metadata longer than allowed.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// The coordinator is still loading the group's offsets.
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// No coordinator is available.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// This broker does not coordinate the group.
pub const NOT_COORDINATOR: i16 = 16;
/// Generation no longer current.
pub const ILLEGAL_GENERATION: i16 = 22;
/// Members do not share a protocol.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// Bad group id.
pub const INVALID_GROUP_ID: i16 = 24;
/// Member not in the group.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// Session timeout outside the broker's bounds.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// The group is rebalancing.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// The group has members and cannot be deleted.
pub const NON_EMPTY_GROUP: i16 = 68;
/// No such group.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// The join must be repeated with the member id handed out (KIP-394).
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// The group is full.
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
/// Another member holds this static instance id.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// The group still consumes the topic whose offsets should be deleted.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
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
/// A request the resource's policy forbids (DeleteRecords on a compacted-only topic).
pub const POLICY_VIOLATION: i16 = 44;
/// Legacy message format that cannot be served.
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
/// An idempotent producer skipped a sequence number.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// A producer wrote with a fenced (older) epoch.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// The partition does not know the producer and the batch does not start a sequence.
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
/// The transaction is in a state that does not allow the request.
pub const INVALID_TXN_STATE: i16 = 48;
/// The producer id does not match the transactional id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// The transaction is being completed; retry.
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
/// A newer instance of the producer has taken over (Kafka 2.7+; older clients get
/// INVALID_PRODUCER_EPOCH).
pub const PRODUCER_FENCED: i16 = 90;
/// The transactional id is unknown.
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
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
        StorageError::KeylessRecords(_) => INVALID_RECORD,
        StorageError::BatchTooLarge { .. } => MESSAGE_TOO_LARGE,
        StorageError::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
        StorageError::NotContiguous { .. } => CORRUPT_MESSAGE,
        StorageError::Io(_)
        | StorageError::Offline
        | StorageError::Discarded
        | StorageError::BadMetadata(_) => KAFKA_STORAGE_ERROR,
    }
}

/// Kafka's code for a partition error.
pub fn partition(e: &PartitionError) -> i16 {
    match e {
        PartitionError::NotLeader => NOT_LEADER_OR_FOLLOWER,
        PartitionError::FencedLeaderEpoch { .. } => FENCED_LEADER_EPOCH,
        PartitionError::UnknownLeaderEpoch { .. } => UNKNOWN_LEADER_EPOCH,
        PartitionError::OutOfOrderSequence => OUT_OF_ORDER_SEQUENCE_NUMBER,
        PartitionError::InvalidProducerEpoch => INVALID_PRODUCER_EPOCH,
        PartitionError::UnknownProducerId => UNKNOWN_PRODUCER_ID,
        PartitionError::NotEnoughReplicas { .. } => NOT_ENOUGH_REPLICAS,
        PartitionError::NotEnoughReplicasAfterAppend { .. } => NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        PartitionError::PolicyViolation(_) => POLICY_VIOLATION,
        PartitionError::Storage(s) => storage(s),
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

/// Kafka's code for a controller's answer.
pub fn controller(e: &ControllerError) -> i16 {
    match e {
        ControllerError::NotController { .. } => NOT_CONTROLLER,
        ControllerError::InvalidTopic(_) => INVALID_TOPIC_EXCEPTION,
        ControllerError::TopicAlreadyExists(_) => TOPIC_ALREADY_EXISTS,
        ControllerError::UnknownTopicOrPartition(_) => UNKNOWN_TOPIC_OR_PARTITION,
        ControllerError::InvalidPartitions(_) => INVALID_PARTITIONS,
        ControllerError::InvalidReplicationFactor(_) => INVALID_REPLICATION_FACTOR,
        ControllerError::InvalidConfig(_) => INVALID_CONFIG,
        ControllerError::InvalidRequest(_) => INVALID_REQUEST,
        ControllerError::StaleBrokerEpoch { .. } => STALE_BROKER_EPOCH,
        ControllerError::BrokerIdNotRegistered(_) => BROKER_ID_NOT_REGISTERED,
        ControllerError::DuplicateBrokerRegistration(_) => DUPLICATE_BROKER_REGISTRATION,
        ControllerError::InconsistentClusterId => INCONSISTENT_CLUSTER_ID,
        ControllerError::NotCommitted(_) => REQUEST_TIMED_OUT,
        ControllerError::Internal(_) => UNKNOWN_SERVER_ERROR,
        ControllerError::FencedLeaderEpoch => FENCED_LEADER_EPOCH,
        ControllerError::InvalidUpdateVersion => INVALID_UPDATE_VERSION,
        ControllerError::IneligibleReplica(_) => INELIGIBLE_REPLICA,
        ControllerError::NotLeader => NOT_LEADER_OR_FOLLOWER,
        ControllerError::ElectionNotNeeded => ELECTION_NOT_NEEDED,
        ControllerError::PreferredLeaderNotAvailable => PREFERRED_LEADER_NOT_AVAILABLE,
        ControllerError::EligibleLeadersNotAvailable => ELIGIBLE_LEADERS_NOT_AVAILABLE,
        ControllerError::InvalidReplicaAssignment(_) => INVALID_REPLICA_ASSIGNMENT,
        ControllerError::NoReassignmentInProgress => NO_REASSIGNMENT_IN_PROGRESS,
        ControllerError::DuplicateResource(_) => DUPLICATE_RESOURCE,
        ControllerError::ResourceNotFound(_) => RESOURCE_NOT_FOUND,
        ControllerError::UnacceptableCredential(_) => UNACCEPTABLE_CREDENTIAL,
        ControllerError::UnsupportedSaslMechanism(_) => UNSUPPORTED_SASL_MECHANISM,
    }
}

/// Kafka's code for a runtime error.
pub fn shard(e: &ShardError) -> i16 {
    match e {
        ShardError::UnknownTopicOrPartition => UNKNOWN_TOPIC_OR_PARTITION,
        ShardError::Metadata(m) => metadata(m),
        ShardError::Partition(p) => partition(p),
        ShardError::Controller(c) => controller(c),
        ShardError::Storage(s) => storage(s),
        ShardError::Unreachable(_) | ShardError::Runtime(_) => UNKNOWN_SERVER_ERROR,
    }
}
