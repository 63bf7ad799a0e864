//! A store that talks to a real registry through the fault proxy, and the
//! helpers the fault tests share to check what it holds.

use super::component::plugin;
use super::faults::{splitmix64, FaultProxy};
use super::{unique_repo, Registry, RegistryOptions};
use kloset_host::{ContractError, Error, Resource, StoreHandle};
use std::collections::BTreeSet;

pub use kloset_host::Mac;

/// A registry, the proxy in front of it, and a store talking through it.
pub struct Proxied {
    // Field order: the store goes first, the registry last.
    pub store: StoreHandle,
    /// The store's repository.
    pub repository: String,
    pub proxy: FaultProxy,
    pub registry: Registry,
}

impl Proxied {
    /// A fresh registry and proxy; the store gets `extra` options too.
    pub fn start(name: &str, extra: &[(&str, &str)]) -> Proxied {
        let registry = Registry::start(RegistryOptions::default());
        let proxy = FaultProxy::start(&registry.authority());
        let repository = unique_repo(name);
        let store = store_via(&proxy, &repository, extra);
        Proxied {
            store,
            repository,
            proxy,
            registry,
        }
    }

    /// A new handle on the same repository (with nothing cached), with
    /// `extra` options.
    pub fn reopen(&self, extra: &[(&str, &str)]) -> StoreHandle {
        store_via(&self.proxy, &self.repository, extra)
    }

    /// Another store on the same proxy, in its own repository.
    pub fn another_store(&self, name: &str, extra: &[(&str, &str)]) -> StoreHandle {
        store_via(&self.proxy, &unique_repo(name), extra)
    }
}

/// A store at `oci://PROXY/repository`, plain HTTP, with `extra` options.
pub fn store_via(proxy: &FaultProxy, repository: &str, extra: &[(&str, &str)]) -> StoreHandle {
    let mut config = vec![
        (
            "location".to_string(),
            format!("oci://{}/{repository}", proxy.authority()),
        ),
        ("use_tls".to_string(), "false".to_string()),
    ];
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    StoreHandle::new(plugin(), &config).expect("valid configuration")
}

/// Reproducible bytes that differ from one seed to the next.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| splitmix64(seed.wrapping_mul(1_000_003) ^ i as u64) as u8)
        .collect()
}

/// The keys listed for `kind`, each once.
pub fn listed(store: &StoreHandle, kind: Resource) -> BTreeSet<Mac> {
    let keys = store.list(kind).expect("list");
    let set: BTreeSet<Mac> = keys.iter().copied().collect();
    assert_eq!(set.len(), keys.len(), "a key listed twice: {keys:?}");
    set
}

pub fn not_found(result: Result<Vec<u8>, Error>) {
    match result {
        Err(Error::Contract(ContractError::NotFound(_))) => {}
        other => panic!("expected not-found, got {:?}", other.map(|b| b.len())),
    }
}
