//! One component instance with its constructed `store` resource.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use crate::egress::Egress;
use crate::error::one_line;
use crate::plugin::bindings::{KlosetStore, StoreApi, WitError};
use crate::plugin::blob_map::BlobMap;
use crate::plugin::pool::{Build, Flags, Pooled};
use crate::plugin::state::{MemoryLimitExceeded, State};
use crate::{Error, Plugin};

/// A component instance and the `store` resource built in it.
pub struct Instance {
    store: Store<State>,
    bindings: KlosetStore,
    resource: ResourceAny,
    /// Closed, trapped, to be discarded: kept by the pool.
    flags: Flags,
    /// The last change of the handle's keys (a delete or put) this
    /// instance has forgotten the old mapping of: it knows nothing from
    /// before it was built, and catches up before each read
    /// ([`BlobMap::catch_up`]).
    pub(crate) changes_seen: u64,
}

/// What every per-instance ingredient of a handle needs to build one.
pub struct Recipe {
    pub plugin: Plugin,
    pub egress: Egress,
    pub peak: Arc<AtomicUsize>,
    /// The component's part of the configuration (host keys removed).
    pub config: Vec<(String, String)>,
    /// `max_guest_memory`, in bytes.
    pub max_memory: u64,
    /// The handle's blob mappings and changed keys: a new instance has
    /// nothing to forget of the changes made before it.
    pub blobs: Arc<BlobMap>,
}

impl Build for Recipe {
    type Instance = Instance;

    /// Instantiates the component and builds its `store` (`from-config`).
    fn build(&self) -> Result<Instance, Error> {
        let state = State::new(self.egress.clone(), self.peak.clone(), self.max_memory);
        let mut store = Store::new(self.plugin.engine(), state);
        store.limiter(|state| &mut state.memory);
        let bindings =
            self.plugin.pre().instantiate(&mut store).map_err(|e| {
                memory_error(&e).unwrap_or_else(|| Error::Instantiate(one_line(&e)))
            })?;
        let resource = bindings
            .kloset_store_store()
            .store()
            .call_from_config(&mut store, &self.config)
            .map_err(|e| memory_error(&e).unwrap_or_else(|| Error::Trap(one_line(&e))))??;
        Ok(Instance {
            store,
            bindings,
            resource,
            flags: Flags::default(),
            changes_seen: self.blobs.epoch(),
        })
    }
}

impl Instance {
    /// The exported API, the wasmtime store and the `store` resource, borrowed
    /// apart so a call can use all three.
    pub fn parts(&mut self) -> (&StoreApi, &mut Store<State>, ResourceAny) {
        (
            self.bindings.kloset_store_store(),
            &mut self.store,
            self.resource,
        )
    }
}

impl Pooled for Instance {
    fn flags(&self) -> &Flags {
        &self.flags
    }

    fn flags_mut(&mut self) -> &mut Flags {
        &mut self.flags
    }

    fn memory(&self) -> usize {
        self.store.data().memory.size
    }

    fn close(&mut self) -> wasmtime::Result<Result<(), WitError>> {
        let (api, store, resource) = self.parts();
        api.store().call_close(store, resource)
    }
}

/// [`Error::MemoryLimit`] when `err` is the memory limiter's refusal.
pub(crate) fn memory_error(err: &wasmtime::Error) -> Option<Error> {
    err.chain()
        .find_map(|e| e.downcast_ref::<MemoryLimitExceeded>())
        .map(|e| Error::MemoryLimit {
            limit: e.limit,
            desired: e.desired,
        })
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Run the guest's destructor when the instance can still be entered;
        // the wasmtime store frees everything else either way.
        if !self.flags.poisoned {
            let _ = self.resource.resource_drop(&mut self.store);
        }
    }
}
