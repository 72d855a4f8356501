//! Bounds of the thread-per-core runtime.

/// Jobs queued from one shard to another before the sender waits: deep enough to keep a
/// core busy through a burst of pipelined produce requests, small enough to push back.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Most shards one process runs.
pub const SHARDS_MAX: usize = 256;

/// Locked memory glommio registers with io_uring per shard when the limit allows it.
pub const IO_MEMORY_BYTES: usize = 10 << 20;

/// Smallest io_memory worth registering; below it glommio runs with unregistered buffers.
pub const IO_MEMORY_BYTES_MIN: usize = 512 << 10;

/// How long shutdown waits for open connections to finish their in-flight request.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;

/// Producer ids reserved per durable write: a restart skips at most this many ids.
pub const PRODUCER_ID_BLOCK: i64 = 1_000;

/// How often a waiting task checks whether shutdown has begun: the delay a stop adds to
/// idle connections and background loops.
pub const STOP_CHECK_MS: u64 = 50;

/// Smallest housekeeping interval; also the step in which a shard waits between rounds, so
/// shutdown does not wait for a whole interval.
pub const HOUSEKEEPING_STEP_MS: u64 = 100;

/// CPU shares of the housekeeping task queue (retention, compaction) against the default
/// queue's 1000: a tenth of the core at most while requests are waiting.
pub const HOUSEKEEPING_SHARES: usize = 100;

/// Partition logs a shard opens at once when metadata brings it many (start-up). After a
/// crash each open scans its active segment with a buffer of up to a few MiB; opening 10,000
/// at once held gigabytes of scan buffers. This many keeps the disk busy without that.
pub const PARTITION_OPENS_IN_FLIGHT: usize = 32;
