//! Loading a component: compile (or fetch from the cache), link WASI and
//! wasi:http, and pre-instantiate once so instances are cheap.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use crate::error::one_line;
use crate::plugin::bindings::KlosetStorePre;
use crate::plugin::state::State;
use crate::{plugin::cache, Error};

/// Names the component to load when no path is given.
pub const COMPONENT_ENV: &str = "KLOSET_COMPONENT";

/// The file name of the component as cargo builds it.
const COMPONENT_FILE: &str = "kloset_oci.wasm";

/// A compiled, linked component, ready to instantiate. Clones share it.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    pre: KlosetStorePre<State>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads a component file.
    pub fn load(path: &Path) -> Result<Plugin, Error> {
        let wasm = std::fs::read(path).map_err(|source| Error::Load {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load_bytes(&wasm)
    }

    /// Loads a component from its bytes.
    pub fn load_bytes(wasm: &[u8]) -> Result<Plugin, Error> {
        let engine = Self::engine_for_components()?;
        let component = cache::load_or_compile(&engine, wasm)?;
        Self::link(engine, &component)
    }

    /// Loads a component from its bytes with its compilation cached in
    /// `cache_dir` instead of the default place; `None` compiles it afresh
    /// (the benchmark times both: cold and cached start-up).
    pub fn load_bytes_cached_in(wasm: &[u8], cache_dir: Option<&Path>) -> Result<Plugin, Error> {
        let engine = Self::engine_for_components()?;
        let component = cache::load_or_compile_in(&engine, wasm, cache_dir)?;
        Self::link(engine, &component)
    }

    /// The engine configuration every component of this host is compiled
    /// for (the bench compiles its own guests with it, to compare like with
    /// like).
    pub fn engine_for_components() -> Result<Engine, Error> {
        Engine::new(&Config::new()).map_err(|e| Error::Config(one_line(&e)))
    }

    fn link(engine: Engine, component: &wasmtime::component::Component) -> Result<Plugin, Error> {
        let mut linker = Linker::<State>::new(&engine);
        let instantiate = |e: wasmtime::Error| Error::Instantiate(one_line(&e));
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(instantiate)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(instantiate)?;
        let pre = linker.instantiate_pre(component).map_err(instantiate)?;
        let pre = KlosetStorePre::new(pre).map_err(instantiate)?;
        Ok(Plugin {
            inner: Arc::new(Inner { engine, pre }),
        })
    }

    /// `$KLOSET_COMPONENT`, else `kloset_oci.wasm` next to the running
    /// executable, else the workspace's release build of the component.
    pub fn default_path() -> PathBuf {
        if let Some(path) = std::env::var_os(COMPONENT_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let beside_exe = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(COMPONENT_FILE)))
            .filter(|path| path.is_file());
        beside_exe.unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/wasm32-wasip2/release/kloset_oci.wasm"
            ))
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn pre(&self) -> &KlosetStorePre<State> {
        &self.inner.pre
    }
}
