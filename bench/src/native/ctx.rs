//! State one executor's tasks share: a [`Sink`] for what they measure, and the run's clock.
//! Lives on one executor (`Rc`, `RefCell`); only [`Live`] and the producer count cross threads.

use crate::stats::{Clock, Live, Sink, Window};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Shared by the tasks of one executor.
pub struct ExecCtx {
    /// Where this executor records.
    pub sink: RefCell<Sink>,
    /// Counters shared with the progress printer.
    pub live: Arc<Live>,
    /// The run's clock.
    pub clock: Clock,
    /// Producers still running, over all executors.
    pub producers_left: Arc<AtomicU32>,
}

impl ExecCtx {
    /// A context for one executor.
    pub fn new(
        live: Arc<Live>,
        clock: Clock,
        window: Window,
        producers_left: Arc<AtomicU32>,
    ) -> ExecCtx {
        ExecCtx {
            sink: RefCell::new(Sink::new(window)),
            live,
            clock,
            producers_left,
        }
    }

    /// Records a produce acknowledgement (see [`Sink::ack`]).
    pub fn ack(&self, intended_ns: u64, now_ns: u64, bytes: u64) {
        self.sink.borrow_mut().ack(intended_ns, now_ns, bytes);
    }

    /// Records a consumed value (see [`Sink::consumed`]).
    pub fn consumed(&self, sent_ns: Option<u64>, now_ns: u64, bytes: u64) {
        self.sink.borrow_mut().consumed(sent_ns, now_ns, bytes);
    }

    /// Counts `n` errors on the producer (`producer`) or consumer side.
    pub fn errors(&self, n: u64, producer: bool) {
        self.live.errors.fetch_add(n, Ordering::Relaxed);
        self.sink.borrow_mut().errors(n, producer);
    }

    /// Hands this second's latencies to the progress printer.
    pub fn publish(&self) {
        self.sink.borrow_mut().publish(&self.live);
    }
}
