use std::os::unix::fs::{MetadataExt, PermissionsExt};

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

/// Another component of the same shape, whose `f` multiplies by 9: the
/// code a planted entry would run instead.
fn planted_wasm() -> Vec<u8> {
    wat::parse_str(WAT.replace("i32.const 7", "i32.const 9")).unwrap()
}

/// `f(1)` of a component: 7 for [`wasm`], 9 for [`planted_wasm`].
fn call_f(engine: &Engine, component: &Component) -> u32 {
    let mut store = wasmtime::Store::new(engine, ());
    let instance = wasmtime::component::Linker::<()>::new(engine)
        .instantiate(&mut store, component)
        .unwrap();
    let f = instance
        .get_typed_func::<(u32,), (u32,)>(&mut store, "f")
        .unwrap();
    f.call(&mut store, (1,)).unwrap().0
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

/// An entry planted in a trusted directory: whole, digest and all, but
/// another component's code. Each way it could have got there makes it
/// untrustworthy (others may write it, another user owns it, it has a
/// second name, it is a link); each time it is ignored, never run, and
/// replaced by this user's own compilation.
#[test]
fn a_planted_entry_is_recompiled_and_replaced_never_run() {
    let engine = Engine::default();
    let dir = private_dir();
    load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
    let [entry] = entries(dir.path()).try_into().unwrap();
    let ours = fs::read(&entry).unwrap();
    let elsewhere = private_dir();
    load_or_compile_in(&engine, &planted_wasm(), Some(elsewhere.path())).unwrap();
    let [theirs] = entries(elsewhere.path()).try_into().unwrap();
    let planted = fs::read(&theirs).unwrap();
    assert!(verified(&planted).is_some(), "the planted entry is whole");

    // SAFETY: no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    type Plant = fn(&Path, &[u8]);
    let plants: [(&str, Plant); 4] = [
        ("mode 0666", |entry, bytes| {
            fs::write(entry, bytes).unwrap();
            fs::set_permissions(entry, fs::Permissions::from_mode(0o666)).unwrap();
        }),
        ("another user's", |entry, bytes| {
            fs::write(entry, bytes).unwrap();
            fs::set_permissions(entry, fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::chown(entry, Some(65534), None).unwrap();
        }),
        ("a second name", |entry, bytes| {
            let other = entry.with_extension("elsewhere");
            fs::write(&other, bytes).unwrap();
            fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
            fs::remove_file(entry).unwrap();
            fs::hard_link(&other, entry).unwrap();
        }),
        ("a link", |entry, bytes| {
            let other = entry.with_extension("target");
            fs::write(&other, bytes).unwrap();
            fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
            fs::remove_file(entry).unwrap();
            std::os::unix::fs::symlink(&other, entry).unwrap();
        }),
    ];
    for (how, plant) in plants {
        if how == "another user's" && !root {
            // Only root can give a file away.
            continue;
        }
        plant(&entry, &planted);
        let component = load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
        assert_eq!(
            call_f(&engine, &component),
            7,
            "{how}: the planted code ran"
        );
        let meta = fs::symlink_metadata(&entry).unwrap();
        assert!(meta.is_file(), "{how}");
        assert_eq!(meta.mode() & 0o777, 0o600, "{how}");
        assert_eq!(meta.nlink(), 1, "{how}");
        assert_eq!(fs::read(&entry).unwrap(), ours, "{how}: not replaced");
        // Replaced, it is loaded again as it should be.
        let again = load_or_compile_in(&engine, &wasm(), Some(dir.path())).unwrap();
        assert_eq!(call_f(&engine, &again), 7, "{how}");
    }
}
