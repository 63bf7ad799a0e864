//! Kloset puts about one packfile per CPU in parallel and browses with up to
//! 64 parallel ranged reads: one handle must serve them all at once.

use crate::kit::{bytes, mac, Env};
use kloset_host::Resource;
use std::sync::Arc;

pub fn sixteen_concurrent_puts_then_sixty_four_ranged_gets(env: &Env) {
    let store = Arc::new(env.created());
    // Sixteen objects, a few past the buffering threshold.
    let sizes: Vec<usize> = (0..16)
        .map(|i| if i % 5 == 0 { 9 << 20 } else { 256 << 10 })
        .collect();
    let threads: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store.put_bytes(Resource::Packfile, &mac(i as u64), &bytes(size, i as u64))
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(
            t.join().unwrap().unwrap_or_else(|e| panic!("put {i}: {e}")),
            sizes[i] as u64
        );
    }
    let mut listed = store.list(Resource::Packfile).unwrap();
    listed.sort();
    let mut want: Vec<_> = (0..16).map(mac).collect();
    want.sort();
    assert_eq!(listed, want);

    let big = mac(1000);
    let data = Arc::new(bytes(16 << 20, 1000));
    store.put_bytes(Resource::Packfile, &big, &data).unwrap();
    let threads: Vec<_> = (0..64u64)
        .map(|i| {
            let (store, data) = (Arc::clone(&store), Arc::clone(&data));
            std::thread::spawn(move || {
                let length = 4096 + (i * 7919 % 1024) as u32 * 512;
                let offset = (i * 2_654_435_761) % (data.len() as u64 - u64::from(length));
                let got = store
                    .get(Resource::Packfile, &big, Some((offset, length)))
                    .unwrap();
                assert!(
                    got[..] == data[offset as usize..offset as usize + length as usize],
                    "range {offset}+{length}"
                );
                // And one small object, whole.
                let j = i % 16;
                let small = store.get(Resource::Packfile, &mac(j), None).unwrap();
                assert_eq!(small.len(), if j % 5 == 0 { 9 << 20 } else { 256 << 10 });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a concurrent reader failed");
    }
}
