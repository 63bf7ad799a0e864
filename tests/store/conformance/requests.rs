//! Few requests per operation, counted by the host at its wasi:http egress.
//! On a registry without DELETE a put costs one more request: a HEAD of the
//! key's deletion marker, so that a put after a delete revives the key.
//! Retried attempts are not counted ([`requests_of`]).

use crate::kit::{bytes, mac, requests_of, Env};
use kloset_host::Resource;
use std::sync::Arc;

pub fn requests_per_operation(env: &Env) {
    let store = env.created();
    let marker_check = u64::from(!env.deletes);
    let small = bytes(1000, 1);

    let n = requests_of(&store, || {
        store.put_bytes(Resource::State, &mac(1), &small).unwrap();
    });
    assert!(n.net <= 3 + marker_check, "a small put took {n}");
    let n = requests_of(&store, || {
        store
            .put_bytes(Resource::Packfile, &mac(2), &small)
            .unwrap();
    });
    let upload = u64::from(!env.mounts_blobs());
    assert!(
        n.net <= 2 + marker_check + upload,
        "a put of a blob the registry has took {n} (no re-upload)"
    );
    let n = requests_of(&store, || {
        store
            .put_bytes(Resource::Packfile, &mac(3), &bytes(9 << 20, 3))
            .unwrap();
    });
    assert!(
        n.net <= 4 + marker_check + env.extra_body_requests(9 << 20),
        "a streamed put took {n} (POST, PATCH, PUT, manifest)"
    );

    let n = requests_of(&store, || {
        drop(
            store
                .get(Resource::State, &mac(1), Some((10, 100)))
                .unwrap(),
        )
    });
    assert_eq!(
        n.net, 1,
        "a ranged get of an object this instance wrote: {n}"
    );
    let n = requests_of(&store, || {
        drop(store.get(Resource::Packfile, &mac(3), None).unwrap())
    });
    assert_eq!(
        n.net, 1,
        "a whole get of an object this instance wrote: {n}"
    );

    let fresh = env.handle();
    fresh.open().unwrap();
    let n = requests_of(&fresh, || {
        drop(
            fresh
                .get(Resource::Packfile, &mac(3), Some((0, 10)))
                .unwrap(),
        )
    });
    assert_eq!(
        n.net, 2,
        "first read of an unseen object, manifest then blob: {n}"
    );
    let n = requests_of(&fresh, || {
        drop(
            fresh
                .get(Resource::Packfile, &mac(3), Some((10, 10)))
                .unwrap(),
        )
    });
    assert_eq!(n.net, 1, "a ranged get of an object seen before: {n}");
    let n = requests_of(&fresh, || {
        fresh.put_bytes(Resource::Lock, &mac(4), b"lock").unwrap();
    });
    assert!(
        n.net <= 3 + marker_check,
        "first put after open took {n} (open already knows the empty config)"
    );
    let n = requests_of(&fresh, || {
        drop(fresh.get(Resource::Lock, &mac(4), Some((0, 2))).unwrap())
    });
    assert_eq!(
        n.net, 2,
        "locks change under the same MAC, never served from the cache: {n}"
    );

    let n = requests_of(&store, || store.delete(Resource::State, &mac(1)).unwrap());
    assert!(n.net <= env.most_delete_requests(), "a delete took {n}");
    let n = requests_of(&store, || drop(store.list(Resource::Packfile).unwrap()));
    let tags = env.tags().len() as u64;
    assert!(
        (1..=env.max_list_requests(tags, 1000)).contains(&n.net),
        "a list of {tags} tags took {n}"
    );
}

pub fn list_follows_pagination(env: &Env) {
    let store = Arc::new(env.created());
    // 1100 locks, from four threads at once, sharing one blob: concurrent
    // uploads of one digest race inside distribution (a manifest PUT can be
    // refused as MANIFEST_BLOB_UNKNOWN while the blob is committed), which the
    // store must ride out.
    const KEYS: u64 = 1100;
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in (w..KEYS).step_by(4) {
                    store
                        .put_bytes(Resource::Lock, &mac(i), b"same lock body")
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut listed = Vec::new();
    let counted = requests_of(&store, || listed = store.list(Resource::Lock).unwrap());
    let pages = counted.net;
    // distribution 2.8 ignores `n` and sends every tag at once; v3 with a
    // small `tags.maxtags` pages every listing through `Link` for real.
    let tags = env.tags().len() as u64;
    assert!(tags > 1000, "{tags} tags");
    let most = env.max_list_requests(tags, 1000);
    assert!(
        (1..=most).contains(&pages),
        "{pages} requests for {tags} tags"
    );
    if let Some(page) = env.page_size() {
        // Where the registry keeps lexical order with `last`, only the
        // locks' range is asked for (the `config` tag sorts before it).
        let listed_tags = if env.keeps_lexical_last() { KEYS } else { tags };
        assert!(
            pages >= listed_tags.div_ceil(page),
            "{pages} requests for {listed_tags} tags in pages of {page}: a page was skipped"
        );
    }
    listed.sort();
    let mut want: Vec<_> = (0..KEYS).map(mac).collect();
    want.sort();
    assert_eq!(listed.len(), want.len());
    assert!(listed == want, "every key exactly once");
    assert!(store.list(Resource::State).unwrap().is_empty());
}
