//! A pool of component instances, so one handle serves many threads.
//!
//! Idle instances are kept LIFO: a lone caller always gets the same instance
//! back, with whatever the component cached in it. At most `max_instances`
//! ([`MAX_INSTANCES`] unless configured) exist at once; further callers wait
//! for one to come back, up to `instance_wait`, then fail with
//! [`Error::PoolTimeout`] (an instance never returned, a caller stuck
//! holding one, must not hang every other caller for good).
//!
//! An instance leaves the pool for good when a call trapped in it (memory
//! limit included), or when its lease ends during a panic or after
//! [`Lease::discard`]: its state is then unknown. It also leaves when it
//! comes back to a pool whose idle instances hold enough already
//! ([`keep_idle`]): a linear memory never shrinks, so instances kept idle
//! after a burst of calls (25 of them in a `-concurrency 8` backup, 11 MiB
//! each after a put in chunks of the default 8 MiB) would hold their peak
//! for the process's life.
//!
//! The pool keeps its books through two small traits, [`Build`] and
//! [`Pooled`], which the real [`Recipe`] and
//! [`Instance`](crate::plugin::instance::Instance) implement, so the
//! rules above are unit-tested with a fake instance (`pool_tests.rs`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::one_line;
use crate::plugin::bindings::WitError;
use crate::plugin::instance::{memory_error, Recipe};
use crate::Error;

/// The Kloset engine reads up to 64 ranges in parallel while browsing.
pub const MAX_INSTANCES: usize = kloset_oci::config::options::MAX_INSTANCES as usize;

/// What builds the instances a pool lends ([`Recipe`] for the real pool).
pub trait Build {
    type Instance: Pooled;
    fn build(&self) -> Result<Self::Instance, Error>;
}

/// Idle instances kept at most.
pub const MAX_IDLE: usize = 4;

/// Linear memory the idle instances may hold together, unless it is one
/// instance alone (a lone caller keeps its instance, whatever it holds):
/// four readers' worth (up to 3 MiB each after ranged reads), or a put's
/// (11 MiB with the default 8 MiB chunk; a monolithic put's holds its
/// object) beside a reader, not two puts'.
pub const IDLE_MEMORY: usize = 16 << 20;

/// Whether an instance of `memory` bytes coming back joins the idle ones
/// (`idle`: their memories), or is dropped, freeing its memory. Building
/// one again costs about 0.2 ms (docs/performance.md, start-up).
pub fn keep_idle(idle: &[usize], memory: usize) -> bool {
    idle.is_empty() || (idle.len() < MAX_IDLE && idle.iter().sum::<usize>() + memory <= IDLE_MEMORY)
}

/// What the pool needs of an instance it lends: its flags, its linear
/// memory's size, and a way to call `close` on its `store` resource.
pub trait Pooled {
    fn flags(&self) -> &Flags;
    fn flags_mut(&mut self) -> &mut Flags;
    fn memory(&self) -> usize;
    /// Calls `close` on the instance's `store` resource.
    fn close(&mut self) -> wasmtime::Result<Result<(), WitError>>;
}

/// What the pool records on each instance.
#[derive(Debug, Default)]
pub struct Flags {
    /// `close` was called on the resource.
    pub closed: bool,
    /// A call trapped: the instance may not be entered again.
    pub poisoned: bool,
    /// The instance must not be lent again (a caller panicked while it held
    /// it); it is dropped cleanly when its lease ends.
    pub discard: bool,
}

pub struct Pool<R: Build = Recipe> {
    slots: Mutex<Slots<R::Instance>>,
    returned: Condvar,
    recipe: R,
    max: usize,
    wait: Duration,
}

struct Slots<I> {
    idle: Vec<I>,
    live: usize,
    /// `close` was called on the handle: every instance gets closed before use.
    closed: bool,
}

