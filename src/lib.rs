//! `kloset-oci`: a Kloset store kept in an OCI registry, built as a
//! `wasm32-wasip2` component exporting the `kloset:store` world (`wit/`).
//!
//! Everything that decides *what* to send and how to read the answer is plain
//! Rust over `http` types and compiles natively, so it is unit-tested with
//! `cargo test`. Only two modules touch WASI, and only on the wasi target:
//! `wasi_transport` (sends requests through wasi:http) and `component` (the
//! WIT export glue).
//!
//! The layers, each using only those above it (no module imports one
//! below it, and no two import each other):
//! 1. contract and registry types, parsers of registry input: `error`,
//!    `resource`, `digest`, `json`, `registry_error`, `range`, `link`,
//!    `origin`, `manifest`, `layout`;
//! 2. protocol rules without I/O: `retry` (the retry decision), `auth`
//!    (challenges, tokens, which credentials go where), `config` (the
//!    location grammar and the one option table);
//! 3. the wire: `transport` (the seam to the network), `failure` (why a
//!    request got no answer, in words, and whether to send it again: one
//!    table for every transport) and `client` (one
//!    exchange loop every request, retry and wait passes through, an
//!    endpoint per file over it);
//! 4. `repository`: the client, the tag layout and what an instance learnt;
//! 5. the store's operations over it: `store` (create, open, mode, list,
//!    delete, size), `put` (with `chunked` uploads), `get`;
//! 6. `probe`: what a registry does, found through the store's operations
//!    in a scratch place (run natively by the host);
//! 7. the edges, wasi only: `wasi_transport`, `component`.

// Scripts are the tests' fakes: the component must never carry them.
#[cfg(all(feature = "script", target_os = "wasi"))]
compile_error!("the `script` feature is for native tests only, never the component");

pub mod auth;
pub mod chunked;
pub mod client;
pub mod config;
pub mod digest;
pub mod error;
pub mod failure;
pub mod get;
pub mod json;
pub mod layout;
pub mod link;
pub mod manifest;
pub mod origin;
pub mod probe;
pub mod put;
pub mod range;
pub mod registry_error;
pub mod repository;
pub mod resource;
pub mod retry;
#[cfg(any(test, feature = "script"))]
pub mod script;
#[cfg(test)]
mod scripted;
pub mod spare_buffer;
pub mod store;
pub mod transport;

#[cfg(target_os = "wasi")]
mod component;
#[cfg(target_os = "wasi")]
mod wasi_transport;

pub use error::StoreError;
pub use resource::{Mac, Resource};
pub use store::OciStore;
