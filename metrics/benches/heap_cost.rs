//! What counting heap bytes per thread costs: nanoseconds per allocate-and-free pair of a
//! small block through the system allocator alone, through [`Counting`] (one slot per
//! thread), and through a wrapper with process-wide atomic counters (the design of the
//! counting-allocator crates), on one thread and on two at once.
//!
//! `cargo bench -p myelin-metrics --bench heap_cost` prints one JSON line per case.

use myelin_metrics::heap::Counting;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Pairs per measurement: long enough that the clock's cost disappears.
const PAIRS: u64 = 20_000_000;

/// Process-wide counters, updated with atomic additions from every thread.
struct SharedAtomic<A>(A);

static SHARED_ALLOCATED: AtomicU64 = AtomicU64::new(0);
static SHARED_FREED: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `A` unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SharedAtomic<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        SHARED_ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        SHARED_FREED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

fn pairs_ns<A: GlobalAlloc>(a: &A) -> f64 {
    let layout = Layout::from_size_align(64, 8).unwrap_or(Layout::new::<u64>());
    let started = Instant::now();
    for _ in 0..PAIRS {
        // SAFETY: a valid layout; each block is freed once, with it.
        unsafe {
            let p = black_box(a.alloc(layout));
            a.dealloc(p, layout);
        }
    }
    started.elapsed().as_nanos() as f64 / PAIRS as f64
}

fn on_threads<A: GlobalAlloc + Sync>(a: &A, threads: usize) -> f64 {
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads).map(|_| s.spawn(|| pairs_ns(a))).collect();
        let ns: Vec<f64> = runs.into_iter().filter_map(|r| r.join().ok()).collect();
        ns.iter().sum::<f64>() / ns.len().max(1) as f64
    })
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, 2] {
        let system = on_threads(&System, threads);
        let per_thread = on_threads(&Counting(System), threads);
        let shared = on_threads(&SharedAtomic(System), threads);
        println!(
            "{{\"case\":\"alloc+free 64 B\",\"threads\":{threads},\"cores\":{cores},\
             \"pairs\":{PAIRS},\"system_ns\":{system:.2},\"counting_per_thread_ns\":{per_thread:.2},\
             \"shared_atomic_ns\":{shared:.2}}}"
        );
    }
}
