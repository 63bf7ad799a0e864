//! What the host and its users meet, against real registries and tools:
//! Basic and token auth (`auth`, and the token server itself in
//! `auth_harness`), TLS (`tls`), the egress allow-list (`egress`), Docker
//! logins and the CLI (`credentials`, and what `cli` shows of its input),
//! publishing and pulling the component
//! as an OCI artifact (`distribution`), the blob mappings kept across
//! processes and instances (`blob_map`), jco and wasmtime-py running the same
//! component (`other_hosts`), `kloset-host probe` (`probe`), the cargo-component build (`component_builds`),
//! the registry harness's own checks (`harness`) and the fuzz corpus
//! (`fuzz_corpus`).

use std::path::PathBuf;

/// The `kloset-host` CLI this build just made (tests/Cargo.toml's
/// `kloset-host-cli` target, host-test's own source).
fn cli_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kloset-host-cli"))
}

mod auth;
mod auth_harness;
mod blob_map;
mod cli;
mod component_builds;
mod credentials;
mod distribution;
mod egress;
mod fuzz_corpus;
mod harness;
mod other_hosts;
mod probe;
mod tls;
