//! `StoreHandle::serve`, the one call the plugin answers a Get with: a
//! packfile's range the handle's blocks hold comes back at once without a
//! request (the plugin then needs no blocking task); a range the blocks
//! keep but do not hold is fetched into them; a range too large for them,
//! a whole object and another kind's range are streamed, never held whole.
//! One registry (distribution 2.8) is enough: what is checked is the
//! handle's choice, the bytes, and the requests each way costs.

use std::io::Read;
use std::sync::Arc;

use crate::kit::{bytes, mac, plugin, requests_of, Env, Flavor};
use kloset_host::{Fetched, Resource, Served, StoreHandle};

const MIB: u64 = 1 << 20;

/// Runs a fetch `serve` handed back, failing if it served at once.
fn fetched(served: Served) -> Fetched {
    match served {
        Served::Fetch(fetch) => fetch.run().expect("the fetch reads"),
        Served::Held(pieces) => panic!("served {} bytes at once", pieces.concat().len()),
    }
}

fn streamed(fetched: Fetched) -> Vec<u8> {
    match fetched {
        Fetched::Stream(mut reader) => {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            got
        }
        Fetched::Bytes(pieces) => panic!("{} bytes held whole", pieces.concat().len()),
    }
}

#[test]
fn serve_answers_held_ranges_at_once_fetches_kept_ones_and_streams_the_rest() {
    let env = Env::new(Flavor::Plain { deletes: true });
    let store = env.created();
    let size = 3 * MIB + 5;
    let data = bytes(size as usize, 41);
    let key = mac(41);
    store.put(Resource::Packfile, &key, &data[..]).unwrap();
    store.put(Resource::State, &key, &data[..10_000]).unwrap();
    // Blocks of 4 MiB at most: a kept read spans 2 blocks at most.
    let reader =
        Arc::new(StoreHandle::new(plugin(), &env.config_with(&[("read_cache", "4MiB")])).unwrap());
    let slice = |at: u64, len: u64| &data[at as usize..(at + len) as usize];

    // Nothing held yet: fetched into the blocks (its size, then block 0).
    let sent = requests_of(&reader, || {
        match fetched(reader.serve(Resource::Packfile, &key, Some((100, 5000)))) {
            Fetched::Bytes(got) => assert!(got.concat() == slice(100, 5000)),
            Fetched::Stream(_) => panic!("a small range is streamed"),
        }
    });
    assert_eq!(sent.net, 2, "the manifest and the block: {sent}");
    assert_eq!(reader.read_cache_held(), MIB, "block 0 is kept");

    // Held now: at once, no request.
    let sent = requests_of(&reader, || {
        match reader.serve(Resource::Packfile, &key, Some((6000, 1000))) {
            Served::Held(got) => {
                assert!(got.concat() == slice(6000, 1000));
                assert_eq!(got.len(), 1, "one block's slice");
            }
            Served::Fetch(_) => panic!("a held range is fetched"),
        }
    });
    assert_eq!(sent.net, 0, "{sent}");

    // Larger than the blocks keep, a whole object, a state's range:
    // streamed, each its own request, nothing more kept.
    let got = streamed(fetched(reader.serve(
        Resource::Packfile,
        &key,
        Some((5, 3 * MIB as u32)),
    )));
    assert!(got == slice(5, 3 * MIB));
    let got = streamed(fetched(reader.serve(Resource::Packfile, &key, None)));
    assert!(got == data);
    let got = streamed(fetched(reader.serve(Resource::State, &key, Some((10, 50)))));
    assert!(got == slice(10, 50));
    assert_eq!(reader.read_cache_held(), MIB, "streams keep no block");
}
