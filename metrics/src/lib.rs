//! Metrics of one shard: counters and latency histograms owned by the shard's thread.
//!
//! Every shard is one thread, so its metrics live in a thread-local [`ShardMetrics`] and are
//! bumped with plain `Cell`s: no atomics and no shared cache lines on the hot path. Whoever
//! serves `/metrics` asks each shard over the mesh for a [`ShardSnapshot`] (owned, `Send`) and
//! merges them; [`Exposition`] writes the Prometheus text format.
//!
//! Recording is on unless [`set_enabled`] turns it off (`--metrics false`), which leaves one
//! relaxed load of a flag that never changes on each recording path.

pub mod heap;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns recording on or off for the whole process (set once, at start-up).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether recording is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Upper bounds of the latency buckets, in microseconds (a last bucket holds the rest).
pub const LATENCY_BOUNDS_US: [u64; 19] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Upper bounds of the buckets of [`ShardMetrics::io_depth`], in operations: powers of two
/// and the halves between them (glommio's main ring has 128 entries; our own operations may
/// queue beyond it).
pub const IO_DEPTH_BOUNDS: [u64; 19] = [
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1_024,
];

/// Buckets of a histogram: one per bound and one above the last.
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;
const _: () = assert!(IO_DEPTH_BOUNDS.len() + 1 == BUCKETS);

/// Highest API key the per-API table has room for (Kafka's keys are below 100).
pub const API_KEYS: usize = 128;

/// A latency histogram with fixed, Prometheus-style buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [Cell<u64>; BUCKETS],
    sum_us: Cell<u64>,
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one duration in microseconds.
    pub fn record_us(&self, us: u64) {
        self.record_in(&LATENCY_BOUNDS_US, us);
    }

    /// Records one value in the buckets of `bounds` (a histogram keeps to one set of
    /// bounds; its sum is of the values, whatever their unit).
    pub fn record_in(&self, bounds: &[u64; BUCKETS - 1], value: u64) {
        let i = bounds.partition_point(|&b| b < value);
        if let Some(c) = self.counts.get(i) {
            c.set(c.get() + 1);
        }
        self.sum_us.set(self.sum_us.get().saturating_add(value));
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self.counts.iter().map(Cell::get).collect(),
            sum_us: self.sum_us.get(),
        }
    }
}

/// A histogram's counts at one moment, per bucket (not cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per bucket of [`LATENCY_BOUNDS_US`], then above the last bound.
    pub counts: Vec<u64>,
    /// Sum of the observations in microseconds.
    pub sum_us: u64,
}

impl HistogramSnapshot {
    /// Adds `other`'s observations to these.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket bound at or below which a fraction `q` of the observations fall, in
    /// microseconds (`None` when empty; the last bound when above it).
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return LATENCY_BOUNDS_US
                    .get(i)
                    .copied()
                    .or(LATENCY_BOUNDS_US.last().copied());
            }
        }
        LATENCY_BOUNDS_US.last().copied()
    }
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(Cell<u64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.set(self.0.get().wrapping_add(n));
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(Cell<u64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0.set(v);
    }

    /// Adds one and returns the new value.
    pub fn increment(&self) -> u64 {
        let v = self.0.get().saturating_add(1);
        self.0.set(v);
        v
    }

    /// Takes one away (never below zero).
    pub fn decrement(&self) {
        self.0.set(self.0.get().saturating_sub(1));
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// Requests of one API key on one shard.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Requests answered (or dropped, for acks=0 produces).
    pub requests: Counter,
    /// From the request read off the socket until its response is written.
    pub latency: Histogram,
}

/// Bytes and records of one topic on one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicTraffic {
    /// Record-batch bytes produced to the topic through this shard.
    pub bytes_in: u64,
    /// Records produced.
    pub records_in: u64,
    /// Record-batch bytes fetched from the topic through this shard (consumers and followers
    /// that fetch; replication pushes are counted apart).
    pub bytes_out: u64,
}