impl<R: Build> Pool<R> {
    pub fn new(recipe: R, max: usize, wait: Duration) -> Arc<Self> {
        Arc::new(Pool {
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                live: 0,
                closed: false,
            }),
            returned: Condvar::new(),
            recipe,
            max: max.clamp(1, MAX_INSTANCES),
            wait,
        })
    }

    /// Instances alive, and how many of them are idle.
    pub fn counts(&self) -> (usize, usize) {
        let slots = self.lock();
        (slots.live, slots.idle.len())
    }

    fn lock(&self) -> MutexGuard<'_, Slots<R::Instance>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An instance for one operation: an idle one, a new one while under the
    /// cap, else the next one returned. After `close_all`, the instance is
    /// closed first so every instance of a closed handle behaves alike.
    pub fn acquire(self: &Arc<Self>) -> Result<Lease<R>, Error> {
        let (mut lease, closed) = self.acquire_raw()?;
        if closed && !lease.instance().flags().closed {
            let _ = lease.close();
        }
        Ok(lease)
    }

    fn acquire_raw(self: &Arc<Self>) -> Result<(Lease<R>, bool), Error> {
        let deadline = Instant::now() + self.wait;
        let mut slots = self.lock();
        loop {
            if let Some(instance) = slots.idle.pop() {
                return Ok((Lease::new(self.clone(), instance), slots.closed));
            }
            if slots.live < self.max {
                slots.live += 1;
                let closed = slots.closed;
                drop(slots);
                return match self.recipe.build() {
                    Ok(instance) => Ok((Lease::new(self.clone(), instance), closed)),
                    Err(err) => {
                        self.forget_one();
                        Err(err)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::PoolTimeout {
                    waited_secs: self.wait.as_secs(),
                    instances: self.max,
                }
                .into());
            }
            slots = self
                .returned
                .wait_timeout(slots, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Closes every idle instance (at least one) and marks the pool closed;
    /// instances in use are closed when next acquired. Returns the first
    /// error a `close` gave.
    pub fn close_all(self: &Arc<Self>) -> Result<(), Error> {
        let idle = {
            let mut slots = self.lock();
            slots.closed = true;
            std::mem::take(&mut slots.idle)
        };
        let mut leases: Vec<Lease<R>> = idle
            .into_iter()
            .map(|i| Lease::new(self.clone(), i))
            .collect();
        if leases.is_empty() {
            leases.push(self.acquire_raw()?.0);
        }
        let mut first_error = None;
        for lease in &mut leases {
            if lease.instance().flags().closed {
                continue;
            }
            if let Err(err) = lease.close() {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn give_back(&self, instance: R::Instance) {
        let mut slots = self.lock();
        let idle: Vec<usize> = slots.idle.iter().map(Pooled::memory).collect();
        if keep_idle(&idle, instance.memory()) {
            slots.idle.push(instance);
        } else {
            slots.live -= 1;
            drop(slots);
            // Dropped outside the lock: its destructor runs guest code.
            drop(instance);
        }
        self.returned.notify_one();
    }

    fn forget_one(&self) {
        self.lock().live -= 1;
        self.returned.notify_one();
    }
}

impl Pool<Recipe> {
    /// The egress every instance of this pool sends through.
    pub fn egress(&self) -> &crate::egress::Egress {
        &self.recipe.egress
    }
}

/// An instance on loan; goes back to the pool on drop, unless it trapped.
pub struct Lease<R: Build = Recipe> {
    pool: Arc<Pool<R>>,
    instance: Option<R::Instance>,
}

impl<R: Build> Lease<R> {
    fn new(pool: Arc<Pool<R>>, instance: R::Instance) -> Self {
        Lease {
            pool,
            instance: Some(instance),
        }
    }

    pub fn instance(&mut self) -> &mut R::Instance {
        self.instance
            .as_mut()
            .expect("a lease holds its instance until dropped")
    }

    /// Keeps the instance from going back to the pool: it is dropped when
    /// the lease ends.
    pub fn discard(&mut self) {
        if let Some(instance) = self.instance.as_mut() {
            instance.flags_mut().discard = true;
        }
    }

    /// Whether a call trapped; the instance is then discarded on drop.
    pub fn is_poisoned(&self) -> bool {
        self.instance.as_ref().is_none_or(|i| i.flags().poisoned)
    }

    /// Runs one call into the instance. A trap poisons the instance and
    /// becomes [`Error::Trap`].
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(&mut R::Instance) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        let instance = self.instance();
        if instance.flags().poisoned {
            return Err(Error::Trap("instance trapped earlier".into()).into());
        }
        f(instance).map_err(|trap| {
            instance.flags_mut().poisoned = true;
            let error = memory_error(&trap).unwrap_or_else(|| Error::Trap(one_line(&trap)));
            error
        })
    }

    /// [`Lease::call`] for functions returning `result<T, error>`.
    pub fn try_call<T>(
        &mut self,
        f: impl FnOnce(&mut R::Instance) -> wasmtime::Result<Result<T, WitError>>,
    ) -> Result<T, Error> {
        self.call(f)?.map_err(Error::from)
    }

    fn close(&mut self) -> Result<(), Error> {
        let result = self.try_call(Pooled::close);
        self.instance().flags_mut().closed = true;
        result
    }
}

impl<R: Build> Drop for Lease<R> {
    fn drop(&mut self) {
        let Some(instance) = self.instance.take() else {
            return;
        };
        // A panic while the instance was lent may have left anything in it
        // (a writer and its upload session, a half-read reader).
        let flags = instance.flags();
        if flags.poisoned || flags.discard || std::thread::panicking() {
            drop(instance);
            self.pool.forget_one();
        } else {
            self.pool.give_back(instance);
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
