//! Latency histograms, the percentile table, the `.hgrm` text format, and the counters a run
//! shares between its threads for live progress.
//!
//! Each executor (or rdkafka thread) records into its own [`Recorder`]; at the end the
//! recorders are merged. Only [`Live`] is shared while a run goes on: atomics for counts and,
//! once per second, a copy of each executor's latencies of that second.

use crate::limits::{HISTOGRAM_SIGFIGS, LATENCY_US_MAX};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A latency histogram in microseconds, 1 µs to an hour, 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, HISTOGRAM_SIGFIGS)
        .unwrap_or_else(|e| panic!("histogram bounds are constants: {e}"))
}

/// Records `us` microseconds, clamped into the histogram's range.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, LATENCY_US_MAX));
}

/// The percentiles every report shows, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles of `h`; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
        })
    }

    /// The values in the order of the table: p50, p90, p99, p99.9, p99.99, max.
    pub fn values(&self) -> [u64; 6] {
        [
            self.p50,
            self.p90,
            self.p99,
            self.p99_9,
            self.p99_99,
            self.max,
        ]
    }
}

/// Labels of [`Percentiles::values`].
pub const PERCENTILE_LABELS: [&str; 6] = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];

/// Formats microseconds for people: `850 µs`, `1.25 ms`, `3.40 s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// The HdrHistogram percentile-distribution text (as `HistogramLogProcessor` and
/// hdrhistogram.github.io/HdrHistogram/plotFiles.html read it), values in microseconds.
pub fn hgrm_text(h: &Histogram<u64>) -> String {
    let mut text = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64;
        if q < 1.0 {
            text.push_str(&format!(
                "{value:12.3} {q:14.12} {total:10} {:14.2}\n",
                1.0 / (1.0 - q)
            ));
        } else {
            text.push_str(&format!("{value:12.3} {q:14.12} {total:10}\n"));
        }
    }
    let (mean, stdev) = if h.is_empty() {
        (0.0, 0.0)
    } else {
        (h.mean(), h.stdev())
    };
    text.push_str(&format!(
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]\n"
    ));
    text.push_str(&format!(
        "#[Max     = {:12.3}, Total count    = {:12}]\n",
        h.max() as f64,
        h.len()
    ));
    text.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        h.buckets(),
        h.distinct_values()
    ));
    text
}

/// Points of the latency-by-percentile curve: (quantile, microseconds), quantile < 1.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    h.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
        .filter(|(q, _)| *q < 1.0)
        .collect()
}

/// A clock that gives both monotonic instants and wall-clock nanoseconds, anchored once so that
/// the nanoseconds written into a value and read back by another thread agree.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor: Instant,
    anchor_unix_ns: u64,
}

impl Clock {
    /// Anchors the clock now.
    pub fn new() -> Clock {
        let anchor_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            anchor: Instant::now(),
            anchor_unix_ns,
        }
    }

    /// Wall-clock nanoseconds of `t`.
    pub fn unix_ns(&self, t: Instant) -> u64 {
        if t >= self.anchor {
            self.anchor_unix_ns + (t - self.anchor).as_nanos() as u64
        } else {
            self.anchor_unix_ns
                .saturating_sub((self.anchor - t).as_nanos() as u64)
        }
    }

    /// Wall-clock nanoseconds now.
    pub fn now_ns(&self) -> u64 {
        self.unix_ns(Instant::now())
    }
}

/// When a phase of a run starts sending, starts measuring, stops sending and gives up
/// waiting, on one clock, and the window it measures.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// The clock every executor stamps with.
    pub clock: Clock,
    /// First intended send, a moment after set-up so every executor starts together.
    pub start: Instant,
    /// Last intended send.
    pub end: Instant,
    /// Latest moment to wait for acknowledgements and deliveries.
    pub give_up: Instant,
    /// What is recorded; empty for a budgeted phase (a backlog fill measures nothing).
    pub window: Window,
}

impl Phase {
    /// The phase of `p`, starting now.
    pub fn plan(p: &crate::params::Params, budgeted: bool) -> Phase {
        let clock = Clock::new();
        let start = Instant::now() + Duration::from_millis(crate::limits::START_DELAY_MS);
        let measure_from = start + Duration::from_secs_f64(p.warmup_s);
        let end = measure_from + Duration::from_secs_f64(p.duration_s);
        let window = Window {
            start_ns: clock.unix_ns(measure_from),
            end_ns: clock.unix_ns(if budgeted { measure_from } else { end }),
        };
        Phase {
            clock,
            start,
            end,
            give_up: end + Duration::from_secs_f64(p.drain_s),
            window,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// The measured window of a run, in wall-clock nanoseconds: samples whose intended send time
/// falls outside it (warm-up, backlog, an earlier run) are not recorded.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First intended send time recorded.
    pub start_ns: u64,
    /// End of the window (exclusive).
    pub end_ns: u64,
}

impl Window {
    /// True when `ns` is inside the window.
    pub fn contains(&self, ns: u64) -> bool {
        ns >= self.start_ns && ns < self.end_ns
    }

    /// Length of the window in seconds.
    pub fn seconds(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

/// Counts of one side (producers or consumers) within the measured window.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Messages acknowledged (producers) or received (consumers) within the window.
    pub messages: u64,
    /// Value bytes of those messages.
    pub bytes: u64,
    /// Errors: failed produce partitions' messages, failed requests, fetch errors.
    pub errors: u64,
}

impl Counts {
    /// Adds another side's counts.
    pub fn add(&mut self, o: &Counts) {
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.errors += o.errors;
    }
}

/// What one executor or thread measured.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Produce-ack latency, from intended send time to acknowledgement, µs.
    pub ack: Histogram<u64>,
    /// End-to-end latency, from intended send time to receipt by a consumer, µs.
    pub e2e: Histogram<u64>,
    /// Producer counts within the window.
    pub produced: Counts,
    /// Consumer counts within the window.
    pub consumed: Counts,
    /// Messages sent whose intended time is in the window (acknowledged or not).
    pub sent_in_window: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            ack: new_histogram(),
            e2e: new_histogram(),
            produced: Counts::default(),
            consumed: Counts::default(),
            sent_in_window: 0,
        }
    }
}

