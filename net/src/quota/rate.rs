//! A windowed rate, computed as Kafka's `Rate` over a `SampledTotal` computes it
//! (`org.apache.kafka.common.metrics.stats`), so a client is throttled by the same amount it
//! would be on a Kafka broker. Sans-IO: every call takes the time in milliseconds.

/// `quota.window.num`: samples a rate keeps (Kafka's default).
pub const WINDOW_SAMPLES: usize = 11;
/// `quota.window.size.seconds` in milliseconds (Kafka's default is one second).
pub const WINDOW_MS: u64 = 1000;

/// One sample: a total over a window that started at `start_ms`.
#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    total: f64,
}

/// A rate per second over [`WINDOW_SAMPLES`] windows of [`WINDOW_MS`].
#[derive(Debug, Clone)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    /// A rate with no samples yet; the first record opens the first window.
    pub fn new(now_ms: u64) -> Rate {
        Rate {
            samples: vec![Sample {
                start_ms: now_ms,
                total: 0.0,
            }],
            current: 0,
        }
    }

    /// Adds `value` at `now_ms` (Kafka's `SampledStat.record`).
    pub fn record(&mut self, value: f64, now_ms: u64) {
        let complete = self
            .samples
            .get(self.current)
            .is_none_or(|s| now_ms.saturating_sub(s.start_ms) >= WINDOW_MS);
        if complete {
            self.current = (self.current + 1) % WINDOW_SAMPLES;
            let fresh = Sample {
                start_ms: now_ms,
                total: 0.0,
            };
            match self.samples.get_mut(self.current) {
                Some(s) => *s = fresh,
                None => {
                    self.samples.push(fresh);
                    self.current = self.samples.len() - 1;
                }
            }
        }
        if let Some(s) = self.samples.get_mut(self.current) {
            s.total += value;
        }
    }

    /// Resets samples older than the whole window (`purgeObsoleteSamples`).
    fn purge(&mut self, now_ms: u64) {
        let expire = WINDOW_SAMPLES as u64 * WINDOW_MS;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.start_ms) >= expire {
                *s = Sample {
                    start_ms: now_ms,
                    total: 0.0,
                };
            }
        }
    }

    /// The window the rate divides by, in ms: the time since the oldest sample, but never
    /// less than `WINDOW_SAMPLES - 1` full windows (Kafka's `Rate.windowSize`), so a burst
    /// right after start does not read as an enormous rate.
    pub fn window_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / WINDOW_MS;
        let min_full = WINDOW_SAMPLES as u64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * WINDOW_MS;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, now_ms: u64) -> f64 {
        let window_ms = self.window_ms(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.total).sum();
        total * 1000.0 / window_ms as f64
    }

    /// Records `value` and returns the throttle time Kafka would give when the rate is then
    /// above `bound` (`QuotaUtils.throttleTime`: the excess over the bound, as a fraction of
    /// the bound, times the window), or 0.
    pub fn record_and_throttle_ms(&mut self, value: f64, bound: f64, now_ms: u64) -> u64 {
        self.record(value, now_ms);
        self.throttle_ms(bound, now_ms)
    }

    /// The throttle time for `bound` at `now_ms` without recording anything.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: u64) -> u64 {
        let rate = self.measure(now_ms);
        if rate <= bound || bound <= 0.0 {
            return 0;
        }
        let window_ms = self.window_ms(now_ms) as f64;
        ((rate - bound) / bound * window_ms).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_burst_is_measured_over_ten_windows() {
        let mut r = Rate::new(0);
        r.record(10_000.0, 0);
        // 10 000 bytes over a minimum of 10 full windows: 1 000/s.
        assert_eq!(r.measure(0), 1000.0);
        assert_eq!(r.window_ms(500), 10_500);
    }

    #[test]
    fn throttle_is_the_excess_over_the_bound_times_the_window() {
        let mut r = Rate::new(0);
        // 20 000 bytes at once against 1 000/s: rate 2 000/s over 10 s, so wait 10 s.
        assert_eq!(r.record_and_throttle_ms(20_000.0, 1000.0, 0), 10_000);
        // Within the bound: no throttle.
        let mut r = Rate::new(0);
        assert_eq!(r.record_and_throttle_ms(5_000.0, 1000.0, 0), 0);
    }

    #[test]
    fn a_client_that_waits_its_throttle_is_held_to_the_bound() {
        // A client that could send 10 KiB every 25 ms (400 KiB/s) sends whenever it may,
        // against 100 KiB/s. The first ten windows let a burst through (as in Kafka); after
        // them the rate holds to the bound, a little over it when an expiring sample lets a
        // short burst through (Kafka's windowing does the same).
        let bound = 100.0 * 1024.0;
        let mut r = Rate::new(0);
        let mut now = 0u64;
        let mut sent = 0.0;
        while now < 80_000 {
            let t = r.record_and_throttle_ms(10_240.0, bound, now);
            if now >= 20_000 {
                sent += 10_240.0;
            }
            now += t.max(25);
        }
        let achieved = sent / 60.0;
        assert!(
            (achieved - bound).abs() / bound < 0.05,
            "achieved {achieved} against {bound}"
        );
    }

    #[test]
    fn old_samples_expire() {
        let mut r = Rate::new(0);
        r.record(1_000_000.0, 0);
        assert!(r.measure(1) > 0.0);
        // After eleven windows the burst is forgotten.
        assert_eq!(r.measure(11_000), 0.0);
    }
}
