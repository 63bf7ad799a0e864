//! Loading the component and running it: compile (and the on-disk cache of
//! compiled code), the per-instance state wasmtime needs, one instance with
//! its `store` resource, and the pool a handle lends instances from.

pub(crate) mod bindings;
pub(crate) mod blob_map;
pub(crate) mod cache;
pub(crate) mod cache_dir;
pub(crate) mod convert;
pub(crate) mod instance;
mod load;
pub(crate) mod pool;
pub(crate) mod state;

pub use load::{Plugin, COMPONENT_ENV};
