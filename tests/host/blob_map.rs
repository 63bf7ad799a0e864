//! What the host keeps of where objects' bytes are: across processes (a
//! new `StoreHandle` on the same `blob_map` directory is what the next
//! plakar command gets), so a second restore sends no manifest GET for the
//! packfiles it has seen (Docker Hub counts each as a pull); a wrong
//! mapping on disk still reads the right bytes; and across the instances
//! of one handle, so a packfile deleted through one is gone through every
//! other, and readers of one packfile at once on several instances ask its
//! manifest once between them. Real distribution 2.8 registries, requests
//! counted at the host's egress.

use std::io::Read;
use std::path::Path;
use std::sync::Barrier;

use kloset_host::{Mac, Resource, StoreHandle};
use kloset_testkit::component::plugin;
use kloset_testkit::requests::requests_of;
use kloset_testkit::{unique_repo, Registry, RegistryOptions};
use sha2::{Digest, Sha256};

/// Packfiles a restore reads in these tests.
const PACKFILES: u8 = 12;

fn registry() -> Registry {
    Registry::start(RegistryOptions {
        delete_enabled: true,
        ..RegistryOptions::default()
    })
}

fn handle(registry: &Registry, repo: &str, extra: &[(&str, &str)]) -> StoreHandle {
    let mut config = registry.config(repo);
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    StoreHandle::new(plugin(), &config).expect("configure the store")
}

fn mac(n: u8) -> Mac {
    Mac(Sha256::digest([n]).into())
}

/// A packfile's bytes: distinct per `n`, a few blocks long.
fn packfile(n: u8) -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ n)
        .collect()
}

/// A repository holding [`PACKFILES`] packfiles, written by a handle that
/// keeps no mappings (so only reads teach the maps below).
fn filled(registry: &Registry, repo: &str) {
    let writer = handle(registry, repo, &[("blob_map", "off")]);
    writer.create(b"kloset config").unwrap();
    for n in 0..PACKFILES {
        writer
            .put_bytes(Resource::Packfile, &mac(n), &packfile(n))
            .unwrap();
    }
    writer.close().unwrap();
}

/// What plakar's restore does through the plugin: open, then each
/// packfile's size and a range of it, then one whole. Checks every byte;
/// returns the manifest GETs of packfiles it sent.
fn restore(store: &StoreHandle) -> usize {
    store.open().unwrap();
    let mut manifest_gets = 0;
    for n in 0..PACKFILES {
        let expected = packfile(n);
        let sent = requests_of(store, || {
            let range = store
                .read_range(Resource::Packfile, &mac(n), 1000, 5000)
                .unwrap();
            assert_eq!(range, expected[1000..6000], "packfile {n}'s range");
            let whole = store.get(Resource::Packfile, &mac(n), None).unwrap();
            assert!(whole == expected, "packfile {n} read back different bytes");
        });
        manifest_gets += packfile_manifest_gets(&sent.exchanges);
    }
    store.close().unwrap();
    manifest_gets
}

#[test]
fn a_second_restore_sends_no_manifest_get_for_packfiles_it_has_seen() {
    let registry = registry();
    let repo = unique_repo("blob-map");
    filled(&registry, &repo);
    let maps = tempfile::tempdir().unwrap();
    let dir = maps.path().join("maps").display().to_string();

    let without = restore(&handle(&registry, &repo, &[("blob_map", "off")]));
    assert_eq!(
        without, PACKFILES as usize,
        "without a map: one per packfile"
    );

    // Each handle is what one plakar command gets: its own instances, the
    // map on disk between them.
    let first = restore(&handle(&registry, &repo, &[("blob_map", &dir)]));
    assert_eq!(first, PACKFILES as usize, "the first restore learns them");
    let second = restore(&handle(&registry, &repo, &[("blob_map", &dir)]));
    assert_eq!(second, 0, "the second restore knows every packfile");
    println!(
        "manifest GETs per restore of {PACKFILES} packfiles: {without} without the map, \
         {first} on the first restore with it, {second} on the second"
    );
    // The map is private, as the compilation cache is.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_map_naming_missing_blobs_still_reads_the_right_bytes_and_mends() {
    let registry = registry();
    let repo = unique_repo("blob-map-stale");
    filled(&registry, &repo);
    let maps = tempfile::tempdir().unwrap();
    let dir = maps.path().join("maps");
    let option = dir.display().to_string();
    assert_eq!(
        restore(&handle(&registry, &repo, &[("blob_map", &option)])),
        PACKFILES as usize
    );

    // Every entry now names a blob the registry never held.
    point_every_entry_elsewhere(&dir);
    let stale = restore(&handle(&registry, &repo, &[("blob_map", &option)]));
    assert_eq!(
        stale, PACKFILES as usize,
        "each wrong entry costs its manifest"
    );
    // ... and is mended for the next command.
    let mended = restore(&handle(&registry, &repo, &[("blob_map", &option)]));
    assert_eq!(mended, 0);
}

