//! Bounds of the cluster metadata quorum, each with the reason for its size.
//!
//! Topic limits (name length, partitions per topic, topic count) live in [`crate::metadata`]
//! and are reused from there.

/// Largest frame payload a peer may send. A Raft snapshot of the metadata image travels in one
/// frame; 100k topics with a few partitions each stay well below this.
pub const FRAME_PAYLOAD_BYTES_MAX: u32 = 256 << 20;

/// Most committed-record bytes one `FetchMetadata` answer carries; keeps an answer small
/// enough that a catching-up broker does not hold the controller's shard for long.
pub const FETCH_METADATA_BYTES_MAX: u64 = 1 << 20;

/// Largest Raft message (entries) the leader sends in one append; a metadata batch is small.
pub const RAFT_MESSAGE_BYTES_MAX: u64 = 1 << 20;

/// Appends in flight to one follower before the leader waits for acknowledgements.
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;

/// Largest record batch one proposal may carry: a CreateTopics of the most partitions
/// (`PARTITIONS_PER_TOPIC_MAX` × a handful of replicas) fits.
pub const PROPOSAL_BYTES_MAX: usize = 16 << 20;

/// Largest entry in the on-disk Raft log; checked before a recovery scan allocates for one.
pub const LOG_ENTRY_BYTES_MAX: u32 = 32 << 20;
const _: () = assert!(PROPOSAL_BYTES_MAX < LOG_ENTRY_BYTES_MAX as usize);

/// Largest hard-state file; it holds a few integers and the voter list.
pub const HARD_STATE_BYTES_MAX: u64 = 64 << 10;

/// Largest snapshot file accepted on recovery, the same bound as a frame carrying one.
pub const SNAPSHOT_BYTES_MAX: u64 = FRAME_PAYLOAD_BYTES_MAX as u64;

/// Voters of a metadata quorum: 1, 3 or 5 in practice; more buys nothing but latency.
pub const VOTERS_MAX: usize = 7;

/// Producer ids per `ProducerIdBlock`, as Kafka hands them out.
pub const PRODUCER_ID_BLOCK_LEN: i64 = 1000;

/// Most listeners one broker registration may carry.
pub const LISTENERS_MAX: usize = 16;

/// Most brokers the cluster image keeps; bounds placement work per request.
pub const BROKERS_MAX: usize = 10_000;

/// Longest config name or value accepted in a record.
pub const CONFIG_BYTES_MAX: usize = 32 << 10;