/// Everything one shard records.
#[derive(Debug)]
pub struct ShardMetrics {
    api: Vec<ApiMetrics>,
    topics: RefCell<HashMap<String, TopicTraffic>>,
    /// A log's aligned write of pending batches, with its sync when the policy asks for one,
    /// until they are durable.
    pub log_write: Histogram,
    /// Explicit `fdatasync`s of segment files.
    pub log_sync: Histogram,
    /// From a batch's append to the log until it is durable: what an acks=all produce waits
    /// for on the leader before replication.
    pub append_to_durable: Histogram,
    /// From a batch becoming durable until a consumer first fetches it (tailing consumers
    /// only: batches read later than [`DURABLE_TO_FETCH_WINDOW_MS`] are not counted).
    pub durable_to_fetch: Histogram,
    /// Bytes written to segment files (with the rewritten partial tail blocks).
    pub log_bytes_written: Counter,
    /// Batch bytes reads found in the cache of recent batches.
    pub read_cache_hit_bytes: Counter,
    /// Batch bytes reads had to take from segment files (or their read-ahead).
    pub read_cache_miss_bytes: Counter,
    /// Bytes read from client sockets.
    pub net_bytes_in: Counter,
    /// Bytes written to client sockets.
    pub net_bytes_out: Counter,
    /// Client connections accepted.
    pub connections_accepted: Counter,
    /// Client connections closed.
    pub connections_closed: Counter,
    /// SASL authentications that failed.
    pub authentication_failures: Counter,
    /// Batch bytes a leader pushed to its followers.
    pub replication_bytes_out: Counter,
    /// Batch bytes a follower appended from its leader.
    pub replication_bytes_in: Counter,
    /// ISR shrinks this shard's leaders had the controller commit.
    pub isr_shrinks: Counter,
    /// ISR expansions this shard's leaders had the controller commit.
    pub isr_expands: Counter,
    /// The logs' file operations (segment opens, reads, block writes, syncs,
    /// preallocations, truncations, size and close calls) issued to glommio and not yet
    /// complete: our own operations, not the io_uring ring's entries.
    pub io_in_flight: Gauge,
    /// [`ShardMetrics::io_in_flight`] as each operation is issued (itself included), in the
    /// buckets of [`IO_DEPTH_BOUNDS`].
    pub io_depth: Histogram,
    /// The io_memory the shard's executor was built with: glommio's buffers registered with
    /// io_uring, locked and outside the heap.
    pub io_memory_bytes: Gauge,
}

/// Batches fetched later than this after becoming durable are not tailing reads and are left
/// out of [`ShardMetrics::durable_to_fetch`].
pub const DURABLE_TO_FETCH_WINDOW_MS: u64 = 10_000;

impl Default for ShardMetrics {
    fn default() -> Self {
        ShardMetrics {
            api: (0..API_KEYS).map(|_| ApiMetrics::default()).collect(),
            topics: RefCell::new(HashMap::new()),
            log_write: Histogram::default(),
            log_sync: Histogram::default(),
            append_to_durable: Histogram::default(),
            durable_to_fetch: Histogram::default(),
            log_bytes_written: Counter::default(),
            read_cache_hit_bytes: Counter::default(),
            read_cache_miss_bytes: Counter::default(),
            net_bytes_in: Counter::default(),
            net_bytes_out: Counter::default(),
            connections_accepted: Counter::default(),
            connections_closed: Counter::default(),
            authentication_failures: Counter::default(),
            replication_bytes_out: Counter::default(),
            replication_bytes_in: Counter::default(),
            isr_shrinks: Counter::default(),
            isr_expands: Counter::default(),
            io_in_flight: Gauge::default(),
            io_depth: Histogram::default(),
            io_memory_bytes: Gauge::default(),
        }
    }
}

thread_local! {
    static SHARD: ShardMetrics = ShardMetrics::default();
}

/// Runs `f` on this thread's metrics when recording is on.
pub fn record(f: impl FnOnce(&ShardMetrics)) {
    if enabled() {
        SHARD.with(f);
    }
}

/// Records one answered request of `api_key`.
pub fn request(api_key: i16, elapsed: Duration) {
    record(|m| {
        if let Some(a) = usize::try_from(api_key).ok().and_then(|k| m.api.get(k)) {
            a.requests.add(1);
            a.latency.record(elapsed);
        }
    });
}

fn topic(topic: &str, f: impl FnOnce(&mut TopicTraffic)) {
    record(|m| {
        let mut topics = m.topics.borrow_mut();
        match topics.get_mut(topic) {
            Some(t) => f(t),
            None => f(topics.entry(topic.to_owned()).or_default()),
        }
    });
}

/// Records a produce of `bytes` in `records` records to `name`.
pub fn topic_in(name: &str, bytes: u64, records: u64) {
    topic(name, |t| {
        t.bytes_in += bytes;
        t.records_in += records;
    });
}

/// Records a fetch of `bytes` from `name`.
pub fn topic_out(name: &str, bytes: u64) {
    topic(name, |t| t.bytes_out += bytes);
}

