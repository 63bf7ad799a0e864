//! The component under test, loaded once per test binary.

use kloset_host::Plugin;
use std::sync::OnceLock;

/// The built component's file, or a panic saying how to build it.
pub fn component_file() -> std::path::PathBuf {
    let path = Plugin::default_path();
    assert!(
        path.is_file(),
        "no component at {}\nbuild it first: cargo build --target wasm32-wasip2 --release",
        path.display()
    );
    path
}

/// The built component, compiled once. Fails loudly when it was not built:
/// the README's test command builds it first.
pub fn plugin() -> &'static Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let path = Plugin::default_path();
        Plugin::load(&path).unwrap_or_else(|e| {
            panic!(
                "cannot load the component at {}: {e}\n\
                 build it first: cargo build --target wasm32-wasip2 --release",
                path.display()
            )
        })
    })
}

/// The `kloset-host` binary of this build: tests run from
/// `<target>/debug/deps/`, the binary is `<target>/debug/kloset-host`.
pub fn cli_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let debug = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("tests run from <target>/debug/deps/");
    let bin = debug.join(format!("kloset-host{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it with cargo build -p kloset-host",
        bin.display()
    );
    bin
}
