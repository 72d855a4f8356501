//! The producer: a client appending batches with `acks=all`, round robin over the
//! partitions, at the broker its metadata names leader (now and then at a stale guess), with
//! a bounded number of produces in flight. A produce not answered in time is given up; it may
//! still have been written, which is allowed: only what was acknowledged must survive.

use super::{Event, Rpc, Sim, CLIENT, PRODUCES_IN_FLIGHT_MAX, PRODUCE_TIMEOUT_MS};
use std::collections::{BTreeMap, BTreeSet};

/// The client's state.
pub struct Producer {
    next_id: u64,
    next_payload: u64,
    next_partition: i32,
    /// Produces in flight, by id, with when they were sent.
    in_flight: BTreeMap<u64, u64>,
    /// Once the faults heal: produce until then at least, and until every partition took a
    /// produce again.
    pub produce_until: Option<u64>,
    /// Partitions that acknowledged a produce after the faults healed.
    pub acked_after_heal: BTreeSet<i32>,
    /// Where each produce in flight goes.
    partitions: BTreeMap<u64, i32>,
}

impl Default for Producer {
    fn default() -> Self {
        Producer {
            next_id: 1,
            next_payload: 1,
            next_partition: 0,
            in_flight: BTreeMap::new(),
            produce_until: None,
            acked_after_heal: BTreeSet::new(),
            partitions: BTreeMap::new(),
        }
    }
}

impl Sim {
    /// Whether the producer has stopped: after healing, once every partition took writes.
    pub(super) fn producer_done(&self) -> bool {
        self.producer.produce_until.is_some_and(|t| {
            self.now >= t && self.producer.acked_after_heal.len() == self.config.partitions as usize
        })
    }

    /// Sends the next produce, if there is room for one.
    pub(super) fn producer_tick(&mut self) {
        if self.producer_done() {
            return;
        }
        let every = self.config.produce_every_ms;
        let next = self.now + 1 + self.rng.below(2 * every);
        self.agenda.push(next, Event::ProducerTick);
        let now = self.now;
        self.producer
            .in_flight
            .retain(|_, at| now.saturating_sub(*at) < PRODUCE_TIMEOUT_MS);
        let in_flight = &self.producer.in_flight;
        self.producer
            .partitions
            .retain(|id, _| in_flight.contains_key(id));
        if self.producer.in_flight.len() >= PRODUCES_IN_FLIGHT_MAX {
            return;
        }
        let p = self.producer.next_partition;
        self.producer.next_partition = (p + 1) % self.config.partitions;
        let leader = if self.rng.chance(100_000) {
            self.random_broker()
        } else {
            let image = self.controller.image();
            match image.partition(self.topic_id, p) {
                Some(a) => a.leader,
                None => return,
            }
        };
        if !leader.is_some() {
            return;
        }
        let id = self.producer.next_id;
        self.producer.next_id += 1;
        let payload = self.producer.next_payload;
        self.producer.next_payload += 1;
        let records = 1 + self.rng.below(4) as i32;
        self.producer.in_flight.insert(id, now);
        self.producer.partitions.insert(id, p);
        self.stats.produced += 1;
        let m = Rpc::Produce {
            id,
            partition: p,
            payload,
            records,
        };
        self.rpc.send(&mut self.rng, now, CLIENT, leader, m);
    }

    /// An answer reaches the client.
    pub(super) fn producer_receive(&mut self, message: Rpc) {
        let Rpc::Produced { id, result } = message else {
            return;
        };
        let p = self.producer.partitions.remove(&id);
        if self.producer.in_flight.remove(&id).is_some() && result.is_ok() {
            self.stats.acked += 1;
            if let (false, Some(p)) = (self.faults, p) {
                self.producer.acked_after_heal.insert(p);
            }
        }
    }
}