impl Recorder {
    /// Merges another recorder into this one.
    pub fn merge(&mut self, o: &Recorder) {
        let _ = self.ack.add(&o.ack);
        let _ = self.e2e.add(&o.e2e);
        self.produced.add(&o.produced);
        self.consumed.add(&o.consumed);
        self.sent_in_window += o.sent_in_window;
    }
}

/// Where one executor or thread records: the run's totals and this second's latencies.
#[derive(Clone, Debug)]
pub struct Sink {
    /// What was measured within the window.
    pub rec: Recorder,
    live_ack: Histogram<u64>,
    live_e2e: Histogram<u64>,
    window: Window,
}

impl Sink {
    /// A sink recording samples whose intended send time is within `window`.
    pub fn new(window: Window) -> Sink {
        Sink {
            rec: Recorder::default(),
            live_ack: new_histogram(),
            live_e2e: new_histogram(),
            window,
        }
    }

    /// Records a produce acknowledgement of a message meant for `intended_ns`, at `now_ns`.
    pub fn ack(&mut self, intended_ns: u64, now_ns: u64, bytes: u64) {
        let us = now_ns.saturating_sub(intended_ns) / 1000;
        record_us(&mut self.live_ack, us);
        if self.window.contains(intended_ns) {
            record_us(&mut self.rec.ack, us);
        }
        if self.window.contains(now_ns) {
            self.rec.produced.messages += 1;
            self.rec.produced.bytes += bytes;
        }
    }

    /// Records a consumed value sent at `sent_ns` (when it carried one), received at `now_ns`.
    /// Values sent more than an hour before the window (another run's data) are not shown live.
    pub fn consumed(&mut self, sent_ns: Option<u64>, now_ns: u64, bytes: u64) {
        if let Some(sent) = sent_ns {
            let us = now_ns.saturating_sub(sent) / 1000;
            let recent = self.window.start_ns.saturating_sub(3_600_000_000_000) < sent;
            if sent <= now_ns && recent {
                record_us(&mut self.live_e2e, us);
            }
            if self.window.contains(sent) {
                record_us(&mut self.rec.e2e, us);
            }
        }
        if self.window.contains(now_ns) {
            self.rec.consumed.messages += 1;
            self.rec.consumed.bytes += bytes;
        }
    }

    /// Counts `n` errors on the producer (`producer`) or consumer side.
    pub fn errors(&mut self, n: u64, producer: bool) {
        if producer {
            self.rec.produced.errors += n;
        } else {
            self.rec.consumed.errors += n;
        }
    }

    /// Hands this second's latencies to the progress printer.
    pub fn publish(&mut self, live: &Live) {
        live.publish(&self.live_ack, &self.live_e2e);
        self.live_ack.reset();
        self.live_e2e.reset();
    }
}

/// Counters and the latest second's latencies, shared by every thread of a run, read once a
/// second by the progress printer.
pub struct Live {
    /// Messages acknowledged (or written, for acks=0), warm-up included.
    pub produced: AtomicU64,
    /// Messages received by consumers, warm-up included.
    pub consumed: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
    /// Produce-ack latencies since the last print.
    pub ack: Mutex<Histogram<u64>>,
    /// End-to-end latencies since the last print.
    pub e2e: Mutex<Histogram<u64>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            produced: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            ack: Mutex::new(new_histogram()),
            e2e: Mutex::new(new_histogram()),
        }
    }
}

impl Live {
    /// Adds one thread's latencies of the last interval.
    pub fn publish(&self, ack: &Histogram<u64>, e2e: &Histogram<u64>) {
        if let Ok(mut h) = self.ack.lock() {
            let _ = h.add(ack);
        }
        if let Ok(mut h) = self.e2e.lock() {
            let _ = h.add(e2e);
        }
    }

    /// Takes the p99 of each interval histogram and resets them.
    fn take_p99(&self) -> (Option<u64>, Option<u64>) {
        let take = |m: &Mutex<Histogram<u64>>| {
            m.lock().ok().and_then(|mut h| {
                let p = (!h.is_empty()).then(|| h.value_at_quantile(0.99));
                h.reset();
                p
            })
        };
        (take(&self.ack), take(&self.e2e))
    }

