//! Packfile-sized objects: exact ranges, streaming in bounded memory, and
//! puts whose input fails half-way.

use crate::kit::{bytes, mac, sha256_of, Env, FailingReader, Pattern};
use kloset_host::{ContractError, Error, Resource};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
/// The guest's linear memory must stay under this whatever the object size.
const GUEST_MEMORY_BOUND: usize = 64 << 20;

pub fn ranges_of_a_72_mib_packfile_are_exact(env: &Env) {
    let store = env.created();
    let size = 72 * MIB;
    let data = bytes(size as usize, 72);
    let key = mac(72);
    assert_eq!(
        store.put(Resource::Packfile, &key, &data[..]).unwrap(),
        size
    );

    let reader = env.handle();
    let whole = reader.get_reader(Resource::Packfile, &key, None).unwrap();
    assert_eq!(
        sha256_of(whole).unwrap(),
        <[u8; 32]>::from(Sha256::digest(&data)),
        "whole read"
    );

    let ranges: [(u64, u32); 6] = [
        (0, 4096),                  // start
        (0, 1),                     // first byte
        (size / 2 - 1000, 1 << 20), // middle, across a MiB boundary
        (size - 4096, 4096),        // end
        (size - 1, 1),              // last byte
        (12_345_678, 8 << 20),      // a chunk-sized read
    ];
    for (offset, length) in ranges {
        for view in [&store, &reader] {
            let got = view
                .get(Resource::Packfile, &key, Some((offset, length)))
                .unwrap();
            let want = &data[offset as usize..offset as usize + length as usize];
            assert!(got == want, "range {offset}+{length}");
        }
    }
    assert!(
        matches!(
            store.get(Resource::Packfile, &key, Some((size - 10, 11))),
            Err(Error::Contract(ContractError::InvalidArgument(_)))
        ),
        "a range past the end is refused"
    );
    assert!(matches!(
        store.get(Resource::Packfile, &key, Some((size, 1))),
        Err(Error::Contract(ContractError::InvalidArgument(_)))
    ));
    assert_eq!(
        store
            .get(Resource::Packfile, &key, Some((size, 0)))
            .unwrap(),
        b"",
        "an empty range at the end"
    );
}

pub fn a_256_mib_object_streams_in_bounded_memory(env: &Env) {
    let store = env.created();
    let size = 256 * MIB;
    let key = mac(256);
    assert_eq!(
        store
            .put(Resource::Packfile, &key, Pattern::new(size, 256))
            .unwrap(),
        size
    );
    let want = sha256_of(Pattern::new(size, 256)).unwrap();
    let got = sha256_of(store.get_reader(Resource::Packfile, &key, None).unwrap()).unwrap();
    assert_eq!(got, want, "256 MiB round trip");
    let tail = store
        .get(Resource::Packfile, &key, Some((size - 16, 16)))
        .unwrap();
    let mut all = Pattern::new(size, 256);
    std::io::copy(
        &mut std::io::Read::take(&mut all, size - 16),
        &mut std::io::sink(),
    )
    .unwrap();
    let mut last = Vec::new();
    std::io::Read::read_to_end(&mut all, &mut last).unwrap();
    assert_eq!(tail, last);
    let peak = store.peak_guest_memory();
    println!(
        "guest linear memory peak for a 256 MiB object: {:.1} MiB",
        peak as f64 / (1 << 20) as f64
    );
    assert!(peak > 0, "the host records guest memory");
    assert!(
        peak < GUEST_MEMORY_BOUND,
        "guest memory reached {} MiB",
        peak >> 20
    );
}

pub fn a_failing_writer_leaves_no_object(env: &Env) {
    let store = env.created();
    // Below the buffering threshold, and past it (streamed, mid-PATCH).
    for (i, (size, fail_after)) in [(5000u64, 1000u64), (20 * MIB, 12 * MIB)]
        .into_iter()
        .enumerate()
    {
        let key = mac(500 + i as u64);
        let input = FailingReader {
            inner: Pattern::new(size, i as u64),
            fail_after,
            given: 0,
        };
        match store.put(Resource::Packfile, &key, input) {
            Err(Error::Input(_)) => {}
            other => panic!("expected an input error, got {other:?}"),
        }
        for view in [&store, &env.handle()] {
            assert!(
                !view.list(Resource::Packfile).unwrap().contains(&key),
                "a failed put is not listed"
            );
            assert!(matches!(
                view.get(Resource::Packfile, &key, None),
                Err(Error::Contract(ContractError::NotFound(_)))
            ));
        }
    }
    // A failed overwrite leaves the previous object intact.
    let lock = mac(600);
    store
        .put_bytes(Resource::Lock, &lock, b"the good lock")
        .unwrap();
    let input = FailingReader {
        inner: Pattern::new(10 * MIB, 6),
        fail_after: 9 * MIB,
        given: 0,
    };
    assert!(matches!(
        store.put(Resource::Lock, &lock, input),
        Err(Error::Input(_))
    ));
    assert_eq!(
        env.handle().get(Resource::Lock, &lock, None).unwrap(),
        b"the good lock"
    );
    // The store keeps working after a failed put.
    store
        .put_bytes(Resource::Packfile, &mac(500), b"retried")
        .unwrap();
    assert_eq!(
        store.get(Resource::Packfile, &mac(500), None).unwrap(),
        b"retried"
    );
}
