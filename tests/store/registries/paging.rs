//! distribution v3 with `tags.maxtags` 7: tag lists page through `Link` for
//! real, and the store follows every page (distribution 2.8, which the rest
//! of the suite runs, ignores `n`).

use crate::kit::{mac, requests_of};
use crate::registries::repo::{handle, raw_tags, v3, MAX_TAGS};
use kloset_host::Resource;
use kloset_testkit::{unique_repo, Implementation, Registry, RegistryOptions};
use std::ffi::OsStr;

#[test]
fn v3_pages_every_listing_and_the_store_follows() {
    let registry = v3(true);
    let repo = unique_repo("paging");
    let store = handle(&registry, &repo);
    store.create(b"config").unwrap();
    // 30 keys of each of two kinds, plus `config`: 61 tags, 9 pages of 7.
    for i in 0..30 {
        store.put_bytes(Resource::State, &mac(i), b"state").unwrap();
        store.put_bytes(Resource::Lock, &mac(i), b"lock").unwrap();
    }
    let (tags, requests) = raw_tags(&registry, &repo);
    assert_eq!(tags.len(), 61, "{tags:?}");
    assert!(
        requests >= 61usize.div_ceil(MAX_TAGS as usize),
        "n=1000 was clamped to {MAX_TAGS}: {requests} pages"
    );

    // A kind's listing asks from just before its tags (`last=lock`) and
    // stops at the first page holding a tag of another kind: 30 locks are
    // 5 pages of 7, the fifth ending with states.
    let mut listed = Vec::new();
    let pages = requests_of(&store, || listed = store.list(Resource::Lock).unwrap()).net;
    listed.sort();
    let mut want: Vec<_> = (0..30).map(mac).collect();
    want.sort();
    assert_eq!(listed, want, "every key once, across pages");
    assert_eq!(pages, 5, "30 locks in pages of {MAX_TAGS}");
    // The states are the repository's last tags: 5 pages, and maybe an
    // empty one after them (v3.1.1).
    let mut states = Vec::new();
    let pages = requests_of(&store, || states = store.list(Resource::State).unwrap()).net;
    states.sort();
    assert_eq!(states, want);
    assert!((5..=6).contains(&pages), "{pages} pages for 30 states");
    // `size` reads every tag: all 9 pages (or 10).
    let pages = requests_of(&store, || {
        store.size().unwrap();
    })
    .net;
    assert!(
        pages >= 9,
        "{pages} requests for the whole list and the sizes"
    );
    // The registry saw them, each asked for 1000 and got 7.
    let seen = registry.tag_list_requests(&repo);
    assert!(
        seen.iter().filter(|r| r.contains("last=")).count() >= 8,
        "pages after the first carry `last`: {seen:?}"
    );
}

#[test]
#[should_panic(expected = "not found")]
fn a_missing_registry_binary_fails_the_test() {
    // A test needing v3 (or any tool) fails when the binary is not there;
    // it never passes or skips without it.
    let _ = Registry::start_with_binary(
        OsStr::new("/nonexistent/kloset-test/registry"),
        RegistryOptions {
            implementation: Implementation::Distribution3,
            ..Default::default()
        },
    );
}