/// Keeps the traffic of the topics `exists` says still exist and forgets the others (they
/// were deleted), so the per-topic table does not grow with every topic ever used.
pub fn retain_topics(exists: impl Fn(&str) -> bool) {
    SHARD.with(|m| m.topics.borrow_mut().retain(|name, _| exists(name)));
}

/// One of the logs' file operations in flight (see [`ShardMetrics::io_in_flight`]): counted
/// from [`IoInFlight::start`] until dropped, so an operation whose future is dropped before
/// it completes stops counting then.
#[derive(Debug)]
pub struct IoInFlight(bool);

impl IoInFlight {
    /// Counts an operation about to be issued.
    pub fn start() -> IoInFlight {
        let mut counted = false;
        record(|m| {
            let depth = m.io_in_flight.increment();
            m.io_depth.record_in(&IO_DEPTH_BOUNDS, depth);
            counted = true;
        });
        IoInFlight(counted)
    }
}

impl Drop for IoInFlight {
    fn drop(&mut self) {
        if self.0 {
            SHARD.with(|m| m.io_in_flight.decrement());
        }
    }
}

/// This thread's metrics at one moment.
pub fn snapshot() -> ShardSnapshot {
    SHARD.with(|m| ShardSnapshot {
        api: m
            .api
            .iter()
            .enumerate()
            .filter(|(_, a)| a.requests.get() > 0)
            .map(|(k, a)| (k as i16, a.requests.get(), a.latency.snapshot()))
            .collect(),
        topics: m
            .topics
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        log_write: m.log_write.snapshot(),
        log_sync: m.log_sync.snapshot(),
        append_to_durable: m.append_to_durable.snapshot(),
        durable_to_fetch: m.durable_to_fetch.snapshot(),
        log_bytes_written: m.log_bytes_written.get(),
        read_cache_hit_bytes: m.read_cache_hit_bytes.get(),
        read_cache_miss_bytes: m.read_cache_miss_bytes.get(),
        net_bytes_in: m.net_bytes_in.get(),
        net_bytes_out: m.net_bytes_out.get(),
        connections_accepted: m.connections_accepted.get(),
        connections_closed: m.connections_closed.get(),
        authentication_failures: m.authentication_failures.get(),
        replication_bytes_out: m.replication_bytes_out.get(),
        replication_bytes_in: m.replication_bytes_in.get(),
        isr_shrinks: m.isr_shrinks.get(),
        isr_expands: m.isr_expands.get(),
        io_in_flight: m.io_in_flight.get(),
        io_depth: m.io_depth.snapshot(),
        io_memory_bytes: m.io_memory_bytes.get(),
        heap: heap::this_thread(),
    })
}

/// One shard's metrics at one moment: what crosses the mesh to the admin listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are those of ShardMetrics
pub struct ShardSnapshot {
    /// Per API key that saw requests: key, requests, latency.
    pub api: Vec<(i16, u64, HistogramSnapshot)>,
    /// Per topic that saw traffic.
    pub topics: Vec<(String, TopicTraffic)>,
    pub log_write: HistogramSnapshot,
    pub log_sync: HistogramSnapshot,
    pub append_to_durable: HistogramSnapshot,
    pub durable_to_fetch: HistogramSnapshot,
    pub log_bytes_written: u64,
    pub read_cache_hit_bytes: u64,
    pub read_cache_miss_bytes: u64,
    pub net_bytes_in: u64,
    pub net_bytes_out: u64,
    pub connections_accepted: u64,
    pub connections_closed: u64,
    pub authentication_failures: u64,
    pub replication_bytes_out: u64,
    pub replication_bytes_in: u64,
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    pub io_in_flight: u64,
    pub io_depth: HistogramSnapshot,
    pub io_memory_bytes: u64,
    /// The shard thread's heap counts (`None` without the counting allocator).
    pub heap: Option<heap::HeapCounts>,
}

