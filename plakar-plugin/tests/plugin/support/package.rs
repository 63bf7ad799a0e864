//! Our package for the tests: built once per build from this build's
//! plugin binary and component with `plakar pkg create`, exactly as
//! scripts/package builds it from the release ones.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kloset_testkit::plakar::{pkg_create, Plakar};

/// The package version `pkg create` is given.
pub const PACKAGE_VERSION: &str = "v0.1.0";

/// `Plakar::with_package()`: a fresh plakar home with our package installed.
pub trait WithPackage {
    fn with_package() -> Plakar;
}

impl WithPackage for Plakar {
    fn with_package() -> Plakar {
        Plakar::with_ptar(package(), "kloset-oci")
    }
}

/// Our package, built from this build's plugin binary and component.
/// Kept in cargo's per-target temporary directory under a name made of the
/// inputs' digest: every test process of one build (each plakar test is a
/// process of its own, see `netns`) shares one file, and nothing is left in
/// /tmp (a debug package weighs about 60 MiB, its staging 220).
pub fn package() -> &'static Path {
    static PACKAGE: OnceLock<PathBuf> = OnceLock::new();
    PACKAGE.get_or_init(build_package)
}

/// The sources of the package, in the order they are staged and digested.
fn package_inputs() -> Vec<(&'static str, PathBuf)> {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("package");
    vec![
        ("manifest.yaml", sources.join("manifest.yaml")),
        ("options.schema.json", sources.join("options.schema.json")),
        (
            "kloset-oci-plakar",
            PathBuf::from(env!("CARGO_BIN_EXE_kloset-oci-plakar")),
        ),
        (
            "kloset_oci.wasm",
            kloset_testkit::component::component_file(),
        ),
    ]
}

fn build_package() -> PathBuf {
    use sha2::Digest;
    let inputs = package_inputs();
    let mut digest = sha2::Sha256::new();
    for (name, path) in &inputs {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("package input {}: {e}", path.display()));
        digest.update(name.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(&bytes);
    }
    let key = hex::encode(&digest.finalize()[..8]);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let store = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plakar-packages");
    std::fs::create_dir_all(&store).expect("the package directory");
    // plakar reads the package's name and version from the file's name:
    // the key names a folder.
    let ptar = store
        .join(&key)
        .join(format!("kloset-oci_{PACKAGE_VERSION}_linux_{arch}.ptar"));
    if ptar.is_file() {
        return ptar;
    }
    let stage = tempfile::Builder::new()
        .prefix("kloset-oci-package-")
        .tempdir_in(&store)
        .expect("a staging directory");
    let dir = stage.path();
    for (name, path) in &inputs {
        std::fs::copy(path, dir.join(name)).expect("package sources");
    }
    let made = pkg_create(dir, PACKAGE_VERSION);
    assert_eq!(
        made.file_name(),
        ptar.file_name(),
        "the package's file name"
    );
    // Atomic: a process building the same package at the same time
    // replaces it with identical contents; a reader sees a whole file.
    std::fs::create_dir_all(store.join(&key)).expect("the package's folder");
    std::fs::rename(&made, &ptar).expect("the package into place");
    // Packages of earlier builds go (best effort).
    if let Ok(entries) = std::fs::read_dir(&store) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.len() == key.len() && name != key.as_str() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    ptar
}
