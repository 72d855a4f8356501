//! The broker's own end-to-end latency of a partition: from a batch becoming durable on the
//! leader until a consumer first fetches it.
//!
//! The leader remembers when its recent durable ends were reached (a bounded ring) and how far
//! consumers have read. A read that returns batches past that point records the time since the
//! first of them became durable, once, into the shard's `durable_to_fetch` histogram.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Durable ends remembered per partition.
const DURABLE_ENDS_KEPT: usize = 64;

/// Durable ends and how far consumers have read.
#[derive(Debug, Default)]
pub(super) struct Tailing {
    /// (durable end, when it was reached), oldest first.
    durable: RefCell<VecDeque<(i64, Instant)>>,
    /// Offsets below this were fetched by some consumer already.
    fetched_end: Cell<i64>,
}

impl Tailing {
    /// The log became durable up to `end`.
    pub(super) fn durable(&self, end: i64) {
        if !myelin_metrics::enabled() {
            return;
        }
        let mut d = self.durable.borrow_mut();
        if d.len() == DURABLE_ENDS_KEPT {
            d.pop_front();
        }
        d.push_back((end, Instant::now()));
    }

    /// A consumer read offsets `from..=last`.
    pub(super) fn fetched(&self, from: i64, last: i64) {
        let seen = self.fetched_end.get();
        if last < seen {
            return;
        }
        self.fetched_end.set(last + 1);
        let first_new = from.max(seen);
        let mut d = self.durable.borrow_mut();
        // The first durable end past the first new offset is when it became durable.
        if let Some(&(_, at)) = d.iter().find(|(end, _)| *end > first_new) {
            let waited = at.elapsed();
            if waited <= Duration::from_millis(myelin_metrics::DURABLE_TO_FETCH_WINDOW_MS) {
                myelin_metrics::record(|m| m.durable_to_fetch.record(waited));
            }
        }
        while d.front().is_some_and(|(end, _)| *end <= last + 1) {
            d.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_batch_counts_once() {
        let before = myelin_metrics::snapshot().durable_to_fetch.count();
        let t = Tailing::default();
        t.durable(5);
        t.durable(9);
        t.fetched(0, 4);
        t.fetched(0, 4); // read again: not a first fetch
        t.fetched(5, 8);
        t.fetched(9, 20); // nothing known durable past 9: not counted
        let after = myelin_metrics::snapshot().durable_to_fetch.count();
        assert_eq!(after - before, 2);
        assert!(t.durable.borrow().is_empty());
    }
}
