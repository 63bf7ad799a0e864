//! What is measured outside the store's workloads: sha256 speed inside a
//! component (the floor of a verified get; a put's bytes are hashed by the
//! host) and natively, and the component's start-up, cold (compiled) and
//! cached.

use std::path::Path;
use std::time::{Duration, Instant};

use kloset_host::{Plugin, StoreHandle};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Func, Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::params::Params;
use crate::BenchError;

const MIB: usize = 1 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct Sha256Speed {
    /// In the bench guest component (same crate, target and profile as the
    /// store component), MiB/s.
    pub guest_mib_per_s: f64,
    /// Natively in this host (sha2 with SHA-NI where the CPU has it), MiB/s.
    pub native_mib_per_s: f64,
    /// In the guest again, timed between the large puts and gets (one
    /// object's size after each pair), so it saw the load they saw: the
    /// floor the whole get's goal is judged against.
    pub guest_mib_per_s_beside_large: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    /// Compiling the component and linking it (no cache), median.
    pub cold_ms: f64,
    /// Reading the component, loading its cached compilation and linking
    /// it, median.
    pub cached_load_ms: f64,
    /// Instantiating it and constructing a store (no request is made), median.
    pub instantiate_ms: f64,
    /// `cached_load_ms` + `instantiate_ms`: from nothing to a usable store.
    pub cached_ms: f64,
}

fn error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

struct GuestState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// The sha256 bench component, instantiated once.
pub struct GuestSha256 {
    store: Store<GuestState>,
    /// `sha256-repeated`; typed at each call, as its argument borrows.
    hash: Func,
    data: Vec<u8>,
}

impl GuestSha256 {
    pub fn load(guest: &Path) -> Result<Self, BenchError> {
        let engine = Plugin::engine_for_components().map_err(error)?;
        let component = Component::from_file(&engine, guest).map_err(|e| {
            BenchError::Setup(format!(
                "cannot load the sha256 bench component {}: {e} (build it: cargo build \
                 --target wasm32-wasip2 --release -p kloset-bench-sha256)",
                guest.display()
            ))
        })?;
        let mut linker = Linker::<GuestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(error)?;
        let state = GuestState {
            ctx: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&engine, state);
        let instance = linker.instantiate(&mut store, &component).map_err(error)?;
        let hash = instance
            .get_func(&mut store, "sha256-repeated")
            .ok_or_else(|| BenchError::Setup("no sha256-repeated export".into()))?;
        let data = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
        let mut guest = GuestSha256 { store, hash, data };
        // The first call touches fresh guest memory: not hashing.
        guest.hash(1)?;
        Ok(guest)
    }

    /// Hashes `mib` MiB in 1 MiB updates; returns the time and the digest.
    pub fn hash(&mut self, mib: u32) -> Result<(Duration, Vec<u8>), BenchError> {
        let hash = self
            .hash
            .typed::<(&[u8], u32), (Vec<u8>,)>(&self.store)
            .map_err(error)?;
        let start = Instant::now();
        let (digest,) = hash
            .call(&mut self.store, (&self.data, mib))
            .map_err(error)?;
        Ok((start.elapsed(), digest))
    }

    /// The same, natively.
    pub fn hash_natively(&self, mib: u32) -> (Duration, Vec<u8>) {
        let start = Instant::now();
        let mut hasher = Sha256::new();
        for _ in 0..mib {
            hasher.update(&self.data);
        }
        let digest = hasher.finalize().to_vec();
        (start.elapsed(), digest)
    }
}

/// Hashes `sha256_mib` MiB in 1 MiB updates, in the guest and natively;
/// best of `sha256_runs`. Both digests are checked against each other.
pub fn sha256_speed(guest: &mut GuestSha256, params: &Params) -> Result<Sha256Speed, BenchError> {
    let mib = params.sha256_mib;
    let (mut guest_best, mut native_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..params.sha256_runs {
        let (took, guest_digest) = guest.hash(mib)?;
        guest_best = guest_best.min(took);
        let (took, native_digest) = guest.hash_natively(mib);
        native_best = native_best.min(took);
        if guest_digest != native_digest {
            return Err(BenchError::Check(
                "the guest's sha256 differs from the native one".into(),
            ));
        }
    }
    Ok(Sha256Speed {
        guest_mib_per_s: mib as f64 / guest_best.as_secs_f64(),
        native_mib_per_s: mib as f64 / native_best.as_secs_f64(),
        guest_mib_per_s_beside_large: None,
    })
}

/// Cold start-up: compile + link. Cached: read + load the compilation from
/// a cache directory + link, then instantiate and construct a store.
pub fn startup(
    component: &Path,
    config: &[(String, String)],
    params: &Params,
) -> Result<Startup, BenchError> {
    let read = || {
        std::fs::read(component)
            .map_err(|e| BenchError::Setup(format!("cannot read {}: {e}", component.display())))
    };
    let wasm = read()?;
    let mut cold = Vec::new();
    for _ in 0..params.cold_starts {
        let start = Instant::now();
        Plugin::load_bytes_cached_in(&wasm, None).map_err(error)?;
        cold.push(start.elapsed());
    }

    let cache = tempfile::tempdir().map_err(error)?;
    Plugin::load_bytes_cached_in(&wasm, Some(cache.path())).map_err(error)?;
    let (mut loads, mut instances, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..params.cached_starts {
        let start = Instant::now();
        let plugin = Plugin::load_bytes_cached_in(&read()?, Some(cache.path())).map_err(error)?;
        let loaded = start.elapsed();
        let handle = StoreHandle::new(&plugin, config).map_err(error)?;
        let total = start.elapsed();
        if handle.requests() != 0 {
            return Err(BenchError::Check(
                "constructing a store sent requests".into(),
            ));
        }
        loads.push(loaded);
        instances.push(total - loaded);
        totals.push(total);
    }
    Ok(Startup {
        cold_ms: median(cold),
        cached_load_ms: median(loads),
        instantiate_ms: median(instances),
        cached_ms: median(totals),
    })
}