/// Rewrites the one map file in `dir` so every entry's digest is another
/// (the file's format: a magic line, 73-byte entries of kind, MAC, sha256
/// and size, then the sha256 of all before).
fn point_every_entry_elsewhere(dir: &Path) {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    assert_eq!(files.len(), 1, "one repository, one map: {files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let magic = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let body = bytes.len() - 32;
    assert_eq!((body - magic) % 73, 0);
    for entry in (magic..body).step_by(73) {
        for b in &mut bytes[entry + 33..entry + 65] {
            *b ^= 0x5a;
        }
    }
    let sum = Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    std::fs::write(&files[0], &bytes).unwrap();
}

#[test]
fn a_packfile_deleted_through_one_instance_is_gone_through_every_other() {
    let registry = registry();
    let repo = unique_repo("blob-forget");
    let store = handle(
        &registry,
        &repo,
        &[("blob_map", "off"), ("max_instances", "2")],
    );
    store.create(b"kloset config").unwrap();
    let (p, q) = (mac(1), mac(2));
    store
        .put_bytes(Resource::Packfile, &p, &packfile(1))
        .unwrap();
    store
        .put_bytes(Resource::Packfile, &q, &packfile(2))
        .unwrap();

    // Both instances learn where p is: a reader holds one while the other
    // reads. Pooled instances come back last in, first out.
    let mut held = store.get_reader(Resource::Packfile, &p, None).unwrap();
    assert_eq!(
        store.get(Resource::Packfile, &p, None).unwrap(),
        packfile(1)
    );
    std::io::copy(&mut held, &mut std::io::sink()).unwrap();
    drop(held);
    assert_eq!(store.instances(), (2, 2), "two instances");

    // The delete runs on the other instance while this one is held...
    let held = store.get_reader(Resource::Packfile, &q, None).unwrap();
    store.delete(Resource::Packfile, &p).unwrap();
    drop(held);
    // ... and this one, which read p before, must not serve it now (the
    // registry keeps the blob until garbage collection).
    let got = store.get(Resource::Packfile, &p, None);
    assert!(
        got.as_ref().is_err_and(|e| e.is_not_found()),
        "a deleted packfile read through another instance: {:?}",
        got.map(|b| b.len())
    );
    assert!(store
        .object_size(Resource::Packfile, &p)
        .is_err_and(|e| e.is_not_found()));
    assert_eq!(
        store.get(Resource::Packfile, &q, None).unwrap(),
        packfile(2)
    );
}

/// Manifest GETs of packfiles among `exchanges`.
fn packfile_manifest_gets(exchanges: &[String]) -> usize {
    exchanges
        .iter()
        .filter(|e| e.starts_with("GET ") && e.contains("/manifests/packfile-"))
        .count()
}

/// Readers at once in the tests below: a handle's instances are lent to
/// up to 64 (plakar's engine reads that many ranges in parallel while
/// browsing); eight make the point.
const AT_ONCE: usize = 8;

/// A packfile of [`AT_ONCE`] 1 MiB blocks and a bit, written by a handle
/// that keeps no mappings, so the handle under test knows nothing of it.
fn one_big_packfile(registry: &Registry, repo: &str) -> Vec<u8> {
    let data: Vec<u8> = (0..(AT_ONCE as u32) << 20 | 777)
        .map(|i| (i.wrapping_mul(131) >> 3) as u8)
        .collect();
    let writer = handle(registry, repo, &[("blob_map", "off")]);
    writer.create(b"kloset config").unwrap();
    writer
        .put_bytes(Resource::Packfile, &mac(1), &data)
        .unwrap();
    writer.close().unwrap();
    data
}

/// Readers that open one packfile at the same moment, each on an instance
/// of its own (each holds its reader until all have opened theirs), ask
/// its manifest once between them: the first learns where the blob is,
/// the others wait for that and are taught it. Before, each instance
/// asked for itself.
#[test]
fn readers_opening_one_packfile_at_once_on_several_instances_ask_its_manifest_once() {
    let registry = registry();
    let repo = unique_repo("blob-map-at-once");
    let data = one_big_packfile(&registry, &repo);
    let store = handle(
        &registry,
        &repo,
        &[("blob_map", "off"), ("max_instances", &AT_ONCE.to_string())],
    );
    store.open().unwrap();
    let (start, opened) = (Barrier::new(AT_ONCE), Barrier::new(AT_ONCE));
    let counted = Barrier::new(AT_ONCE);
    let sent = requests_of(&store, || {
        std::thread::scope(|scope| {
            for i in 0..AT_ONCE {
                let (store, data, start, opened, counted) =
                    (&store, &data, &start, &opened, &counted);
                scope.spawn(move || {
                    let at = (i as u64) << 20;
                    start.wait();
                    let mut reader = store
                        .get_reader(Resource::Packfile, &mac(1), Some((at, 1000)))
                        .unwrap();
                    // Every reader holds its instance until all are open,
                    // and counted: coming back, the pool keeps only a few
                    // idle, so the count after says nothing.
                    opened.wait();
                    if i == 0 {
                        assert_eq!(
                            store.instances().0,
                            AT_ONCE,
                            "each reader had an instance of its own"
                        );
                    }
                    counted.wait();
                    let mut got = Vec::new();
                    reader.read_to_end(&mut got).unwrap();
                    assert!(got == data[at as usize..at as usize + 1000], "reader {i}");
                });
            }
        });
    });
    let manifests = packfile_manifest_gets(&sent.exchanges);
    println!("{AT_ONCE} readers at once on {AT_ONCE} instances: {manifests} manifest GETs; {sent}");
    assert_eq!(manifests, 1, "{sent}");
}

/// plakar's case: ranged reads of one packfile, all at once, on a handle
/// that has not seen it. Its size and blob are learnt once (one manifest
/// GET), however many instances the reads land on.
#[test]
fn ranged_reads_of_one_packfile_at_once_ask_its_manifest_once() {
    let registry = registry();
    let repo = unique_repo("blob-map-ranges");
    let data = one_big_packfile(&registry, &repo);
    let store = handle(
        &registry,
        &repo,
        &[("blob_map", "off"), ("max_instances", &AT_ONCE.to_string())],
    );
    store.open().unwrap();
    let start = Barrier::new(AT_ONCE);
    let sent = requests_of(&store, || {
        std::thread::scope(|scope| {
            for i in 0..AT_ONCE {
                let (store, data, start) = (&store, &data, &start);
                scope.spawn(move || {
                    // One range in each block, so every read fetches.
                    let at = ((i as u64) << 20) + 4096;
                    start.wait();
                    let got = store
                        .read_range(Resource::Packfile, &mac(1), at, 5000)
                        .unwrap();
                    assert!(got == data[at as usize..at as usize + 5000], "read {i}");
                });
            }
        });
    });
    let manifests = packfile_manifest_gets(&sent.exchanges);
    let instances = store.instances().0;
    println!(
        "{AT_ONCE} ranged reads at once, {instances} instances: {manifests} manifest GETs; {sent}"
    );
    // On one instance the reads would share what it learnt anyway: the
    // count below would prove nothing.
    assert!(instances >= 2, "the reads all ran on one instance; {sent}");
    assert_eq!(manifests, 1, "{sent}");
}
