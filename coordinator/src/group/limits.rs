//! Bounds of the group coordinator.

/// Members one group may have (`group.max.size`'s role); more get GROUP_MAX_SIZE_REACHED.
pub const MEMBERS_PER_GROUP_MAX: usize = 1_000;

/// Groups one shard coordinates; beyond this new groups get COORDINATOR_NOT_AVAILABLE.
pub const GROUPS_PER_SHARD_MAX: usize = 100_000;

/// Protocol metadata one member may send in a JoinGroup (all protocols together).
pub const MEMBER_METADATA_BYTES_MAX: usize = 64 << 10;

/// Characters of the client or instance id kept at the front of a generated member id.
pub const MEMBER_ID_PREFIX_CHARS: usize = 64;

/// Longest group id accepted.
pub const GROUP_ID_BYTES_MAX: usize = 255;

/// Longest offset metadata string (`offset.metadata.max.bytes`, Kafka's default).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4_096;

/// How often the coordinator checks sessions and rebalance deadlines.
pub const TICK_MS: u64 = 100;

/// Longest interval between sweeps of expired offsets.
pub const OFFSET_EXPIRY_SWEEP_MS: i64 = 60_000;
