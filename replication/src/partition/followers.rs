//! A leader's view of its followers: for each, how its log is being brought up to date
//! (waiting for its position, catching up from this leader's log, or receiving new batches
//! as they are appended), how far it has made the log durable, and when it was last caught
//! up, which decides whether it stays in the ISR (`replica.lag.time.max.ms`).
//!
//! "Caught up" is Kafka's notion: a follower is caught up at time `t` once it has made
//! durable everything the leader's log held at `t` (held durably: a leader sends nothing
//! else). The leader notes `(end, time)` samples as it sends, and an acknowledgement up to a
//! sample's end makes its time the follower's last caught-up time.

use crate::types::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// Samples kept per follower; older ones are dropped first, which only ever makes the
/// caught-up time earlier (a conservative ISR), never later.
const SAMPLES_MAX: usize = 64;

/// Least time between two samples: bounds the bookkeeping under a stream of small appends.
const SAMPLE_EVERY_MS: i64 = 5;

/// How a follower's log is being brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// The follower has not said where its log ends (since this leader took over, or since
    /// its connection broke).
    Unknown,
    /// It is being sent this leader's log from `next` on, read from the log.
    CatchingUp {
        /// Next offset to send.
        next: i64,
    },
    /// It has everything sent up to `next` and gets each new batch as it is appended.
    Live {
        /// Next offset to send.
        next: i64,
    },
}

/// One follower, as its leader sees it.
#[derive(Debug, Clone)]
pub struct Follower {
    /// How its log is brought up to date.
    pub sync: Sync,
    /// How far it has made the log durable (acknowledged).
    pub durable_end: i64,
    /// When it was last caught up (leader's clock).
    pub last_caught_up_ms: i64,
    /// When it was last heard from, or last asked to answer (leader's clock): an idle
    /// partition pings its followers so a live one stays caught up.
    pub last_contact_ms: i64,
    samples: VecDeque<(i64, i64)>,
}

impl Follower {
    /// A follower first seen at `now_ms` (as caught up then: a new leader gives every
    /// follower a full lag period before it may leave the ISR).
    pub fn new(now_ms: i64) -> Follower {
        Follower {
            sync: Sync::Unknown,
            durable_end: 0,
            last_caught_up_ms: now_ms,
            last_contact_ms: now_ms,
            samples: VecDeque::new(),
        }
    }

    /// Notes that at `now_ms` the leader's log ended at `log_end`.
    pub fn sample(&mut self, log_end: i64, now_ms: i64) {
        if let Some(last) = self.samples.back_mut() {
            if now_ms - last.1 < SAMPLE_EVERY_MS {
                last.0 = last.0.max(log_end);
                return;
            }
        }
        if self.samples.len() >= SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back((log_end, now_ms));
    }

    /// The follower acknowledged `durable_end` while the leader's log ends at `log_end` (the
    /// end of what the leader has sent it, or could).
    pub fn ack(&mut self, durable_end: i64, log_end: i64, now_ms: i64) {
        self.last_contact_ms = self.last_contact_ms.max(now_ms);
        self.durable_end = self.durable_end.max(durable_end).min(log_end);
        if self.durable_end >= log_end {
            self.last_caught_up_ms = now_ms;
            self.samples.clear();
            return;
        }
        while let Some(&(end, at)) = self.samples.front() {
            if end > self.durable_end {
                break;
            }
            self.last_caught_up_ms = self.last_caught_up_ms.max(at);
            self.samples.pop_front();
        }
    }
}

/// Every follower of one partition.
#[derive(Debug, Clone, Default)]
pub struct Followers {
    by_node: BTreeMap<NodeId, Follower>,
}

impl Followers {
    /// Forgets everything (a new leadership, or this replica stopped leading).
    pub fn clear(&mut self) {
        self.by_node.clear();
    }

    /// The follower, created (as caught up at `now_ms`) if new.
    pub fn entry(&mut self, node: NodeId, now_ms: i64) -> &mut Follower {
        self.by_node
            .entry(node)
            .or_insert_with(|| Follower::new(now_ms))
    }

    /// The follower, mutable, if known.
    pub fn by_node_mut(&mut self, node: NodeId) -> Option<&mut Follower> {
        self.by_node.get_mut(&node)
    }

    /// The follower, if known.
    pub fn get(&self, node: NodeId) -> Option<&Follower> {
        self.by_node.get(&node)
    }

    /// Every follower.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Follower)> {
        self.by_node.iter()
    }

    /// Every follower, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&NodeId, &mut Follower)> {
        self.by_node.iter_mut()
    }

    /// How far `node` has made the log durable (0 when unknown).
    pub fn durable_end(&self, node: NodeId) -> i64 {
        self.by_node.get(&node).map_or(0, |f| f.durable_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_is_where_the_leader_was() {
        let mut f = Follower::new(0);
        f.sample(10, 100);
        f.sample(20, 200);
        f.sample(30, 300);
        f.ack(15, 30, 350);
        assert_eq!(
            f.last_caught_up_ms, 100,
            "caught up to where the leader was at 100"
        );
        f.ack(29, 30, 360);
        assert_eq!(f.last_caught_up_ms, 200);
        f.ack(30, 30, 370);
        assert_eq!(f.last_caught_up_ms, 370, "fully caught up now");
        assert_eq!(f.durable_end, 30);
        f.ack(5, 30, 380);
        assert_eq!(f.durable_end, 30, "never back");
    }
}
