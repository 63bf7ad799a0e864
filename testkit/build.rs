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
    let workspace = manifest_dir
        .parent()
        .expect("testkit/ sits in the workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = out_dir.join("components");

    // What the components are built from; cargo reruns this script when any
    // of these files changes. Every file of src/ is named but
    // src/bindings.rs, which `cargo component build` writes there (and the
    // build ignores): naming src/ whole would rebuild the testkit, and
    // relink every test, after each run of tests/host/component_builds.rs.
    // A module added to src/ is named in a file already watched.
    let mut inputs = vec![
        workspace.join("wit"),
        workspace.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
    ];
    inputs.push(workspace.join("bench/sha256-guest"));
    list_files(&workspace.join("src"), &mut inputs);
    inputs.retain(|path| !path.ends_with("src/bindings.rs"));
    for input in inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .args(["-p", "kloset-oci", "-p", "kloset-bench-sha256"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and settings are for the host, not for wasm:
    // the nested build takes the workspace's own profile and flags. Those
    // kept (the toolchain, the registry, the network) do not change what is
    // built.
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        let outer_setting = ["CARGO_PROFILE_", "CARGO_BUILD_", "CARGO_TARGET_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || [
                "CARGO_ENCODED_RUSTFLAGS",
                "RUSTFLAGS",
                "RUSTDOCFLAGS",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
                "CARGO_INCREMENTAL",
            ]
            .contains(&&*name);
        if outer_setting {
            command.env_remove(&*name);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the components: {e}"));
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!(
            "building the components for {TARGET} failed ({}); if the target is missing: \
             rustup target add {TARGET} (scripts/setup does it)\n{log}",
            output.status
        );
    }
    // cargo shows a build script's output only when it fails: pass the
    // nested build's warnings on (code compiled only for wasm, such as the
    // wasi edge, is compiled nowhere else in a test build).
    for line in log.lines() {
        if line.starts_with("warning:") && !line.contains("generated") {
            println!("cargo:warning=wasm build: {line}");
        }
    }

    let built = target_dir.join(TARGET).join("release");
    export("KLOSET_TESTKIT_COMPONENT", &built.join("kloset_oci.wasm"));
    export(
        "KLOSET_TESTKIT_SHA256_GUEST",
        &built.join("kloset_bench_sha256.wasm"),
    );
}

fn export(name: &str, path: &Path) {
    assert!(path.is_file(), "the build made no {}", path.display());
    println!("cargo:rustc-env={name}={}", path.display());
}

/// Every file under `dir`, recursively.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            list_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
