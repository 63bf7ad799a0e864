//! `object_size` and `read_range`: plakar's ranged reads of packfiles go
//! through the handle's blocks (`read_cache`), so their bytes, their
//! request count and what a delete or an overwrite does to them are
//! checked against every registry.

use crate::kit::{bytes, mac, requests_of, Env};
use kloset_host::{ContractError, Error, Resource};

const MIB: u64 = 1 << 20;

pub fn ranged_reads_through_the_blocks_are_exact_and_few(env: &Env) {
    let store = env.created();
    // Three and a half blocks: the last one is short.
    let size = 3 * MIB + MIB / 2;
    let data = bytes(size as usize, 35);
    let key = mac(35);
    store.put(Resource::Packfile, &key, &data[..]).unwrap();
    let reader = env.handle();
    assert_eq!(reader.object_size(Resource::Packfile, &key).unwrap(), size);

    // plakar's pattern: many small reads near each other, some across a
    // block's end, up to the object's last byte.
    let mut ranges: Vec<(u64, u32)> = (0..400u64)
        .map(|n| ((n * 8_779) % (size - 70_000), (n as u32 % 17) * 4_000 + 154))
        .collect();
    ranges.extend([
        (MIB - 10, 20),
        (size - 1, 1),
        (0, 1),
        (size - MIB, MIB as u32),
    ]);
    let asked = requests_of(&reader, || {
        for &(offset, length) in &ranges {
            let got = reader
                .read_range(Resource::Packfile, &key, offset, length)
                .unwrap();
            let want = &data[offset as usize..(offset + u64::from(length)) as usize];
            assert!(got == want, "range {offset}+{length}");
        }
    });
    // Each of the four blocks once (never a block twice), the object's
    // manifest once, and a challenge and a token where the registry
    // wants them: 7 at most, where each read on its own would be 404.
    assert!(asked.net <= 7, "{} reads took {asked}", ranges.len());
    assert_eq!(reader.read_cache_held(), size);

    // A range past the end gets the component's own answer.
    assert!(matches!(
        reader.read_range(Resource::Packfile, &key, size - 10, 11),
        Err(Error::Contract(ContractError::InvalidArgument(_)))
    ));

    // Overwritten through this handle: the next read sees the new bytes.
    let other = bytes(size as usize, 36);
    reader.put(Resource::Packfile, &key, &other[..]).unwrap();
    let got = reader
        .read_range(Resource::Packfile, &key, 1000, 1000)
        .unwrap();
    assert!(got == other[1000..2000], "the overwritten object's bytes");

    // Deleted through this handle: gone, blocks and all.
    reader.delete(Resource::Packfile, &key).unwrap();
    assert!(reader
        .read_range(Resource::Packfile, &key, 1000, 1000)
        .unwrap_err()
        .is_not_found());
    assert!(reader
        .object_size(Resource::Packfile, &key)
        .unwrap_err()
        .is_not_found());

    // Other kinds are read as asked, each read its own request.
    let state = bytes(10_000, 37);
    reader.put(Resource::State, &key, &state[..]).unwrap();
    let asked = requests_of(&reader, || {
        for offset in [0u64, 100, 200] {
            let got = reader
                .read_range(Resource::State, &key, offset, 50)
                .unwrap();
            assert!(got == state[offset as usize..offset as usize + 50]);
        }
    });
    assert!(asked.net >= 3, "a state's ranges are not kept: {asked}");
}

pub fn no_read_cache_reads_each_range_from_the_registry(env: &Env) {
    let store = env.created();
    let data = bytes(MIB as usize, 38);
    let key = mac(38);
    store.put(Resource::Packfile, &key, &data[..]).unwrap();
    let reader = kloset_host::StoreHandle::new(
        crate::kit::plugin(),
        &env.config_with(&[("read_cache", "0")]),
    )
    .unwrap();
    let asked = requests_of(&reader, || {
        for offset in [0u64, 100, 200, 300] {
            let got = reader
                .read_range(Resource::Packfile, &key, offset, 50)
                .unwrap();
            assert!(got == data[offset as usize..offset as usize + 50]);
        }
    });
    assert!(asked.net >= 4, "{asked}");
    assert_eq!(reader.read_cache_held(), 0);
}
