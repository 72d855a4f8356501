//! The process allocator: the system allocator, except that very large allocations are
//! reserved with `MAP_NORESERVE`.
//!
//! Decoders of the Kafka protocol size a vector from the element count on the wire before
//! reading the elements. A hostile count of 2^31 asks for hundreds of GiB; the kernel's
//! overcommit check refuses that and Rust aborts the process. Reserved without
//! commitment, such a region costs address space only: the decoder runs out of input
//! after touching at most a frame's worth of elements, the request fails with an error, and
//! the region is unmapped. Legitimate allocations this large do not occur in the broker.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of at least this many bytes are mapped without reservation.
pub const NORESERVE_BYTES_MIN: usize = 1 << 30;

/// Page alignment `mmap` guarantees.
const PAGE_BYTES: usize = 4096;

/// The broker's global allocator (install it with `#[global_allocator]` in the binary).
pub struct BrokerAlloc;

fn mapped(layout: Layout) -> bool {
    layout.size() >= NORESERVE_BYTES_MIN && layout.align() <= PAGE_BYTES
}

// SAFETY: every path either defers to `System` with the caller's layout or maps/unmaps a
// private anonymous region of exactly `layout.size()` bytes, which is page aligned and so
// satisfies any alignment up to a page.
unsafe impl GlobalAlloc for BrokerAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !mapped(layout) {
            // SAFETY: forwarded contract.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: anonymous private mapping; no file, no fixed address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout) {
            // SAFETY: `ptr` came from the mmap above with this size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: forwarded contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the new layout has the old, valid alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(layout) && !mapped(new_layout) {
            // SAFETY: forwarded contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: fresh allocation, copy of the overlapping prefix, release of the old one.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
