//! Bounds on everything `myelin-perf` starts, each with why it is that size.

use std::time::Duration;

/// A measurement or profile never runs longer than this: the machines are shared, and a minute
/// is long enough for fio, iperf3 and perf to settle.
pub const MEASURE_SECONDS_MAX: u64 = 60;

/// Extra time an external tool gets beyond its own run time (start-up, file layout, writing its
/// report) before it is killed as hung.
pub const TOOL_GRACE: Duration = Duration::from_secs(30);

/// Size of fio's sequential-write file. Large enough that a few seconds of writing at NVMe
/// speeds mostly stays ahead of wrapping around; small enough for any data disk to hold.
pub const FIO_WRITE_FILE_BYTES: u64 = 1 << 30;

/// Block size of the sequential-write test: large direct writes measure the device, not the
/// per-request overhead.
pub const FIO_WRITE_BLOCK_BYTES: u64 = 1 << 20;

/// Writes in flight in the sequential-write test: enough to keep an NVMe device busy, about
/// what a shard's appender keeps in flight.
pub const FIO_WRITE_IODEPTH: u32 = 8;

/// Size of the `fdatasync` test's file: small enough for any disk. A fast device wraps round
/// it within seconds, which is harmless: overwriting allocated blocks is the cheaper case, and
/// a broker's log appends allocate, so the figure errs towards optimism only on such devices.
pub const FIO_SYNC_FILE_BYTES: u64 = 256 << 20;

/// Block size of the `fdatasync` test: one small batch, so the figure is the flush latency.
pub const FIO_SYNC_BLOCK_BYTES: u64 = 4 << 10;

/// How long to keep retrying to reach a just-started iperf3 server before giving up.
pub const IPERF3_CONNECT_ATTEMPTS: u32 = 10;

/// Samples per second for `perf record`: an odd rate avoids lock-step with timer ticks, and
/// below 1 kHz the overhead stays small on the profiled shard.
pub const PERF_SAMPLE_HZ: u32 = 999;

/// Stack bytes `perf` copies per sample for DWARF unwinding: deep enough for async Rust
/// stacks under glommio's executor, small enough to keep `perf.data` in the tens of MB.
pub const PERF_DWARF_STACK_BYTES: u32 = 16 << 10;

/// How long `perf script` and inferno may take to turn a recording into stacks. 12 s of one
/// busy shard took under a second here; a whole busy process for a minute takes far longer.
pub const PERF_POSTPROCESS_LIMIT: Duration = Duration::from_secs(600);

/// How many of the hottest functions `profile` lists: enough to cover most of the samples of
/// a busy shard, few enough to read at a glance.
pub const PERF_TOP_FRAMES: usize = 15;

/// How often a running tool is polled for exit: small against every run time above.
pub const TOOL_POLL_INTERVAL: Duration = Duration::from_millis(50);

const _: () = assert!(FIO_WRITE_FILE_BYTES % FIO_WRITE_BLOCK_BYTES == 0);
const _: () = assert!(FIO_SYNC_FILE_BYTES % FIO_SYNC_BLOCK_BYTES == 0);
const _: () = assert!(PERF_DWARF_STACK_BYTES % 8 == 0);
