//! Builds the components the tests and the bench load, so that none of them
//! can run a stale or substituted file: the store component (`kloset-oci`)
//! and the bench's sha256 guest, both `wasm32-wasip2` release builds (the
//! workspace's release profile, as users get them), compiled by a nested
//! cargo into a target directory of this build script's own. Their paths
//! reach the crate as `KLOSET_TESTKIT_COMPONENT` and
//! `KLOSET_TESTKIT_SHA256_GUEST`.
//!
//! The nested cargo gets a target directory apart from the outer one: an
//! outer `cargo test --release` holds the lock of `target/release`, which a
//! nested build in the same directory would wait for forever (wasmtime's
//! test-programs build script does the same, for the same reason).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("testkit/ sits in the workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = out_dir.join("components");

    // What the components are built from; cargo reruns this script when any
    // file under these paths changes (directories are scanned recursively).
    for input in ["src", "wit", "Cargo.toml", "Cargo.lock", "bench/sha256-guest"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .args(["-p", "kloset-oci", "-p", "kloset-bench-sha256"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and settings are for the host, not for wasm;
    // the nested build takes the workspace's own.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_OPT_LEVEL",
        "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PROFILE_RELEASE_STRIP",
        "CARGO_PROFILE_RELEASE_INCREMENTAL",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the components: {e}"));
    assert!(
        status.success(),
        "building the components for {TARGET} failed ({status}); is the target installed? (scripts/setup installs it)"
    );

    let built = target_dir.join(TARGET).join("release");
    export("KLOSET_TESTKIT_COMPONENT", &built.join("kloset_oci.wasm"));
    export("KLOSET_TESTKIT_SHA256_GUEST", &built.join("kloset_bench_sha256.wasm"));
}

fn export(name: &str, path: &Path) {
    assert!(path.is_file(), "the build made no {}", path.display());
    println!("cargo:rustc-env={name}={}", path.display());
}
