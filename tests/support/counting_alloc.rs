//! A counting global allocator: the net heap bytes requested from the
//! system allocator (malloc's own per-chunk overhead is not included).
//! Shared by the tests and benches through `#[path]`; a binary installs it
//! with one of:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: counting_alloc::Counting = counting_alloc::Counting::ALWAYS; // live_bytes() at any time
//! #[global_allocator]
//! static ALLOC: counting_alloc::Counting = counting_alloc::Counting::IN_MEASURE; // only inside measure()
//! ```
//!
//! `IN_MEASURE` counts only inside [`measure`], so timed runs pay one
//! relaxed load of a flag that never changes while they run (no shared
//! counter bounces between cores).

#![allow(dead_code)] // Each binary that includes this uses part of it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Forwards to [`System`], counting the bytes held.
pub struct Counting {
    always: bool,
}

impl Counting {
    /// Counts every allocation of the process.
    pub const ALWAYS: Counting = Counting { always: true };
    /// Counts only inside [`measure`].
    pub const IN_MEASURE: Counting = Counting { always: false };

    fn add(&self, bytes: usize) {
        if self.always {
            // Not in timed runs (`IN_MEASURE`): a thread-local write on
            // every allocation would tax the caches that allocate most.
            // `try_with`: a thread being torn down may still allocate.
            let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
            let _ = NET.try_with(|net| net.set(net.get() + bytes as isize));
        }
        if self.always || ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(bytes as isize, Ordering::Relaxed);
        }
    }

    fn sub(&self, bytes: usize) {
        if self.always {
            let _ = NET.try_with(|net| net.set(net.get() - bytes as isize));
        }
        if self.always || ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Allocations (and reallocations) made by this thread so far. A
    /// `const` cell of a `Copy` type: reading it never allocates.
    static CALLS: Cell<u64> = const { Cell::new(0) };
    /// Bytes this thread allocated minus those it freed.
    static NET: Cell<isize> = const { Cell::new(0) };
}
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the bookkeeping only touches
// atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is,
        // `System`) returned, with its layout.
        unsafe { System.dealloc(ptr, layout) };
        self.sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.sub(layout.size());
            self.add(new_size);
        }
        p
    }
}

/// Allocations and reallocations this thread has made so far (counted
/// with [`Counting::ALWAYS`] only).
pub fn allocations_here() -> u64 {
    CALLS.with(Cell::get)
}

/// Bytes this thread allocated minus those it freed, so far (counted
/// with [`Counting::ALWAYS`] only).
pub fn net_bytes_here() -> isize {
    NET.with(Cell::get)
}

/// The bytes counted as held now (with [`Counting::ALWAYS`]: allocated by
/// the process and not yet freed).
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Net heap bytes allocated (minus freed) by `f` and still held when it
/// returns, with what `f` returned. Run it with no other thread allocating.
pub fn measure<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let before = LIVE.load(Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    let out = f();
    ON.store(false, Ordering::SeqCst);
    (LIVE.load(Ordering::SeqCst) - before, out)
}
