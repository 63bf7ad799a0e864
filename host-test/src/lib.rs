//! A wasmtime host for the `kloset-store` component (WIT world
//! `kloset:store/kloset-store`): load it once ([`Plugin`]), configure a store
//! ([`StoreHandle`]), call it from as many threads as needed.
//!
//! Design decisions:
//! - Each handle keeps a pool of component instances: a component instance
//!   is single-threaded, while the Kloset engine puts and reads in parallel.
//! - The component's HTTP goes through the host's own `send_request` hook
//!   (the `egress` module): one pooled client per handle (wasmtime's default opens a
//!   connection per request), extra CA certificates, an allow-list that
//!   admits the registry, and its token realm and redirect targets only for
//!   what they were named for, and timeouts so a stalled registry fails.
//! - Compiled code is cached on disk, keyed by the wasm's digest: a debug
//!   host compiles the component in seconds, loads the cache in milliseconds.

// The rooms of the host; the CLI (main.rs, commands.rs) sits on top.
pub mod artifact;
mod config;
mod credentials;
pub mod echo;
mod egress;
mod error;
mod local_file;
mod plugin;
pub mod probe;
mod rfc3339;
mod store;

pub use config::{HOST_KEYS, TLS_CA_FILE};
pub use egress::allow_list::{Admission, Admitted, AllowList, BadAuthority, Refusal};
pub use egress::client::EgressClient;
pub use egress::native_transport::{NativeBody, NativeTransport, NativeUpload};
pub use error::HostError;
pub use kloset_oci::config::options::{
    Consumer as OptionConsumer, Kind as OptionKind, OptionSpec, OPTIONS,
};
pub use kloset_oci::resource::{Mac, MacLength, MacParseError, Resource, UnknownResource};
pub use plugin::cache::CACHE_ENV;
pub use plugin::pool::MAX_INSTANCES;
pub use plugin::{Plugin, COMPONENT_ENV};
pub use rfc3339::{rfc3339_now, rfc3339_utc};
pub use store::error::{ContractError, StoreError};
pub use store::handle::StoreHandle;
pub use store::reader::{store_error_from_io, ObjectReader};

#[cfg(test)]
mod tests {
    use super::*;

    /// The handle is shared between threads; a reader may move to another.
    #[test]
    fn thread_safety_of_the_public_types() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<Plugin>();
        shared::<StoreHandle>();
        movable::<ObjectReader>();
        shared::<StoreError>();
    }
}
