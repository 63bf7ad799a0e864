//! The component under test: built by this crate's build script from the
//! workspace's sources (`build.rs`), so a test never loads a file left from
//! an earlier build or put there by hand; loaded once per process.

use kloset_host::Plugin;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The store component's file, as the build script made it.
pub fn component_file() -> PathBuf {
    PathBuf::from(env!("KLOSET_TESTKIT_COMPONENT"))
}

/// The bench's sha256 guest component, as the build script made it.
pub fn sha256_guest_file() -> PathBuf {
    PathBuf::from(env!("KLOSET_TESTKIT_SHA256_GUEST"))
}

/// The store component, compiled once per process.
pub fn plugin() -> &'static Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let path = component_file();
        Plugin::load(&path)
            .unwrap_or_else(|e| panic!("cannot load the component at {}: {e}", path.display()))
    })
}
