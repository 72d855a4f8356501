//! Heap bytes per thread: a global allocator that wraps another and counts, on the thread
//! that calls it, the bytes allocated and freed and the allocations made.
//!
//! Each thread writes only its own slot, a cache line of its own in a fixed table, so the
//! count costs a thread-local read and two plain loads and stores per call: no atomic
//! read-modify-write and no cache line shared between cores. Any thread may read any slot
//! (relaxed: a reader may see a value a few calls old).
//!
//! A free is counted on the thread that frees, whichever thread allocated. Batches move
//! between shards by ownership (a produce's buffer is read on the connection's shard and
//! kept in the owning shard's cache), so one shard's count, allocated minus freed, is the
//! heap that shard has taken in less what it has let go of: it can stay high on a shard
//! that only hands buffers on, and go below zero on a shard that frees what others
//! allocated. The sum over every slot ([`all_threads`]) is exact: the live heap of the
//! process, in requested bytes. A thread beyond [`THREAD_SLOTS_MAX`] shares one overflow
//! slot, counted with atomic additions.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Threads with a slot of their own: the shards (at most 256, see `myelin_shards`'s
/// `SHARDS_MAX`), the main thread and a few helper threads; later threads share the overflow
/// slot.
pub const THREAD_SLOTS_MAX: usize = 320;

/// What one thread (or the overflow slot) counted.
#[repr(align(64))]
struct Slot {
    allocated_bytes: AtomicU64,
    freed_bytes: AtomicU64,
    allocations: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            allocated_bytes: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            allocations: AtomicU64::new(0),
        }
    }

    fn read(&self) -> HeapCounts {
        HeapCounts {
            allocated_bytes: self.allocated_bytes.load(Ordering::Relaxed),
            freed_bytes: self.freed_bytes.load(Ordering::Relaxed),
            allocations: self.allocations.load(Ordering::Relaxed),
        }
    }
}

static SLOTS: [Slot; THREAD_SLOTS_MAX] = [const { Slot::new() }; THREAD_SLOTS_MAX];
static OVERFLOW: Slot = Slot::new();
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// A thread's slot index before it has one.
const UNASSIGNED: usize = usize::MAX;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, and it stays
    // readable while the thread is torn down.
    static MY_SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
}

/// Adds `n` to a counter only this thread writes: a plain load and store, no lock prefix.
fn bump_own(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Runs `f` on this thread's slot (`true`: the slot is the thread's own).
fn with_slot(f: impl FnOnce(&Slot, bool)) {
    let index = MY_SLOT
        .try_with(|s| {
            if s.get() == UNASSIGNED {
                s.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed));
            }
            s.get()
        })
        .unwrap_or(UNASSIGNED);
    match SLOTS.get(index) {
        Some(slot) => f(slot, true),
        None => f(&OVERFLOW, false),
    }
}

fn count(size: usize, allocated: bool) {
    let n = size as u64;
    with_slot(|slot, own| {
        let (bytes, calls) = if allocated {
            (&slot.allocated_bytes, Some(&slot.allocations))
        } else {
            (&slot.freed_bytes, None)
        };
        if own {
            bump_own(bytes, n);
            if let Some(c) = calls {
                bump_own(c, 1);
            }
        } else {
            bytes.fetch_add(n, Ordering::Relaxed);
            if let Some(c) = calls {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// Heap counts of one thread, or of the whole process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapCounts {
    /// Bytes allocated (requested sizes; a reallocation counts its new size).
    pub allocated_bytes: u64,
    /// Bytes freed (a reallocation frees its old size).
    pub freed_bytes: u64,
    /// Allocations and reallocations.
    pub allocations: u64,
}

impl HeapCounts {
    /// Allocated minus freed: negative on a thread that freed more than it allocated.
    pub fn live_bytes(&self) -> i64 {
        (self.allocated_bytes as i64).wrapping_sub(self.freed_bytes as i64)
    }
}

/// This thread's counts; `None` when no [`Counting`] allocator counted anything on it (it is
/// not the global allocator).
pub fn this_thread() -> Option<HeapCounts> {
    let index = MY_SLOT.try_with(Cell::get).ok()?;
    SLOTS.get(index).map(Slot::read)
}

/// The counts of every thread added up (exited threads included): the process's live heap
/// is their [`HeapCounts::live_bytes`]. `None` when nothing was counted.
pub fn all_threads() -> Option<HeapCounts> {
    let used = NEXT_SLOT.load(Ordering::Relaxed).min(THREAD_SLOTS_MAX);
    let mut total = OVERFLOW.read();
    for slot in SLOTS.iter().take(used) {
        let c = slot.read();
        total.allocated_bytes = total.allocated_bytes.wrapping_add(c.allocated_bytes);
        total.freed_bytes = total.freed_bytes.wrapping_add(c.freed_bytes);
        total.allocations = total.allocations.wrapping_add(c.allocations);
    }
    (total.allocations > 0).then_some(total)
}

/// A global allocator that counts what `A` allocates and frees, per thread.
#[derive(Debug)]
pub struct Counting<A>(pub A);

// SAFETY: every call is forwarded to `A` with the caller's arguments and its result returned
// unchanged; counting only touches this module's statics and a const thread-local, neither of
// which allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            count(layout.size(), true);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size(), true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) };
        count(layout.size(), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(layout.size(), false);
            count(new_size, true);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn a_thread_counts_its_own_and_frees_elsewhere_count_where_they_happen() {
        let a = Counting(System);
        let layout = Layout::from_size_align(1000, 8).unwrap();
        let before = this_thread().unwrap_or_default();
        // SAFETY: a valid layout; the block is freed once, with the same layout.
        let p = unsafe { a.alloc(layout) } as usize;
        let after = this_thread().unwrap();
        assert_eq!(after.allocated_bytes - before.allocated_bytes, 1000);
        assert_eq!(after.allocations - before.allocations, 1);
        assert_eq!(after.live_bytes() - before.live_bytes(), 1000);
        let total_before = all_threads().unwrap();
        let freer = std::thread::spawn(move || {
            // SAFETY: `p` came from `a.alloc` with `layout` and is not used after this.
            unsafe { Counting(System).dealloc(p as *mut u8, layout) };
            this_thread().unwrap()
        })
        .join()
        .unwrap();
        // The free is the other thread's; this one still shows the block.
        assert_eq!(freer.freed_bytes, 1000);
        assert_eq!(freer.live_bytes(), -1000);
        assert_eq!(this_thread().unwrap().live_bytes(), after.live_bytes());
        let total_after = all_threads().unwrap();
        assert_eq!(total_after.freed_bytes - total_before.freed_bytes, 1000);

        // A reallocation frees the old size and allocates the new.
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: valid layouts; the block is freed once, with its last size.
        unsafe {
            let p = a.alloc(layout);
            let before = this_thread().unwrap();
            let q = a.realloc(p, layout, 4096);
            let after = this_thread().unwrap();
            assert_eq!(after.live_bytes() - before.live_bytes(), 4096 - 64);
            a.dealloc(q, Layout::from_size_align(4096, 8).unwrap());
            assert_eq!(
                this_thread().unwrap().live_bytes(),
                before.live_bytes() - 64
            );
        }
    }
}
