//! Host bindings of the `kloset-store` world, generated from the one WIT file
//! the component is built from.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kloset-store",
});

pub use exports::kloset::store::store::Guest as StoreApi;
pub use exports::kloset::store::types::{
    BlobRef as WitBlobRef, ByteRange, Error as WitError, Resource as WitResource,
};
