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

mod address;
mod allow_list;
pub mod artifact;
mod bindings;
mod cache;
mod cache_dir;
mod config;
mod config_values;
mod convert;
mod credential_helper;
mod docker_config;
mod egress;
mod egress_client;
mod egress_error;
mod error;
mod handle;
mod http_wire;
mod instance;
mod mac;
mod native_transport;
mod password_file;
mod plugin;
mod pool;
mod reader;
mod registry_egress;
mod resource;
mod response_body;
mod rfc3339;
mod state;
mod store_error;
mod timeouts;
mod tls;

pub use allow_list::{Admission, Admitted, AllowList, BadAuthority, Refusal};
pub use cache::CACHE_ENV;
pub use config::{HOST_KEYS, TLS_CA_FILE};
pub use egress_client::EgressClient;
pub use error::HostError;
pub use handle::StoreHandle;
pub use mac::{mac_to_hex, parse_mac, Mac, MacParseError};
pub use native_transport::{NativeBody, NativeTransport, NativeUpload};
pub use plugin::{Plugin, COMPONENT_ENV};
pub use pool::MAX_INSTANCES;
pub use reader::{store_error_from_io, ObjectReader};
pub use resource::{Resource, UnknownResource};
pub use rfc3339::{rfc3339_now, rfc3339_utc};
pub use store_error::StoreError;

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