    /// Prints a progress line to stderr every second until `done` returns true.
    pub fn print_until(&self, label: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        let (mut last_p, mut last_c) = (0u64, 0u64);
        let mut tick = start;
        while !done() {
            std::thread::sleep(Duration::from_millis(50));
            if tick.elapsed() < Duration::from_secs(1) {
                continue;
            }
            let secs = tick.elapsed().as_secs_f64();
            tick = Instant::now();
            let p = self.produced.load(Ordering::Relaxed);
            let c = self.consumed.load(Ordering::Relaxed);
            let (ack, e2e) = self.take_p99();
            let show = |v: Option<u64>| v.map_or_else(|| "-".to_string(), fmt_us);
            eprintln!(
                "{label}[{:>4.0}s] produce {:>9.0} msg/s  consume {:>9.0} msg/s  \
                 ack p99 {:>9}  e2e p99 {:>9}  errors {}",
                start.elapsed().as_secs_f64(),
                (p - last_p) as f64 / secs,
                (c - last_c) as f64 / secs,
                show(ack),
                show(e2e),
                self.errors.load(Ordering::Relaxed)
            );
            (last_p, last_c) = (p, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            record_us(&mut h, v);
        }
        h
    }

    #[test]
    fn percentile_table_of_a_known_distribution() {
        let h = hist(1..=10_000);
        let p = Percentiles::of(&h).unwrap();
        assert_eq!(p.count, 10_000);
        // 3 significant figures: each value is within 0.1% of the exact rank.
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 1e-3;
        assert!(near(p.p50, 5_000), "{p:?}");
        assert!(near(p.p90, 9_000), "{p:?}");
        assert!(near(p.p99, 9_900), "{p:?}");
        assert!(near(p.p99_9, 9_990), "{p:?}");
        assert!(near(p.p99_99, 9_999), "{p:?}");
        assert!(near(p.max, 10_000), "{p:?}");
        assert!(Percentiles::of(&new_histogram()).is_none());
    }

    #[test]
    fn values_are_clamped_into_range() {
        let h = hist([0, u64::MAX]);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= LATENCY_US_MAX);
    }

    #[test]
    fn hgrm_text_has_the_standard_columns() {
        let text = hgrm_text(&hist([100, 200, 300, 400]));
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        let rows: Vec<Vec<f64>> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.contains("Value"))
            .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 3);
        assert_eq!(rows[0][0], 100.0);
        let last = rows.last().unwrap();
        assert_eq!((last[1], last[2]), (1.0, 4.0));
        assert!(text.contains("Total count    =            4"));
    }

    #[test]
    fn recorders_merge() {
        let mut a = Recorder::default();
        record_us(&mut a.ack, 10);
        a.produced.messages = 3;
        let mut b = Recorder::default();
        record_us(&mut b.ack, 20);
        record_us(&mut b.e2e, 30);
        b.produced.messages = 4;
        b.consumed.errors = 1;
        a.merge(&b);
        assert_eq!((a.ack.len(), a.e2e.len()), (2, 1));
        assert_eq!((a.produced.messages, a.consumed.errors), (7, 1));
    }

    #[test]
    fn sinks_record_only_the_window() {
        let w = Window {
            start_ns: 1_000_000,
            end_ns: 2_000_000,
        };
        let mut s = Sink::new(w);
        s.ack(500_000, 1_500_000, 10); // warm-up message acknowledged in the window
        s.ack(1_200_000, 1_700_000, 10);
        s.ack(1_900_000, 2_100_000, 10); // acknowledged after the window
        assert_eq!(s.rec.ack.len(), 2);
        assert_eq!(s.rec.ack.max(), 500);
        assert_eq!(s.rec.produced.messages, 2);
        s.consumed(Some(1_100_000), 1_400_000, 7);
        s.consumed(Some(900_000), 1_400_000, 7);
        s.consumed(None, 1_400_000, 7);
        assert_eq!(s.rec.e2e.len(), 1);
        assert_eq!(s.rec.e2e.max(), 300);
        assert_eq!((s.rec.consumed.messages, s.rec.consumed.bytes), (3, 21));
        let live = Live::default();
        s.publish(&live);
        assert_eq!(live.ack.lock().unwrap().len(), 3);
        assert_eq!(live.e2e.lock().unwrap().len(), 2);
    }

    #[test]
    fn clock_round_trips_instants() {
        let c = Clock::new();
        let t = Instant::now() + Duration::from_millis(5);
        assert_eq!(
            c.unix_ns(t) - c.unix_ns(t - Duration::from_millis(5)),
            5_000_000
        );
        let w = Window {
            start_ns: 10,
            end_ns: 20,
        };
        assert!(w.contains(10) && w.contains(19) && !w.contains(20) && !w.contains(9));
    }

    #[test]
    fn microseconds_read_well() {
        assert_eq!(fmt_us(850), "850 µs");
        assert_eq!(fmt_us(1250), "1.25 ms");
        assert_eq!(fmt_us(3_400_000), "3.40 s");
    }
}
