//! Copying a whole repository to another registry with the standard tools,
//! then reading everything back through a store on the copy, byte for byte.
//!
//! A copy is a repository like any other: the tags carry the objects, the
//! config (with its deletion mode) and, on a registry without DELETE, the
//! tombstones and markers, so a deleted object stays deleted in the copy.

use crate::kit::Pattern;
use crate::registries::repo::{handle, key, put, raw_tags, v3, Fill, Filled, HostFill, Snapshot};
use kloset_host::{ContractError, Error, Resource};
use kloset_testkit::clients::{Client, Tool};
use kloset_testkit::{unique_repo, Registry};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Copies `filled` from `source` to a fresh repository of `target` with
/// `tool`; returns the copy's repository name.
fn copy(tool: Tool, source: &Registry, repo: &str, target: &Registry) -> String {
    let (tags, _) = raw_tags(source, repo);
    Client::new(tool).copy_whole(source, repo, target, &tags)
}

/// The copy reads exactly as the source; the deleted keys stay deleted.
fn assert_faithful(filled: &Filled, target: &Registry, copied: &str, what: &str) {
    let store = handle(target, copied);
    let snapshot = Snapshot::read(&store).unwrap_or_else(|e| panic!("{what}: read the copy: {e}"));
    snapshot.assert_same(&filled.expected, what);
    for (kind, k) in &filled.deleted {
        assert!(
            matches!(
                store.get(*kind, k, None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ),
            "{what}: {kind} {} was deleted in the source and stays deleted",
            hex::encode(k)
        );
    }
    // Ranged reads of the large objects, on the copy, match the source's.
    for ((kind, k), seen) in filled
        .expected
        .objects
        .iter()
        .filter(|(_, s)| s.len > 8 << 20)
    {
        let at = seen.len / 3;
        let part = store.get(*kind, k, Some((at, 1 << 20))).unwrap();
        let mut want = vec![0u8; 1 << 20];
        let mut skip = vec![0u8; at as usize];
        let mut source = Pattern::new(seen.len, seed_of(filled, *kind, k));
        std::io::Read::read_exact(&mut source, &mut skip).unwrap();
        std::io::Read::read_exact(&mut source, &mut want).unwrap();
        assert!(
            part == want,
            "{what}: a ranged read of {kind} {}",
            hex::encode(k)
        );
    }
}

/// The seed [`HostFill`] wrote `k` with: its index.
fn seed_of(_filled: &Filled, _kind: Resource, k: &kloset_host::Mac) -> u64 {
    (0..10_000)
        .find(|&i| key(i) == *k)
        .expect("a key of the fill")
}

fn copies_byte_for_byte(tool: Tool) {
    copies_byte_for_byte_to(tool, v3(true));
}

fn copies_byte_for_byte_to(tool: Tool, target: Registry) {
    let source = v3(true);
    let filled = HostFill::standard().fill(&source);
    let copied = copy(tool, &source, &filled.repo, &target);
    let what = format!("{} to {}", tool.name(), target.implementation().name());
    assert_faithful(&filled, &target, &copied, &what);
}

/// Between implementations: distribution v3 to ferro-oci-server.
#[test]
fn regctl_repo_copy_to_ferro_copies_byte_for_byte() {
    copies_byte_for_byte_to(
        Tool::Regctl,
        Registry::start(kloset_testkit::RegistryOptions {
            implementation: kloset_testkit::Implementation::Ferro,
            ..Default::default()
        }),
    );
}

#[test]
fn regctl_repo_copy_copies_byte_for_byte() {
    copies_byte_for_byte(Tool::Regctl);
}

#[test]
fn crane_copy_all_tags_copies_byte_for_byte() {
    copies_byte_for_byte(Tool::Crane);
}

#[test]
fn skopeo_sync_copies_byte_for_byte() {
    copies_byte_for_byte(Tool::Skopeo);
}

#[test]
fn oras_cp_per_tag_copies_byte_for_byte() {
    copies_byte_for_byte(Tool::Oras);
}

/// From a registry without DELETE: the tombstones and markers travel with the
/// objects, so deleted keys stay deleted in the copy, a key put again after
/// its delete reads its new bytes, and the copy keeps working as a store
/// (its config says `tombstone`, whatever the target registry allows).
#[test]
fn a_copy_from_a_registry_without_delete_keeps_deletions() {
    let source = v3(false);
    let mut filled = HostFill::small().fill(&source);
    // Put one deleted key again: a `.r` marker, then the new object.
    let (kind, revived) = filled.deleted.pop().unwrap();
    let store = handle(&source, &filled.repo);
    put(&store, kind, revived, 5000, 777);
    filled.expected = Snapshot::read(&handle(&source, &filled.repo)).unwrap();
    assert!(filled.expected.objects.contains_key(&(kind, revived)));
    let (tags, _) = raw_tags(&source, &filled.repo);
    assert!(
        tags.iter().any(|t| t.ends_with(".d")),
        "tombstone markers: {tags:?}"
    );
    assert!(
        tags.iter().any(|t| t.ends_with(".r")),
        "a revival marker: {tags:?}"
    );

    for (tool, deletes) in [
        (Tool::Regctl, true),
        (Tool::Crane, false),
        (Tool::Skopeo, true),
    ] {
        let target = v3(deletes);
        let copied = copy(tool, &source, &filled.repo, &target);
        let what = format!("{} to a registry with deletes {deletes}", tool.name());
        assert_faithful(&filled, &target, &copied, &what);
        // The copy is a working store: delete another key there.
        let copy_store = handle(&target, &copied);
        copy_store.open().unwrap();
        let (k2, m2) = *filled.expected.objects.keys().next().unwrap();
        copy_store.delete(k2, &m2).unwrap();
        assert!(
            !copy_store.list(k2).unwrap().contains(&m2),
            "{what}: a delete in the copy takes effect"
        );
    }
}

/// A copy taken while a writer adds objects is a consistent older state:
/// every object it lists reads exactly the bytes written; what was written
/// after the copy passed its tag is missing (listed nowhere, `not-found`).
/// A second copy catches up and then reads exactly as the source.
#[test]
fn a_copy_made_during_writes_is_consistent_and_a_later_copy_catches_up() {
    let source = v3(true);
    let filled = HostFill::small().fill(&source);
    let target = v3(true);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let store = handle(&source, &filled.repo);
        store.open().unwrap();
        std::thread::spawn(move || {
            let mut i = 1000;
            // At least 20 objects, then on until the copy is done.
            while i < 1020 || !stop.load(Ordering::SeqCst) {
                let len = if i % 10 == 0 {
                    9 << 20
                } else {
                    3000 + i as usize
                };
                put(&store, Resource::Packfile, key(i), len, i);
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    // Wait for the writer to start, so the copy overlaps it.
    while written.load(Ordering::SeqCst) < 3 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let to = unique_repo("copy");
    let (tags, _) = raw_tags(&source, &filled.repo);
    Client::new(Tool::Regctl)
        .copy_repository(
            &source.authority(),
            &filled.repo,
            &target.authority(),
            &to,
            &tags,
        )
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let final_source = Snapshot::read(&handle(&source, &filled.repo)).unwrap();

    // The first copy: a subset of the source, every object exact.
    let early = Snapshot::read(&handle(&target, &to)).expect("the early copy opens");
    assert_eq!(early.config, final_source.config);
    for (k, seen) in &early.objects {
        assert_eq!(
            final_source.objects.get(k),
            Some(seen),
            "an object in the early copy reads the source's bytes"
        );
    }
    let missing: Vec<_> = final_source
        .objects
        .keys()
        .filter(|k| !early.objects.contains_key(k))
        .collect();
    eprintln!(
        "copy during writes: {} of {} objects in the early copy",
        early.objects.len(),
        final_source.objects.len()
    );
    let store = handle(&target, &to);
    for (kind, k) in &missing {
        assert!(
            matches!(
                store.get(*kind, k, None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ),
            "an object the copy missed is not-found there"
        );
    }

    // A later copy over the first catches up.
    Client::new(Tool::Regctl)
        .copy_repository(
            &source.authority(),
            &filled.repo,
            &target.authority(),
            &to,
            &[],
        )
        .unwrap();
    Snapshot::read(&handle(&target, &to))
        .unwrap()
        .assert_same(&final_source, "the later copy");
}

/// A copy cut off part-way (here: oras cp of some tags only). Tools copy a
/// tag's blobs before its manifest, so every tag there is whole. Without
/// the `config` tag the copy is no repository (`open` fails `not-found`);
/// with it, the copied objects read exactly and the others are missing.
/// From a registry without DELETE, a copy holding a deleted key's object tag
/// (a tombstone) but not yet its `.d` marker lists the key, and `get` refuses
/// it (`not-found`: the tombstone is read); never wrong bytes. Had the tag
/// been copied before the delete, the copy would read the old bytes, which
/// the source also held then: stale, not wrong. The next copy settles it.
#[test]
fn a_half_copied_repository_is_refused_cleanly_never_wrong() {
    let source = v3(false);
    let filled = HostFill::small().fill(&source);
    let target = v3(true);
    let (tags, _) = raw_tags(&source, &filled.repo);
    let oras = Client::new(Tool::Oras);
    let to = unique_repo("half");
    // Object tags only, no config, no markers: every other live object,
    // and the deleted keys' object tags (tombstones).
    let deleted: Vec<String> = filled
        .deleted
        .iter()
        .map(|(kind, k)| format!("{kind}-{}", hex::encode(k)))
        .collect();
    let mut objects: Vec<String> = tags
        .iter()
        .filter(|t| !t.starts_with("config") && !t.ends_with(".d") && !t.ends_with(".r"))
        .filter(|t| !deleted.contains(t))
        .step_by(2)
        .cloned()
        .collect();
    objects.extend(deleted.iter().cloned());
    oras.copy_repository(
        &source.authority(),
        &filled.repo,
        &target.authority(),
        &to,
        &objects,
    )
    .unwrap();
    let store = handle(&target, &to);
    match store.open() {
        Err(Error::Contract(ContractError::NotFound(message))) => {
            eprintln!("half copy without config: {message}")
        }
        other => panic!("a copy without its config opens: {other:?}"),
    }

    // Now the config, but still no `.d` markers.
    oras.copy_repository(
        &source.authority(),
        &filled.repo,
        &target.authority(),
        &to,
        &["config".to_string()],
    )
    .unwrap();
    let store = handle(&target, &to);
    assert_eq!(
        store.open().expect("with its config, the copy opens"),
        filled.expected.config
    );
    let (mut exact, mut refused) = (0, 0);
    for kind in Resource::ALL {
        for k in store.list(kind).unwrap() {
            match (
                store.get_reader(kind, &k, None),
                filled.expected.objects.get(&(kind, k)),
            ) {
                (Ok(reader), Some(want)) => {
                    let sha = crate::kit::sha256_of(reader).expect("reads to the end");
                    assert_eq!(sha, want.sha256, "a copied object reads its exact bytes");
                    exact += 1;
                }
                // A deleted key whose tombstone (at its object tag) came
                // without its `.d` marker: listed, and refused at get.
                (Err(Error::Contract(ContractError::NotFound(_))), None) => refused += 1,
                (got, want) => panic!(
                    "{kind} {}: the half copy answers {:?}, the source holds {want:?}",
                    hex::encode(k),
                    got.map(|_| "bytes")
                ),
            }
        }
    }
    eprintln!("half copy: {exact} objects exact, {refused} tombstones listed and refused at get");
    assert!(exact > 0 && exact < filled.expected.objects.len());
    assert_eq!(
        refused,
        deleted.len(),
        "every tombstone without its marker is refused"
    );
    for (kind, k) in filled.expected.objects.keys() {
        if !store.list(*kind).unwrap().contains(k) {
            assert!(matches!(
                store.get(*kind, k, None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ));
        }
    }

    // The rest: the copy completes and matches.
    oras.copy_repository(
        &source.authority(),
        &filled.repo,
        &target.authority(),
        &to,
        &tags,
    )
    .unwrap();
    Snapshot::read(&handle(&target, &to))
        .unwrap()
        .assert_same(&filled.expected, "the completed copy");
}
