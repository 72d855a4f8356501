//! Every bound the storage engine enforces, with the reason for its size.

/// O_DIRECT transfers must be aligned to the logical block size; 4 KiB covers NVMe and
/// virtual disks alike.
pub const DMA_ALIGNMENT: u64 = 4096;

/// Default segment size: bounds the time a recovery scan of one active segment can take.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 30;

/// Smallest segment a topic may configure; smaller segments would make file handles the
/// bottleneck.
pub const SEGMENT_BYTES_MIN: u64 = 1 << 14;
const _: () = assert!(SEGMENT_BYTES_MIN % DMA_ALIGNMENT == 0);

/// Active segments grow in steps of this size so the file system allocates extents once,
/// not per write, and `fdatasync` does not have to persist a new file size each time.
pub const PREALLOCATE_BYTES: u64 = 16 << 20;
const _: () = assert!(PREALLOCATE_BYTES % DMA_ALIGNMENT == 0);

/// The first preallocation step of a segment; steps double up to [`PREALLOCATE_BYTES`].
pub const PREALLOCATE_MIN_BYTES: u64 = 1 << 20;
const _: () = assert!(PREALLOCATE_MIN_BYTES % DMA_ALIGNMENT == 0);

/// Largest record batch accepted from a producer or read back from disk: Kafka's default
/// `message.max.bytes` plus headroom for a topic that raises `max.message.bytes`.
pub const BATCH_BYTES_MAX: u32 = 64 << 20;

/// Default `max.message.bytes`, Kafka's default (1 MiB plus record overhead).
pub const MESSAGE_BYTES_DEFAULT: u32 = 1_048_588;

/// Recent batches kept in memory per partition for tailing consumers.
pub const CACHE_BYTES_DEFAULT: usize = 8 << 20;

/// Fetch waiters one partition keeps before cancelled ones are swept.
pub const WAITERS_SWEEP_AT: usize = 1024;

/// A cold read shorter than this reads this much and keeps the rest for the next
/// sequential read, so a consumer catching up with small fetches costs one I/O per step.
pub const READ_AHEAD_BYTES: u64 = 512 << 10;

/// Disk bytes per second one shard's compaction reads and writes at most: enough to clean a
/// gigabyte in well under a minute, little enough to leave the disk to produce and fetch.
pub const COMPACTION_IO_BYTES_PER_S: u64 = 32 << 20;

/// A retired segment file keeps its data this long before the reaper shrinks it: longer than
/// any read planned against it takes.
pub const RETIRE_GRACE_MS: u64 = 5_000;

/// The reaper shrinks a retired file by this much at a time ...
pub const RETIRE_STEP_BYTES: u64 = 8 << 20;

/// ... and pauses this long between steps: 1 GiB is given back in about 2.6 s. Measured
/// with 20 MiB/s of acks=all produce beside five 400 MiB deletions: unlink p99 44 ms,
/// 32 MiB steps 7.0 ms, 8 MiB steps 5.7 ms, no deletion 3.5–4.2 ms.
pub const RETIRE_PAUSE_MS: u64 = 20;
