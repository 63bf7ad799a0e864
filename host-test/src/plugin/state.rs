//! The per-instance host state: WASI, wasi:http and the memory limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use kloset_oci::config::CREDENTIAL_ENV;

use crate::egress::Egress;

/// Set to anything to let the component's stderr (panic messages, debug
/// prints) through; off by default so the CLI keeps its one-line errors.
const GUEST_STDERR_ENV: &str = "KLOSET_HOST_GUEST_STDERR";

/// What one component instance's `Store` holds.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    pub(crate) memory: MemoryLimit,
}

impl State {
    pub fn new(egress: Egress, peak: Arc<AtomicUsize>, max_memory: u64) -> Self {
        // No preopens, no sockets: the component's only way out is
        // wasi:http through the egress hook.
        let mut wasi = WasiCtx::builder();
        if std::env::var_os(GUEST_STDERR_ENV).is_some() {
            wasi.inherit_stderr();
        }
        // The component reads credentials from these when the store
        // configuration has none; nothing else of the host's environment
        // is visible to it.
        for name in CREDENTIAL_ENV {
            if let Ok(value) = std::env::var(name) {
                wasi.env(name, value);
            }
        }
        State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress,
            memory: MemoryLimit {
                peak,
                limit: max_memory,
                size: 0,
            },
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// Refuses linear memory past `max_guest_memory`, and records the largest
/// any instance of a handle asked for (tests check that streaming keeps
/// the guest's memory bounded).
pub struct MemoryLimit {
    peak: Arc<AtomicUsize>,
    limit: u64,
    /// This instance's linear memory now: it never shrinks, so the pool
    /// weighs it before keeping the instance idle.
    pub(crate) size: usize,
}

/// The trap of an instance that asked for more memory than its limit:
/// wasmtime makes the `memory.grow` (or the instantiation) fail with it,
/// and the pool finds it in the call's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("linear memory of {desired} bytes asked for, past the limit of {limit}")]
pub struct MemoryLimitExceeded {
    pub limit: u64,
    pub desired: u64,
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak.fetch_max(desired, Ordering::Relaxed);
        if desired as u64 > self.limit {
            // An error rather than `Ok(false)`: a refused grow would make
            // the guest's allocator abort with a bare `unreachable`, while
            // this names the limit.
            return Err(MemoryLimitExceeded {
                limit: self.limit,
                desired: desired as u64,
            }
            .into());
        }
        self.size = desired;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
