//! When each message is meant to be sent: the schedule that corrects for coordinated omission.
//!
//! At a fixed rate, message `i` is intended for `start + i / rate`. Latency is measured from that
//! instant, not from when the generator got round to sending, so a stall in the broker (or the
//! client) shows up in every message it delayed instead of in one. At an unlimited rate there is
//! no schedule and each message's intended time is when it was made.

use std::time::{Duration, Instant};

/// A fixed-rate or unlimited send schedule.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between two messages; `None` when unlimited.
    interval_ns: Option<f64>,
}

impl Schedule {
    /// A schedule of `rate_msgs_per_s` starting at `start`; a rate of 0 (or less) is unlimited.
    pub fn new(start: Instant, rate_msgs_per_s: f64) -> Schedule {
        let interval_ns = (rate_msgs_per_s > 0.0).then(|| 1e9 / rate_msgs_per_s);
        Schedule { start, interval_ns }
    }

    /// True when there is no fixed rate.
    pub fn unlimited(&self) -> bool {
        self.interval_ns.is_none()
    }

    /// The intended send time of message `i` (for an unlimited schedule, `start`).
    pub fn intended(&self, i: u64) -> Instant {
        match self.interval_ns {
            Some(ns) => self.start + Duration::from_nanos((ns * i as f64) as u64),
            None => self.start,
        }
    }

    /// How many messages are due by `now`: every `i` with `intended(i) <= now`. Unlimited
    /// schedules have every message due.
    pub fn due(&self, now: Instant) -> u64 {
        let Some(ns) = self.interval_ns else {
            return u64::MAX;
        };
        if now < self.start {
            return 0;
        }
        let elapsed = (now - self.start).as_nanos() as f64;
        // `floor(elapsed / ns) + 1` messages have intended times at or before `now`; recheck
        // against `intended` so float rounding can never make a message due early.
        let mut n = (elapsed / ns).floor() as u64 + 1;
        while n > 0 && self.intended(n - 1) > now {
            n -= 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_are_evenly_spaced() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1000.0);
        assert_eq!(s.intended(0), t0);
        assert_eq!(s.intended(1), t0 + Duration::from_millis(1));
        assert_eq!(s.intended(1500), t0 + Duration::from_millis(1500));
        assert!(!s.unlimited());
    }

    #[test]
    fn due_counts_messages_at_or_before_now() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1000.0);
        assert_eq!(s.due(t0 - Duration::from_millis(1)), 0);
        assert_eq!(s.due(t0), 1);
        assert_eq!(s.due(t0 + Duration::from_micros(999)), 1);
        assert_eq!(s.due(t0 + Duration::from_millis(1)), 2);
        assert_eq!(s.due(t0 + Duration::from_secs(2)), 2001);
        for i in 0..5000u64 {
            let at = s.intended(i);
            assert_eq!(s.due(at), i + 1, "message {i}");
        }
    }

    #[test]
    fn odd_rates_never_make_a_message_due_early() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 51_200.0 / 3.0);
        for i in 1..20_000u64 {
            let just_before = s.intended(i) - Duration::from_nanos(1);
            assert_eq!(s.due(just_before), i);
        }
    }

    #[test]
    fn unlimited_has_everything_due() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 0.0);
        assert!(s.unlimited());
        assert_eq!(s.due(t0), u64::MAX);
        assert_eq!(s.intended(7), t0);
    }
}
