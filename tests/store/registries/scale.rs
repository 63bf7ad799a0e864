//! A repository of many objects (issue 22): a listing of one kind costs
//! what that kind holds where the registry keeps tags in lexical order
//! (distribution v3), and a listing past the old walls (a 16 MiB tag-list
//! answer, about 220,000 tags on distribution 2.8, which answers every tag
//! at once; 123,297 MACs) comes back whole.
//!
//! The packfiles are tags written into the registry's own storage, as
//! distribution lays a tag out (`_manifests/tags/<tag>/current/link`
//! naming a manifest's digest), all naming the manifest of one packfile the
//! store put: pushing 100,000 manifests through the API would take
//! minutes, and a listing reads tag names only (docs/architecture.md,
//! "Registry layout"). The bench pushes real manifests for its curve
//! (docs/performance.md, "A repository of 100,000 objects").

use crate::kit::mac;
use crate::registries::repo::handle;
use kloset_host::{Mac, Resource};
use kloset_testkit::requests::requests_of;
use kloset_testkit::{unique_repo, Implementation, Registry, RegistryOptions};
use std::path::Path;

/// Writes `count` packfile tags naming the manifest `digest` into `repo`'s
/// tag directory, for MACs 0x00..01, 0x00..02, ... (big-endian counters: none
/// is one of the test's own `mac(i)` keys, which are sha256 digests).
fn write_packfile_tags(registry: &Registry, repo: &str, digest: &str, count: u32) -> Vec<Mac> {
    let tags = registry
        .root_dir()
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags");
    (1..=count)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[28..].copy_from_slice(&i.to_be_bytes());
            let key = Mac(bytes);
            // `current/link` is what a GET by tag reads; the tag's index
            // (`index/sha256/<hex>/link`, read by deletes) is left out:
            // these tags are only listed, and half the directories make
            // the fill twice as fast.
            write_link(
                &tags.join(format!("packfile-{}/current", key.to_hex())),
                digest,
            );
            key
        })
        .collect()
}

fn write_link(dir: &Path, digest: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("link"), digest).unwrap();
}

/// The digest the registry keeps for `tag` of `repo`.
fn tagged_digest(registry: &Registry, repo: &str, tag: &str) -> String {
    let link = registry
        .root_dir()
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
        .join(tag)
        .join("current/link");
    std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()))
}

/// A store with two states, a lock and one packfile of its own, then
/// `synthetic` packfile tags beside them; returns every packfile key.
fn filled(registry: &Registry, repo: &str, synthetic: u32) -> (kloset_host::StoreHandle, Vec<Mac>) {
    let store = handle(registry, repo);
    store.create(b"config").unwrap();
    store
        .put_bytes(Resource::State, &mac(1), b"state one")
        .unwrap();
    store
        .put_bytes(Resource::State, &mac(2), b"state two")
        .unwrap();
    store.put_bytes(Resource::Lock, &mac(3), b"lock").unwrap();
    store
        .put_bytes(Resource::Packfile, &mac(4), b"packfile")
        .unwrap();
    let digest = tagged_digest(registry, repo, &format!("packfile-{}", mac(4).to_hex()));
    let mut packfiles = write_packfile_tags(registry, repo, &digest, synthetic);
    packfiles.push(mac(4));
    packfiles.sort();
    (store, packfiles)
}

fn sorted(mut keys: Vec<Mac>) -> Vec<Mac> {
    keys.sort();
    keys
}

#[test]
fn beside_100000_packfiles_a_listing_of_states_or_locks_takes_a_request() {
    // Default `tags.maxtags` (v3 answers up to 1000 a page): v3 reads its
    // whole tag directory for every page, so a listing that paged through
    // every packfile cost 101 pages here, about 9 s (issue 22).
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Distribution3,
        ..Default::default()
    });
    let repo = unique_repo("scale");
    let (store, packfiles) = filled(&registry, &repo, 100_000);

    let mut states = Vec::new();
    let asked = requests_of(&store, || states = store.list(Resource::State).unwrap());
    assert_eq!(sorted(states), vec![mac(1), mac(2)]);
    assert_eq!(asked.net, 1, "{asked}");
    let mut locks = Vec::new();
    let asked = requests_of(&store, || locks = store.list(Resource::Lock).unwrap());
    assert_eq!(locks, vec![mac(3)]);
    assert_eq!(asked.net, 1, "{asked}");
    let tag_lists = registry.tag_list_requests(&repo);
    assert!(
        tag_lists.iter().all(|r| r.contains("last=")),
        "each asked from just before its kind: {tag_lists:?}"
    );

    // Packfiles are every page of them, exactly.
    let mut listed = Vec::new();
    let asked = requests_of(&store, || listed = store.list(Resource::Packfile).unwrap());
    assert_eq!(sorted(listed), packfiles);
    assert!((101..=102).contains(&asked.net), "{}", asked.net);
}

#[test]
fn past_220000_tags_in_one_answer_and_123297_keys_a_listing_comes_back_whole() {
    // distribution 2.8 answers every tag at once, whatever `n` and
    // `last`: 230,001 tags are about 17 MB of JSON, past the 16 MiB a tag
    // page could be before, and more keys than one plakar List reply
    // carries (123,297: plakar's 4 MiB gRPC limit, the plugin's wall).
    let registry = Registry::start(RegistryOptions::default());
    assert_eq!(registry.implementation(), Implementation::Distribution2);
    let repo = unique_repo("scale");
    let (store, packfiles) = filled(&registry, &repo, 230_000);

    let mut listed = Vec::new();
    let asked = requests_of(&store, || listed = store.list(Resource::Packfile).unwrap());
    assert_eq!(listed.len(), 230_001);
    assert_eq!(sorted(listed), packfiles);
    assert_eq!(asked.net, 1, "one answer holds every tag: {}", asked.net);
    // The states come from that same kind of answer: 2.8 ignores `last`.
    let mut states = Vec::new();
    let asked = requests_of(&store, || states = store.list(Resource::State).unwrap());
    assert_eq!(sorted(states), vec![mac(1), mac(2)]);
    assert_eq!(asked.net, 1, "{asked}");
}
