//! The synchronisation types ttlkit uses, in one place, so the same code runs
//! on `std`/`parking_lot`/`crossbeam-epoch` or, under `--cfg ttlkit_loom`,
//! on loom's model-checked types (the cfg is prefixed because a bare
//! `cfg(loom)` would switch dependencies into their own loom modes too).
//!
//! `reclaim` is the memory-reclamation facade of the sharded backend: with
//! std it is epoch-based (`crossbeam-epoch`); under loom it keeps retired
//! allocations until their owner drops, which is trivially sound and lets
//! loom explore the atomics protocol without modelling epochs.

// `Arc`/`Weak` stay std's even under loom (loom's `Arc` has no `Weak`);
// reference counting is std's business, the protocols around it are ours.
pub(crate) use std::sync::{Arc, Weak};

/// The hasher of keys: randomly seeded per cache, but fixed under loom,
/// whose explorations must be deterministic.
#[cfg(not(ttlkit_loom))]
pub(crate) type RandomState = foldhash::fast::RandomState;
/// The hasher of keys: randomly seeded per cache, but fixed under loom,
/// whose explorations must be deterministic.
#[cfg(ttlkit_loom)]
pub(crate) type RandomState = foldhash::fast::FixedState;

#[cfg(not(ttlkit_loom))]
mod imp {
    pub(crate) use parking_lot::{Condvar, Mutex};
    // Some are the sharded backend's alone.
    #[cfg_attr(not(feature = "sharded"), allow(unused_imports))]
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize};

    /// Threads.
    pub(crate) mod thread {
        pub(crate) use std::thread::current;
    }
}

#[cfg(ttlkit_loom)]
mod imp {
    #[cfg_attr(not(feature = "sharded"), allow(unused_imports))]
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize};
    use std::time::Duration;

    /// Loom's model threads.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, JoinHandle};

        pub(crate) fn spawn_named<F>(_name: &str, f: F) -> std::io::Result<JoinHandle<()>>
        where
            F: FnOnce() + Send + 'static,
        {
            Ok(loom::thread::spawn(f))
        }
    }

    /// A loom mutex with parking_lot's poison-free `lock()`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(t: T) -> Self {
            Mutex(loom::sync::Mutex::new(t))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    /// A loom condvar with parking_lot's `&mut guard` API.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            replace_guard(guard, |g| self.0.wait(g).unwrap_or_else(|p| p.into_inner()));
        }

        /// Loom has no time: a timed wait is a plain wait that may also
        /// wake spuriously, which loom explores.
        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, _timeout: Duration) {
            self.wait(guard);
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Moves a guard out and back in around a by-value wait.
    fn replace_guard<'a, T>(slot: &mut MutexGuard<'a, T>, f: impl FnOnce(MutexGuard<'a, T>) -> MutexGuard<'a, T>) {
        // SAFETY: `slot` is read out and always written back before anyone
        // can observe it; if `f` unwinds the process aborts via the bomb, so
        // the moved-from guard is never dropped twice.
        unsafe {
            let bomb = AbortOnUnwind;
            let g = std::ptr::read(slot);
            std::ptr::write(slot, f(g));
            std::mem::forget(bomb);
        }
    }

    struct AbortOnUnwind;
    impl Drop for AbortOnUnwind {
        fn drop(&mut self) {
            std::process::abort();
        }
    }
}

pub(crate) use imp::*;

/// Deferred freeing of memory that lock-free readers may still hold.
#[cfg(feature = "sharded")]
pub(crate) mod reclaim {
    /// A reader's or writer's protection: pointers loaded while a guard is
    /// alive stay valid until the guard drops.
    #[cfg(not(ttlkit_loom))]
    pub(crate) struct Guard(crossbeam_epoch::Guard);

    #[cfg(ttlkit_loom)]
    pub(crate) struct Guard<'a>(&'a Graveyard);

    /// Where retired allocations wait (empty outside loom).
    #[derive(Default)]
    pub(crate) struct Graveyard {
        #[cfg(ttlkit_loom)]
        dead: std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    }

    impl Graveyard {
        /// Pins the current thread.
        #[cfg(not(ttlkit_loom))]
        #[inline]
        pub(crate) fn pin(&self) -> Guard {
            Guard(crossbeam_epoch::pin())
        }

        /// Pins the current thread.
        #[cfg(ttlkit_loom)]
        pub(crate) fn pin(&self) -> Guard<'_> {
            Guard(self)
        }
    }

    #[cfg(ttlkit_loom)]
    impl Drop for Graveyard {
        fn drop(&mut self) {
            let dead = std::mem::take(self.dead.get_mut().unwrap_or_else(|p| p.into_inner()));
            for free in dead {
                free();
            }
        }
    }

    /// A raw pointer that may cross threads to be freed.
    struct SendPtr<T>(*mut T);
    // SAFETY: the pointee is only ever dropped through this pointer, once,
    // and `T: Send` is required where it is created.
    unsafe impl<T: Send> Send for SendPtr<T> {}

    impl<T: Send> SendPtr<T> {
        /// Drops the boxed value.
        ///
        /// # Safety
        /// The pointer came from `Box::into_raw` and is freed only here, once.
        unsafe fn free(self) {
            // SAFETY: per this function's contract.
            drop(unsafe { Box::from_raw(self.0) });
        }
    }

    #[cfg(not(ttlkit_loom))]
    impl Guard {
        /// Frees `ptr` once no thread pinned now can still be reading it.
        ///
        /// # Safety
        /// `ptr` came from `Box::into_raw`, is no longer reachable by threads
        /// that pin after this call, and is retired only once.
        pub(crate) unsafe fn retire<T: Send + 'static>(&self, ptr: *mut T) {
            let p = SendPtr(ptr);
            // SAFETY: per this function's contract the pointer is unreachable
            // to new readers; the epoch defers the free past current ones.
            unsafe { self.0.defer_unchecked(move || p.free()) };
        }

        /// Hurries deferred frees along (used when a cache drops).
        pub(crate) fn flush(&self) {
            self.0.flush();
        }
    }

    #[cfg(ttlkit_loom)]
    impl Guard<'_> {
        /// Keeps `ptr` until the graveyard drops.
        ///
        /// # Safety
        /// As for the std version.
        pub(crate) unsafe fn retire<T: Send + 'static>(&self, ptr: *mut T) {
            let p = SendPtr(ptr);
            // SAFETY: per this function's contract, freed once, at drop.
            let free: Box<dyn FnOnce() + Send> = Box::new(move || unsafe { p.free() });
            self.0.dead.lock().unwrap_or_else(|p| p.into_inner()).push(free);
        }

        pub(crate) fn flush(&self) {}
    }
}
