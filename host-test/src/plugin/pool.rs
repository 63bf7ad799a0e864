//! A pool of component instances, so one handle serves many threads.
//!
//! Idle instances are kept LIFO: a lone caller always gets the same instance
//! back, with whatever the component cached in it. At most `max_instances`
//! ([`MAX_INSTANCES`] unless configured) exist at once; further callers wait
//! for one to come back, up to `instance_wait`, then fail with
//! [`HostError::PoolTimeout`] (an instance never returned, a caller stuck
//! holding one, must not hang every other caller for good).
//!
//! An instance leaves the pool for good when a call trapped in it (memory
//! limit included), or when its lease ends during a panic or after
//! [`Lease::discard`]: its state is then unknown.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::one_line;
use crate::plugin::bindings::WitError;
use crate::plugin::instance::{memory_error, Instance, Recipe};
use crate::{HostError, StoreError};

/// The Kloset engine reads up to 64 ranges in parallel while browsing.
pub const MAX_INSTANCES: usize = kloset_oci::config::options::MAX_INSTANCES as usize;

pub struct Pool {
    slots: Mutex<Slots>,
    returned: Condvar,
    recipe: Recipe,
    max: usize,
    wait: Duration,
}

struct Slots {
    idle: Vec<Instance>,
    live: usize,
    /// `close` was called on the handle: every instance gets closed before use.
    closed: bool,
}

impl Pool {
    pub fn new(recipe: Recipe, max: usize, wait: Duration) -> Arc<Pool> {
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

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An instance for one operation: an idle one, a new one while under the
    /// cap, else the next one returned. After `close_all`, the instance is
    /// closed first so every instance of a closed handle behaves alike.
    pub fn acquire(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let (mut lease, closed) = self.acquire_raw()?;
        if closed && !lease.instance().closed {
            let _ = lease.close();
        }
        Ok(lease)
    }

    fn acquire_raw(self: &Arc<Self>) -> Result<(Lease, bool), StoreError> {
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
                return Err(HostError::PoolTimeout {
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
    pub fn close_all(self: &Arc<Self>) -> Result<(), StoreError> {
        let idle = {
            let mut slots = self.lock();
            slots.closed = true;
            std::mem::take(&mut slots.idle)
        };
        let mut leases: Vec<Lease> = idle
            .into_iter()
            .map(|i| Lease::new(self.clone(), i))
            .collect();
        if leases.is_empty() {
            leases.push(self.acquire_raw()?.0);
        }
        let mut first_error = None;
        for lease in &mut leases {
            if lease.instance().closed {
                continue;
            }
            if let Err(err) = lease.close() {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The egress every instance of this pool sends through.
    pub fn egress(&self) -> &crate::egress::Egress {
        &self.recipe.egress
    }

    fn give_back(&self, instance: Instance) {
        self.lock().idle.push(instance);
        self.returned.notify_one();
    }

    fn forget_one(&self) {
        self.lock().live -= 1;
        self.returned.notify_one();
    }
}

/// An instance on loan; goes back to the pool on drop, unless it trapped.
pub struct Lease {
    pool: Arc<Pool>,
    instance: Option<Instance>,
}

impl Lease {
    fn new(pool: Arc<Pool>, instance: Instance) -> Self {
        Lease {
            pool,
            instance: Some(instance),
        }
    }

    pub fn instance(&mut self) -> &mut Instance {
        self.instance
            .as_mut()
            .expect("a lease holds its instance until dropped")
    }

    /// Keeps the instance from going back to the pool: it is dropped when
    /// the lease ends.
    pub fn discard(&mut self) {
        if let Some(instance) = self.instance.as_mut() {
            instance.discard = true;
        }
    }

    /// Whether a call trapped; the instance is then discarded on drop.
    pub fn is_poisoned(&self) -> bool {
        self.instance.as_ref().is_none_or(|i| i.poisoned)
    }

    /// Runs one call into the instance. A trap poisons the instance and
    /// becomes [`HostError::Trap`].
    pub fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<T>,
    ) -> Result<T, StoreError> {
        let instance = self.instance();
        if instance.poisoned {
            return Err(HostError::Trap("instance trapped earlier".into()).into());
        }
        f(instance).map_err(|trap| {
            instance.poisoned = true;
            let error = memory_error(&trap).unwrap_or_else(|| HostError::Trap(one_line(&trap)));
            StoreError::Host(error)
        })
    }

    /// [`Lease::call`] for functions returning `result<T, error>`.
    pub fn try_call<T>(
        &mut self,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Result<T, WitError>>,
    ) -> Result<T, StoreError> {
        self.call(f)?.map_err(StoreError::from)
    }

    fn close(&mut self) -> Result<(), StoreError> {
        let result = self.try_call(|i| {
            let (api, store, resource) = i.parts();
            api.store().call_close(store, resource)
        });
        self.instance().closed = true;
        result
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(instance) = self.instance.take() else {
            return;
        };
        // A panic while the instance was lent may have left anything in it
        // (a writer and its upload session, a half-read reader).
        if instance.poisoned || instance.discard || std::thread::panicking() {
            drop(instance);
            self.pool.forget_one();
        } else {
            self.pool.give_back(instance);
        }
    }
}
