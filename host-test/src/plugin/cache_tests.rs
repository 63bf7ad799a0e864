use std::os::unix::fs::PermissionsExt;

use super::*;

/// A small component with code in it, so a damaged entry has code to break.
const WAT: &str = r#"(component
  (core module $m (func (export "f") (param i32) (result i32)
    local.get 0 i32.const 7 i32.mul))
  (core instance $i (instantiate $m))
  (func (export "f") (param "x" u32) (result u32)
    (canon lift (core func $i "f"))))"#;

fn wasm() -> Vec<u8> {
    wat::parse_str(WAT).unwrap()
}

fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn an_entry_round_trips_and_a_damaged_one_is_recompiled_not_run() {
    let engine = Engine::default();
    let dir = private_dir();
    load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
    let [entry] = entries(dir.path()).try_into().unwrap();
    let whole = fs::read(&entry).unwrap();
    assert!(verified(&whole).is_some());

    // Zero the second half (code among it), as a crash might; the first
    // half, with wasmtime's own header, stays as it was.
    let mut damaged = whole.clone();
    let middle = damaged.len() / 2;
    damaged[middle..].fill(0);
    assert_ne!(damaged, whole);
    fs::write(&entry, &damaged).unwrap();
    assert!(verified(&damaged).is_none());
    load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
    assert_eq!(
        fs::read(&entry).unwrap(),
        whole,
        "the entry was not rewritten"
    );

    // An entry of the old format (bare serialized bytes) is replaced too.
    fs::write(&entry, &whole[MAGIC.len() + 32..]).unwrap();
    load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
    assert_eq!(fs::read(&entry).unwrap(), whole);
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    let engine = Engine::default();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
    assert!(
        entries(dir.path()).is_empty(),
        "compiled code was cached there"
    );
}
