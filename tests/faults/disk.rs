//! A registry whose disk fills up (issue 21): the write that hits the
//! limit fails quoting the registry's own words, and reading goes on:
//! `mode` still says read-write (Kloset asks it before every read), `open`,
//! `list` and `get` of what was stored all work. The registry's storage is
//! a small tmpfs mounted over its root for the test's length (root only:
//! the test fails, never skips, without it).

use kloset_host::{Resource, StoreHandle};
use kloset_testkit::proxied::{bytes, listed, Mac};
use kloset_testkit::{unique_repo, Registry, RegistryOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted at a folder until dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs at {} failed: this test needs root",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mac(n: u8) -> Mac {
    let mut m = [n; 32];
    m[0] = 0xd1;
    Mac(m)
}

#[test]
fn a_full_disk_fails_the_write_in_its_own_words_and_reads_go_on() {
    let registry = Registry::start(RegistryOptions::default());
    let _disk = Tmpfs::mount(registry.root_dir(), "24m");
    let repo = unique_repo("full-disk");
    let config = registry.config(&repo);
    let store = StoreHandle::new(kloset_testkit::component::plugin(), &config).unwrap();
    store.create(b"config bytes").unwrap();
    let state = bytes(1, 100_000);
    store.put_bytes(Resource::State, &mac(1), &state).unwrap();

    // Packfiles until the disk is full.
    let mut refusal = None;
    for n in 2..20u8 {
        if let Err(e) = store.put_bytes(Resource::Packfile, &mac(n), &bytes(u64::from(n), 9 << 20))
        {
            refusal = Some(e.to_string());
            break;
        }
    }
    let refusal = refusal.expect("a 24 MiB disk took 18 packfiles of 9 MiB");
    println!("the write that filled the disk: {refusal}");
    assert!(
        refusal.contains("no space left on device"),
        "the registry's own words are quoted: {refusal}"
    );

    // Reading does not depend on the registry taking writes.
    let reader = StoreHandle::new(kloset_testkit::component::plugin(), &config).unwrap();
    assert_eq!(reader.open().unwrap(), b"config bytes");
    let mode = reader.mode().expect("mode while the disk is full");
    assert_ne!(mode & (1 << 2), 0, "readable: mode {mode}");
    assert_eq!(reader.get(Resource::State, &mac(1), None).unwrap(), state);
    assert!(listed(&reader, Resource::State).contains(&mac(1)));
}
