//! Our package for the tests: built once per test process from this
//! build's plugin binary and component with `plakar pkg create`, exactly
//! as scripts/package builds it from the release ones.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tempfile::TempDir;

use super::plakar::{pkg_create, Plakar};

/// The package version `pkg create` is given.
pub const PACKAGE_VERSION: &str = "v0.1.0";

impl Plakar {
    /// A fresh home with our package installed.
    pub fn with_package() -> Plakar {
        Plakar::with_ptar(package(), "kloset-oci")
    }
}

/// Our package, built on first use.
pub fn package() -> &'static Path {
    static PACKAGE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &PACKAGE.get_or_init(build_package).1
}

fn build_package() -> (TempDir, PathBuf) {
    let stage = tempfile::Builder::new()
        .prefix("kloset-oci-package-")
        .tempdir()
        .expect("a staging directory");
    let dir = stage.path();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("package");
    for file in ["manifest.yaml", "options.schema.json"] {
        std::fs::copy(sources.join(file), dir.join(file)).expect("package sources");
    }
    std::fs::copy(
        env!("CARGO_BIN_EXE_kloset-oci-plakar"),
        dir.join("kloset-oci-plakar"),
    )
    .expect("the plugin binary");
    std::fs::copy(
        crate::common::component::component_file(),
        dir.join("kloset_oci.wasm"),
    )
    .expect("the component");
    let ptar = pkg_create(dir, PACKAGE_VERSION);
    (stage, ptar)
}