/// Prometheus text exposition format (version 0.0.4), written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Label pairs of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A latency histogram's `_bucket`, `_sum` and `_count` samples, in seconds.
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, h: &HistogramSnapshot) {
        self.histogram_in(name, labels, h, &LATENCY_BOUNDS_US, 1e6);
    }

    /// A histogram recorded in the buckets of `bounds`, its bounds and sum written divided by
    /// `divisor` (1e6 turns microseconds into seconds).
    pub fn histogram_in(
        &mut self,
        name: &str,
        labels: Labels<'_>,
        h: &HistogramSnapshot,
        bounds: &[u64],
        divisor: f64,
    ) {
        let mut cumulative = 0;
        for (i, c) in h.counts.iter().enumerate() {
            cumulative += c;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| number(*b as f64 / divisor));
            self.out.push_str(name);
            self.out.push_str("_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        if h.counts.is_empty() {
            self.out.push_str(name);
            self.out.push_str("_bucket");
            write_labels(&mut self.out, labels, Some("+Inf"));
            self.out.push_str(" 0\n");
        }
        self.sample(&format!("{name}_sum"), labels, h.sum_us as f64 / divisor);
        self.sample(&format!("{name}_count"), labels, h.count() as f64);
    }

    /// The text so far.
    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: Labels<'_>, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_quantiles() {
        let h = Histogram::default();
        for us in [10, 60, 60, 900, 2_000_000, 100_000_000] {
            h.record_us(us);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 6);
        assert_eq!(s.counts.first(), Some(&1));
        assert_eq!(s.counts.get(1), Some(&2));
        assert_eq!(s.counts.last(), Some(&1));
        assert_eq!(s.quantile_bound_us(0.5), Some(100));
        assert_eq!(s.quantile_bound_us(0.99), Some(60_000_000));
        let mut m = s.clone();
        m.merge(&s);
        assert_eq!(m.count(), 12);
        assert_eq!(HistogramSnapshot::default().quantile_bound_us(0.5), None);
    }

    #[test]
    fn exposition_is_prometheus_text() {
        let h = Histogram::default();
        h.record_us(70);
        let mut e = Exposition::default();
        e.family("myelin_x_seconds", "histogram", "A \"test\"\nhistogram.");
        e.histogram("myelin_x_seconds", &[("api", "Pro\"duce")], &h.snapshot());
        e.family("myelin_y", "gauge", "A gauge.");
        e.sample("myelin_y", &[], 1.5);
        let text = e.finish();
        assert!(text.contains("# HELP myelin_x_seconds A \"test\"\\nhistogram.\n"));
        assert!(text.contains("myelin_x_seconds_bucket{api=\"Pro\\\"duce\",le=\"0.00005\"} 0\n"));
        assert!(text.contains("myelin_x_seconds_bucket{api=\"Pro\\\"duce\",le=\"0.0001\"} 1\n"));
        assert!(text.contains("myelin_x_seconds_bucket{api=\"Pro\\\"duce\",le=\"+Inf\"} 1\n"));
        assert!(text.contains("myelin_x_seconds_count{api=\"Pro\\\"duce\"} 1\n"));
        assert!(text.contains("myelin_y 1.5\n"));
    }

    #[test]
    fn io_in_flight_counts_until_dropped_and_samples_the_depth_at_start() {
        let first = IoInFlight::start();
        let second = IoInFlight::start();
        let s = snapshot();
        assert_eq!(s.io_in_flight, 2);
        // Depths 1 and 2, one each, in the buckets of IO_DEPTH_BOUNDS.
        assert_eq!(s.io_depth.counts.first(), Some(&1));
        assert_eq!(s.io_depth.counts.get(1), Some(&1));
        assert_eq!(s.io_depth.sum_us, 3);
        drop(first);
        assert_eq!(snapshot().io_in_flight, 1);
        drop(second);
        assert_eq!(snapshot().io_in_flight, 0);
        let mut e = Exposition::default();
        e.histogram_in("myelin_d", &[], &s.io_depth, &IO_DEPTH_BOUNDS, 1.0);
        let text = e.finish();
        assert!(text.contains("myelin_d_bucket{le=\"1\"} 1\n"), "{text}");
        assert!(text.contains("myelin_d_bucket{le=\"2\"} 2\n"), "{text}");
        assert!(text.contains("myelin_d_sum 3\n"), "{text}");
    }

    #[test]
    fn recordings_reach_the_snapshot() {
        request(0, Duration::from_micros(300));
        topic_in("t", 100, 2);
        topic_out("t", 40);
        let s = snapshot();
        assert_eq!(s.api.first().map(|a| (a.0, a.1)), Some((0, 1)));
        assert_eq!(
            s.topics,
            vec![(
                "t".to_owned(),
                TopicTraffic {
                    bytes_in: 100,
                    records_in: 2,
                    bytes_out: 40
                }
            )]
        );
        retain_topics(|name| name == "t");
        assert_eq!(snapshot().topics.len(), 1);
        retain_topics(|_| false);
        assert!(snapshot().topics.is_empty());
    }
}
