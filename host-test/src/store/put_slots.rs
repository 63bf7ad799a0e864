//! At most [`MAX_PUTS`] objects being written at once through one handle;
//! further puts wait for one to end. Locks, a few hundred bytes that
//! plakar must refresh on time, take no slot.
//!
//! A put holds a component instance whose linear memory grows to the
//! upload's buffer (the chunk, `chunk_size`, 8 MiB by default: about
//! 10 MiB an instance; the whole object in `monolithic` mode), and keeps
//! it while the instance lives. plakar v1.1.4 flushes packfiles from
//! `-concurrency` + 1 goroutines at once (kloset v1.1.3,
//! `repository/packer/packer_seq.go`): nine Put streams at 8. Written all
//! at once, a first backup took the plugin to 142 to 149 MiB
//! (docs/performance.md). Four at once kept the medium dataset's backup
//! over a 40 ms, 200 Mbit/s link within its run-to-run spread (16.6 s
//! against 15.9 s); on the 1 GiB one ours took 9 % longer than
//! integration-oci, which writes nine: whether the slots or the chunks'
//! round trips cost that is not measured yet.
//!
//! A waiting put holds no instance. Its bytes wait in the caller's hands:
//! the plugin's Put stream reads two 1 MiB chunks ahead, then HTTP/2 flow
//! control holds plakar to one stream window (2 MiB). The plugin's
//! connection window is sized so that waiting streams can never fill it
//! (plakar-plugin/src/main.rs): otherwise the puts holding slots would
//! receive nothing more and every put would hang.
//!
//! The wait has no time limit, as a put has none overall (the component
//! bounds each call, not the put): over a slow link a put may wait for
//! minutes while the ones before it transfer. A caller that stops feeding
//! its put without ending it holds its slot until it does; the plugin's
//! Put streams end when plakar cancels or goes away. `data` of a put must
//! not itself put through the same handle.

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

    /// Waits for a free slot and takes it (no time limit: see the module's
    /// doc).
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
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn the_put_past_the_slots_waits_until_one_is_given_back() {
        let slots = PutSlots::new(MAX_PUTS);
        let mut held: Vec<PutSlot<'_>> = (0..MAX_PUTS).map(|_| slots.take()).collect();
        let taken = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let next = scope.spawn(|| {
                let slot = slots.take();
                taken.store(true, Ordering::SeqCst);
                drop(slot);
            });
            std::thread::sleep(Duration::from_millis(100));
            assert!(!taken.load(Ordering::SeqCst), "a fifth put ran beside four");
            held.pop();
            next.join().unwrap();
        });
        assert!(taken.load(Ordering::SeqCst));
        drop(held);
        assert_eq!(*slots.lock(), MAX_PUTS, "every slot came back");
    }

    #[test]
    fn many_puts_share_the_slots_and_all_run() {
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
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 12);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= MAX_PUTS, "{most} puts ran at once");
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
