//! The core rules of the store contract.

use crate::kit::{bytes, mac, Env};
use kloset_host::{ContractError, Error, Resource};

pub fn create_and_open(env: &Env) {
    let store = env.handle();
    assert!(
        matches!(
            store.open(),
            Err(Error::Contract(ContractError::NotFound(_)))
        ),
        "open of an empty location"
    );

    let config = bytes(700, 1);
    store.create(&config).expect("create");
    // The same handle works right after create, without open.
    store
        .put_bytes(Resource::State, &mac(1), b"a state")
        .expect("put after create");
    assert_eq!(
        store.get(Resource::State, &mac(1), None).unwrap(),
        b"a state"
    );
    assert!(
        matches!(
            store.create(&config),
            Err(Error::Contract(ContractError::AlreadyExists(_)))
        ),
        "second create, same handle"
    );

    let other = env.handle();
    assert!(
        matches!(
            other.create(b"other"),
            Err(Error::Contract(ContractError::AlreadyExists(_)))
        ),
        "create over an existing repository"
    );
    assert_eq!(
        other.open().unwrap(),
        config,
        "open returns the config exactly"
    );
    other.ping().expect("ping");
    assert_eq!(other.origin().unwrap(), env.authority());
    assert_eq!(other.store_type().unwrap(), "oci");
    assert_eq!(other.root().unwrap(), env.repo);
    assert_eq!(other.flags().unwrap(), 0);
    assert_eq!(other.mode().unwrap(), (1 << 1) | (1 << 2), "read and write");
}

pub fn every_kind_round_trips_in_its_own_key_space(env: &Env) {
    let store = env.created();
    // 0 bytes, a lock, a small state, and one past the buffering threshold.
    let sizes = [0usize, 300, 100_000, 9 << 20];
    let key = mac(7); // the same MAC in every kind: separate key spaces
    for (k, kind) in Resource::ALL.into_iter().enumerate() {
        for (i, size) in sizes.into_iter().enumerate() {
            let data = bytes(size, (k * 10 + i) as u64);
            let m = if i == 0 {
                key
            } else {
                mac((k * 10 + i) as u64 + 100)
            };
            let written = store
                .put_bytes(kind, &m, &data)
                .unwrap_or_else(|e| panic!("put {kind} {size}: {e}"));
            assert_eq!(written, size as u64);
            let back = store
                .get(kind, &m, None)
                .unwrap_or_else(|e| panic!("get {kind} {size}: {e}"));
            assert!(back == data, "{kind} of {size} bytes did not round-trip");
        }
    }
    // Distinct content under the same MAC in each kind.
    for kind in Resource::ALL {
        store
            .put_bytes(kind, &key, kind.to_string().as_bytes())
            .unwrap();
    }
    let fresh = env.handle();
    for kind in Resource::ALL {
        assert_eq!(
            fresh.get(kind, &key, None).unwrap(),
            kind.to_string().as_bytes(),
            "{kind}"
        );
        let mut listed = fresh.list(kind).unwrap();
        listed.sort();
        let k = Resource::ALL.iter().position(|r| *r == kind).unwrap();
        let mut want: Vec<_> = (1..sizes.len())
            .map(|i| mac((k * 10 + i) as u64 + 100))
            .collect();
        want.push(key);
        want.sort();
        assert_eq!(
            listed, want,
            "list {kind}: every key once, nothing from other kinds"
        );
    }
}

pub fn put_overwrites(env: &Env) {
    let store = env.created();
    let lock = mac(3);
    store
        .put_bytes(Resource::Lock, &lock, b"lock taken at 10:00")
        .unwrap();
    store
        .put_bytes(Resource::Lock, &lock, b"lock refreshed at 10:05, longer")
        .unwrap();
    assert_eq!(
        store.get(Resource::Lock, &lock, None).unwrap(),
        b"lock refreshed at 10:05, longer"
    );
    let fresh = env.handle();
    assert_eq!(
        fresh.get(Resource::Lock, &lock, None).unwrap(),
        b"lock refreshed at 10:05, longer"
    );
    assert_eq!(
        fresh.list(Resource::Lock).unwrap(),
        vec![lock],
        "listed once"
    );
    // Ranged reads of an overwritten object see the new bytes too.
    assert_eq!(
        store.get(Resource::Lock, &lock, Some((5, 9))).unwrap(),
        b"refreshed"
    );
}

