//! Every bound the load generator keeps, with why it is that size.

/// The first bytes of every value: the intended send time, nanoseconds since the Unix epoch,
/// little-endian. A consumer subtracts it from its clock for end-to-end latency.
pub const VALUE_HEADER_BYTES: usize = 8;

/// Largest value the generator sends; well under any broker's `message.max.bytes` default.
pub const MESSAGE_BYTES_MAX: usize = 1 << 20;

/// Most requests in flight on one connection; Kafka clients use 5, and more only hides
/// queueing inside the client.
pub const IN_FLIGHT_MAX: u32 = 64;

/// Largest response frame accepted from a broker. A fetch answers at most
/// [`FETCH_MAX_BYTES`] of records plus headers; anything larger is a broken stream.
pub const RESPONSE_BYTES_MAX: usize = 256 << 20;
const _: () = assert!(RESPONSE_BYTES_MAX > 2 * FETCH_MAX_BYTES as usize);

/// `max_bytes` of a fetch request: the most records one fetch may carry.
pub const FETCH_MAX_BYTES: i32 = 64 << 20;

/// `partition_max_bytes` of a fetch request (Kafka's default is 1 MiB).
pub const FETCH_PARTITION_MAX_BYTES: i32 = 4 << 20;
const _: () = assert!(FETCH_PARTITION_MAX_BYTES as usize > 2 * MESSAGE_BYTES_MAX);

/// How long a fetch may wait for data; short enough that a consumer notices the end of a run.
pub const FETCH_MAX_WAIT_MS: i32 = 100;

/// Produce request `timeout_ms`.
pub const PRODUCE_TIMEOUT_MS: i32 = 30_000;

/// Bytes read from a socket at a time for small responses.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest latency a histogram records, in microseconds (an hour); larger values are clamped.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Significant figures of every histogram (BENCHMARKING.md).
pub const HISTOGRAM_SIGFIGS: u8 = 3;

/// Locked memory each glommio executor registers for I/O. The machine's `ulimit -l` is 8 MiB
/// and the broker under test may share it, so the client asks for little; sockets do not need
/// registered buffers.
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 512 * 1024;

/// How long an idle executor polls before it parks: short, because the broker under test
/// shares the cores.
pub const EXECUTOR_SPIN_BEFORE_PARK_US: u64 = 10;

/// Kafka's request header `client_id`.
pub const CLIENT_ID: &str = "myelin-bench";

/// How often `--broker-pid` samples the broker's `/proc` counters; the measured window is cut
/// to the nearest samples, so this is also the error at each end of it.
pub const BROKER_SAMPLE_MS: u64 = 250;

/// Longest the backlog of `catch-up` may take to write before the measured run.
pub const BACKLOG_FILL_MAX_S: f64 = 600.0;

/// Delay between setting up a phase and its first intended send, so every executor starts
/// on the same clock.
pub const START_DELAY_MS: u64 = 500;
