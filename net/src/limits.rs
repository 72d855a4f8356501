//! Bounds of the Kafka endpoint.

/// Largest request frame accepted, Kafka's `socket.request.max.bytes` default. The length
/// prefix is checked against it before anything is allocated.
pub const FRAME_BYTES_MAX: usize = 100 << 20;

/// Largest frame for requests other than Produce: nothing else legitimately carries bulk
/// data, and a small bound keeps what a hostile array count can make the decoder touch
/// small.
pub const CONTROL_FRAME_BYTES_MAX: usize = 1 << 20;

/// Longest a Fetch may wait for data, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: i32 = 30_000;

/// Connections one shard serves at once; more are accepted and closed.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 10_000;

/// Requests one connection may have in flight (read but not yet answered). Produce requests
/// pipeline behind each other's fsyncs; beyond this the connection stops reading.
pub const IN_FLIGHT_PER_CONNECTION_MAX: usize = 64;

/// Pause after a failed accept (out of file descriptors, say) before trying again.
pub const ACCEPT_RETRY_MS: u64 = 10;

/// How often shutdown checks whether open connections have finished.
pub const DRAIN_CHECK_MS: u64 = 20;

/// Segment size of `__consumer_offsets` and `__transaction_state` (Kafka's
/// `offsets.topic.segment.bytes`): small enough that compaction gets sealed segments to clean
/// while a group is busy.
pub const INTERNAL_SEGMENT_BYTES: u64 = 100 << 20;

/// Replicas a new topic may have: the bound the metadata image keeps per partition (more
/// never helps and slows every ISR scan).
pub const REPLICATION_FACTOR_MAX: i16 = myelin_replication::cluster::image::REPLICAS_MAX as i16;

/// Records one console message-browser request returns at most: a page a person reads.
pub const CONSOLE_MESSAGES_MAX: usize = 100;

/// Records a message-browser request returns when it does not say how many.
pub const CONSOLE_MESSAGES_DEFAULT: usize = 20;
const _: () = assert!(CONSOLE_MESSAGES_DEFAULT <= CONSOLE_MESSAGES_MAX);

/// Stored batch bytes one message-browser request reads at most (the first batch always
/// goes whole, as in a fetch): bounds what a browser tab can make shard 0 hold.
pub const CONSOLE_READ_BYTES_MAX: usize = 1 << 20;

/// Partition reads one message-browser request makes at most, so a run of batches that hold
/// only skipped records (transaction markers) cannot keep it reading.
pub const CONSOLE_READS_MAX: usize = 16;

/// Bytes of each key, value and header value the message browser shows; longer ones are cut
/// and marked, so a page of 100 large records stays a page.
pub const CONSOLE_PREVIEW_BYTES_MAX: usize = 4 << 10;

/// Query parameters an admin request may carry.
pub const ADMIN_QUERY_PARAMS_MAX: usize = 16;

/// Largest frame a client may send before it has authenticated on a SASL listener (Kafka's
/// `sasl.server.max.receive.size` default), so an unauthenticated peer cannot make the
/// broker hold large buffers.
pub const UNAUTHENTICATED_FRAME_BYTES_MAX: usize = 512 * 1024;

/// How long a client on a SASL listener has to authenticate after connecting.
pub const AUTHENTICATION_TIMEOUT_MS: u64 = 10_000;