pub fn get_of_a_missing_object_fails_at_call_time(env: &Env) {
    let store = env.created();
    for kind in Resource::ALL {
        assert!(
            matches!(
                store.get_reader(kind, &mac(404), None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ),
            "{kind}"
        );
        assert!(
            matches!(
                store.get_reader(kind, &mac(404), Some((0, 1))),
                Err(Error::Contract(ContractError::NotFound(_)))
            ),
            "{kind} ranged"
        );
    }
    // A key present in one kind is missing in the others.
    store.put_bytes(Resource::State, &mac(5), b"x").unwrap();
    assert!(matches!(
        store.get(Resource::Lock, &mac(5), None),
        Err(Error::Contract(ContractError::NotFound(_)))
    ));
}

pub fn delete_takes_effect_and_is_idempotent(env: &Env) {
    let store = env.created();
    let reader = env.handle();
    for kind in Resource::ALL {
        store.put_bytes(kind, &mac(1), b"doomed").unwrap();
        store.put_bytes(kind, &mac(2), b"kept").unwrap();
        // Let another handle cache the object first: delete must still win.
        assert_eq!(reader.get(kind, &mac(1), Some((0, 3))).unwrap(), b"doo");
        store
            .delete(kind, &mac(1))
            .unwrap_or_else(|e| panic!("delete {kind}: {e}"));
        for view in [&store, &env.handle()] {
            assert_eq!(
                view.list(kind).unwrap(),
                vec![mac(2)],
                "{kind}: list after delete"
            );
            assert!(
                matches!(
                    view.get(kind, &mac(1), None),
                    Err(Error::Contract(ContractError::NotFound(_)))
                ),
                "{kind}: get after delete"
            );
            assert_eq!(view.get(kind, &mac(2), None).unwrap(), b"kept");
        }
        store
            .delete(kind, &mac(1))
            .expect("deleting twice succeeds");
        env.handle()
            .delete(kind, &mac(99))
            .expect("deleting what never existed succeeds");
        assert_eq!(store.list(kind).unwrap(), vec![mac(2)]);
    }
    let tags = env.tags();
    let deleted_tag = format!("lock-{}", hex(&mac(1).0));
    if env.deletes {
        assert!(
            !tags.contains(&deleted_tag),
            "the registry removed the manifest and its tag: {tags:?}"
        );
    } else {
        assert!(
            tags.contains(&format!("{deleted_tag}.d")),
            "a tombstone marker records the delete: {tags:?}"
        );
    }
}

pub fn put_after_delete_revives_the_key(env: &Env) {
    let store = env.created();
    let key = mac(8);
    for round in 0..3u8 {
        let data = format!("lock, life number {round}");
        store
            .put_bytes(Resource::Lock, &key, data.as_bytes())
            .unwrap();
        for view in [&store, &env.handle()] {
            assert_eq!(
                view.list(Resource::Lock).unwrap(),
                vec![key],
                "round {round}: live after put"
            );
            assert_eq!(
                view.get(Resource::Lock, &key, None).unwrap(),
                data.as_bytes()
            );
        }
        store.delete(Resource::Lock, &key).unwrap();
        for view in [&store, &env.handle()] {
            assert!(
                view.list(Resource::Lock).unwrap().is_empty(),
                "round {round}: gone after delete"
            );
            assert!(matches!(
                view.get(Resource::Lock, &key, None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ));
        }
    }
    // A packfile (cached as immutable) deleted then put again with other bytes.
    store.put_bytes(Resource::Packfile, &key, b"first").unwrap();
    store.delete(Resource::Packfile, &key).unwrap();
    store
        .put_bytes(Resource::Packfile, &key, b"second")
        .unwrap();
    assert_eq!(
        env.handle().get(Resource::Packfile, &key, None).unwrap(),
        b"second"
    );
    assert_eq!(store.list(Resource::Packfile).unwrap(), vec![key]);
}

pub fn size_is_the_sum_of_live_objects(env: &Env) {
    let store = env.handle();
    let config = bytes(123, 9);
    store.create(&config).unwrap();
    assert_eq!(
        store.size().unwrap(),
        123,
        "an empty repository holds its config"
    );
    let sizes = [
        (Resource::Packfile, 5000u64),
        (Resource::State, 777),
        (Resource::Lock, 300),
        (Resource::EccState, 1),
    ];
    for (i, (kind, size)) in sizes.iter().enumerate() {
        store
            .put_bytes(*kind, &mac(i as u64), &bytes(*size as usize, i as u64))
            .unwrap();
    }
    let total: u64 = 123 + sizes.iter().map(|(_, s)| s).sum::<u64>();
    assert_eq!(store.size().unwrap(), total);
    assert_eq!(
        env.handle().size().unwrap(),
        total,
        "a fresh handle reads the same size"
    );
    store.delete(Resource::Packfile, &mac(0)).unwrap();
    assert_eq!(
        env.handle().size().unwrap(),
        total - 5000,
        "deleted objects no longer count"
    );
}

pub fn closed_store_refuses_calls(env: &Env) {
    let store = env.created();
    store.put_bytes(Resource::State, &mac(1), b"x").unwrap();
    store.close().unwrap();
    let requests = store.requests();
    // Each refusal says the store is closed (not a registry's failure,
    // nor a missing object), and none reaches the registry.
    let closed = |what: &str, result: Result<(), Error>| match result {
        Err(e) => assert!(e.to_string().contains("closed"), "{what} after close: {e}"),
        Ok(()) => panic!("{what} after close succeeded"),
    };
    closed("get", store.get(Resource::State, &mac(1), None).map(drop));
    closed("list", store.list(Resource::State).map(drop));
    closed(
        "put",
        store.put_bytes(Resource::State, &mac(2), b"y").map(drop),
    );
    closed("delete", store.delete(Resource::State, &mac(1)));
    assert_eq!(
        store.requests(),
        requests,
        "a call after close went to the registry"
    );
}

pub fn hex(mac: &[u8; 32]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect()
}
