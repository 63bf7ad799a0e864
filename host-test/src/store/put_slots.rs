//! At most [`MAX_PUTS`] objects being written at once through one handle;
//! further puts wait for one to end.
//!
//! A put holds a component instance whose linear memory grows to the
//! upload's buffer (up to the 8 MiB chunk, about 10 MiB an instance) and
//! does not shrink while the instance lives. plakar v1.1.4 at
//! `-concurrency 8` hands the plugin about eleven packfiles at once in a
//! first backup (measured by sampling the plugin's `/proc/PID/smaps`:
//! three instances at 10 MiB and eight at 4 to 6 MiB, partway through
//! their first 8 MiB), which took the plugin to 142 to 149 MiB
//! (docs/performance.md). Four uploads at once still keep a link busy:
//! each streams at the link's pace, and over 40 ms a round trip the three
//! to four requests of one packfile are a few hundred milliseconds of a
//! transfer of seconds. A waiting put holds no instance; its bytes wait in
//! the caller's (the plugin's Put stream holds two chunks, then gRPC's flow
//! control holds plakar).

use std::sync::{Condvar, Mutex, MutexGuard};

/// Objects written at once through one handle.
pub const MAX_PUTS: usize = 4;

/// The slots a handle's puts take in turn.
pub struct PutSlots {
    free: Mutex<usize>,
    returned: Condvar,
}

/// One put's slot, given back when dropped (a panicking put included).
pub struct PutSlot<'a> {
    slots: &'a PutSlots,
}

impl PutSlots {
    pub fn new(slots: usize) -> PutSlots {
        PutSlots {
            free: Mutex::new(slots.max(1)),
            returned: Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it. No time limit here: a put in a
    /// slot ends within the component's own deadline for an operation.
    pub fn take(&self) -> PutSlot<'_> {
        let mut free = self.lock();
        while *free == 0 {
            free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        PutSlot { slots: self }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        // A count stays whole whatever panics: a poisoned lock is used.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PutSlot<'_> {
    fn drop(&mut self) {
        *self.slots.lock() += 1;
        self.slots.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn no_more_puts_than_slots_run_at_once_and_all_run() {
        let slots = PutSlots::new(MAX_PUTS);
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| {
                    let _slot = slots.take();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 12);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= MAX_PUTS, "{most} puts ran at once");
        assert!(most >= 2, "puts ran one at a time: {most}");
    }

    #[test]
    fn a_put_that_panics_gives_its_slot_back() {
        let slots = PutSlots::new(1);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _slot = slots.take();
            panic!("the caller's reader panicked");
        }));
        assert!(panicked.is_err());
        // Would wait for ever if the slot were lost.
        drop(slots.take());
        assert_eq!(*slots.lock(), 1);
    }
}
