//! The seeded network and agenda the simulations share: messages between nodes arrive after a
//! random delay (so out of order), may be dropped or duplicated, and never cross a partition;
//! streams (a TCP connection's one direction) keep their order and lose nothing until the
//! caller breaks them. The agenda orders everything else that happens at a virtual time.
//!
//! Nothing here draws randomness of its own: every choice comes from the caller's
//! [`SplitMix64`], in a fixed order, so a run is a pure function of its seed. Ties in time
//! go to whatever was scheduled first.

use myelin_replication::rng::SplitMix64;
use myelin_replication::types::NodeId;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Things due at a virtual time, earliest first, in scheduling order among equals.
pub struct Agenda<E> {
    heap: BinaryHeap<Due<E>>,
    seq: u64,
}

struct Due<E> {
    at: u64,
    seq: u64,
    item: E,
}

impl<E> PartialEq for Due<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Due<E> {}

impl<E> PartialOrd for Due<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Due<E> {
    /// Reversed, so that the max-heap pops the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<E> Default for Agenda<E> {
    fn default() -> Self {
        Agenda {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> Agenda<E> {
    /// Schedules `item` at `at`.
    pub fn push(&mut self, at: u64, item: E) {
        self.seq += 1;
        self.heap.push(Due {
            at,
            seq: self.seq,
            item,
        });
    }

    /// When the earliest item is due.
    pub fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|d| d.at)
    }

    /// The earliest item if it is due by `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, E)> {
        if self.heap.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|d| (d.at, d.item))
    }

    /// Keeps only the items `keep` accepts (given their due time).
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &E) -> bool) {
        self.heap.retain(|d| keep(d.at, &d.item));
    }
}

/// How unreliable the network is while faults are on, and how fast it is when they are off.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// A message is lost with this probability (per million).
    pub drop_per_million: u64,
    /// A message arrives twice with this probability (per million).
    pub duplicate_per_million: u64,
    /// Delays while faulty are `1..=delay_ms_max`.
    pub delay_ms_max: u64,
    /// Delays once healed are `1..=calm_delay_ms_max`.
    pub calm_delay_ms_max: u64,
}

/// A message on its way.
pub struct Flight<M> {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The stream it travels on, if any.
    pub stream: Option<u64>,
    /// The message.
    pub message: M,
}

/// The network: messages in flight, the current partition, and counters.
pub struct Net<M> {
    flights: Agenda<Flight<M>>,
    /// One side of the current partition; messages between the sides are lost.
    side: Option<BTreeSet<NodeId>>,
    /// Whether faults are on.
    pub faulty: bool,
    /// The fault rates.
    pub faults: Faults,
    /// Latest arrival scheduled on each stream, so later sends never overtake it.
    stream_tail: BTreeMap<u64, u64>,
    /// Messages lost (dropped, or sent across a partition).
    pub dropped: u64,
    /// Messages handed to their receiver.
    pub delivered: u64,
}

impl<M: Clone> Net<M> {
    /// A network with these fault rates, faults on.
    pub fn new(faults: Faults) -> Net<M> {
        Net {
            flights: Agenda::default(),
            side: None,
            faulty: true,
            faults,
            stream_tail: BTreeMap::new(),
            dropped: 0,
            delivered: 0,
        }
    }

    /// Whether the current partition separates `a` from `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) -> bool {
        self.side
            .as_ref()
            .is_some_and(|side| side.contains(&a) != side.contains(&b))
    }

    /// Whether a partition is in place.
    pub fn is_partitioned(&self) -> bool {
        self.side.is_some()
    }

    /// Separates `side` from every other node (replacing any partition in place).
    pub fn partition(&mut self, side: BTreeSet<NodeId>) {
        self.side = Some(side);
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.side = None;
    }

    fn delay(&mut self, rng: &mut SplitMix64) -> u64 {
        let max = if self.faulty {
            self.faults.delay_ms_max
        } else {
            self.faults.calm_delay_ms_max
        };
        1 + rng.below(max)
    }

    /// Sends a datagram: lost across a partition or (while faulty) at random, sometimes
    /// duplicated, each copy delayed on its own.
    pub fn send(&mut self, rng: &mut SplitMix64, now: u64, from: NodeId, to: NodeId, message: M) {
        if self.cut(from, to) || (self.faulty && rng.chance(self.faults.drop_per_million)) {
            self.dropped += 1;
            return;
        }
        let copies = if self.faulty && rng.chance(self.faults.duplicate_per_million) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now + self.delay(rng);
            let flight = Flight {
                from,
                to,
                stream: None,
                message: message.clone(),
            };
            self.flights.push(at, flight);
        }
    }

    /// Sends on `stream`: in order after everything sent on it before, never dropped or
    /// duplicated. Returns false, sending nothing, when a partition separates the ends (the
    /// caller breaks the stream's connection).
    pub fn send_stream(
        &mut self,
        rng: &mut SplitMix64,
        now: u64,
        stream: u64,
        from: NodeId,
        to: NodeId,
        message: M,
    ) -> bool {
        if self.cut(from, to) {
            self.dropped += 1;
            return false;
        }
        let earliest = now + self.delay(rng);
        let tail = self.stream_tail.entry(stream).or_insert(0);
        let at = earliest.max(*tail);
        *tail = at;
        let flight = Flight {
            from,
            to,
            stream: Some(stream),
            message,
        };
        self.flights.push(at, flight);
        true
    }

    /// Breaks `stream`: what would arrive after `survive_until` is lost (what arrives by
    /// then was already in the receiver's buffer).
    pub fn break_stream(&mut self, stream: u64, survive_until: u64) {
        let mut lost = 0;
        self.flights.retain(|at, f| {
            let keep = f.stream != Some(stream) || at <= survive_until;
            if !keep {
                lost += 1;
            }
            keep
        });
        self.dropped += lost;
        self.stream_tail.remove(&stream);
    }

    /// Loses everything in flight to `node` (it crashed).
    pub fn lose_to(&mut self, node: NodeId) {
        let mut lost = 0;
        self.flights.retain(|_, f| {
            let keep = f.to != node;
            if !keep {
                lost += 1;
            }
            keep
        });
        self.dropped += lost;
    }

    /// When the next message arrives.
    pub fn next_at(&self) -> Option<u64> {
        self.flights.next_at()
    }

    /// The next message that has arrived by `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Flight<M>> {
        let (_, f) = self.flights.pop_due(now)?;
        self.delivered += 1;
        Some(f)
    }
}
