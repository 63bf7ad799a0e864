//! What each operation costs in requests on every personality beside
//! distribution 2.8, printed as a table (issue 20's note). Run it on
//! demand; it asserts only that every operation succeeds and reads the
//! right bytes, since the counts are what it reports:
//! `cargo test -p kloset-tests --test store costs -- --ignored --nocapture`.

use crate::kit::{bytes, mac, Env, Flavor, Hosted};
use kloset_host::Resource;
use kloset_testkit::requests::requests_of;

/// Requests of: a 64 MiB packfile put (the instance's first: what it learns
/// included), a second one, a 100 KiB state put, a whole get of a packfile
/// on a fresh handle (as a restore opens it), 16 ranged reads of it there
/// (as check reads chunks), and a listing of packfiles.
fn costs(env: &Env) -> [u64; 6] {
    let store = env.created();
    let big = bytes(64 << 20, 1);
    let first = requests_of(&store, || {
        store.put_bytes(Resource::Packfile, &mac(1), &big).unwrap();
    })
    .net;
    let second = requests_of(&store, || {
        store
            .put_bytes(Resource::Packfile, &mac(2), &bytes(64 << 20, 2))
            .unwrap();
    })
    .net;
    let state = requests_of(&store, || {
        store
            .put_bytes(Resource::State, &mac(3), &bytes(100 << 10, 3))
            .unwrap();
    })
    .net;
    let fresh = env.handle();
    let mut got = Vec::new();
    let restore = requests_of(&fresh, || {
        got = fresh.get(Resource::Packfile, &mac(1), None).unwrap();
    })
    .net;
    assert!(got == big, "the packfile reads back exact");
    let checker = env.handle();
    let check = requests_of(&checker, || {
        for i in 0..16u64 {
            let at = i * (4 << 20) + 12_345;
            let range = checker
                .get(Resource::Packfile, &mac(1), Some((at, 50_000)))
                .unwrap();
            assert!(range == big[at as usize..at as usize + 50_000]);
        }
    })
    .net;
    let list = requests_of(&checker, || {
        assert_eq!(checker.list(Resource::Packfile).unwrap().len(), 2);
    })
    .net;
    [first, second, state, restore, check, list]
}

#[test]
#[ignore = "a measurement: run on demand for the table"]
fn requests_per_operation_on_every_personality() {
    let mut rows = vec![(
        "distribution 2.8".to_string(),
        costs(&Env::new(Flavor::Plain { deletes: true })),
    )];
    for hosted in Hosted::ALL {
        rows.push((
            format!("{hosted:?}"),
            costs(&Env::new(Flavor::Personality(hosted))),
        ));
    }
    println!("| registry | first 64 MiB put | next 64 MiB put | 100 KiB put | whole get, fresh handle | 16 ranged gets, fresh handle | list |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, c) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            c[0], c[1], c[2], c[3], c[4], c[5]
        );
    }
}
