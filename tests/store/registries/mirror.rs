//! A pull-through cache (distribution with `proxy.remoteurl`) in front of the
//! registry holding a repository: a read-only mirror. Reading through it is
//! exact; `mode()` says read-only, and writes fail with a clear `unsupported`.

use crate::kit::Pattern;
use crate::registries::repo::{handle, v3, Fill, HostFill, Snapshot};
use kloset_host::{ContractError, Error, Resource};
use kloset_testkit::{Implementation, Registry, RegistryOptions};
use std::io::Read;

const READ: u32 = 1 << 2;
const READ_WRITE: u32 = (1 << 1) | (1 << 2);

fn mirror_of(upstream: &Registry, implementation: Implementation) -> Registry {
    Registry::start(RegistryOptions {
        implementation,
        proxy_remote: Some(upstream.url()),
        ..Default::default()
    })
}

fn reads_exactly_and_refuses_writes(implementation: Implementation) {
    let upstream = v3(true);
    let filled = HostFill::standard().fill(&upstream);
    let mirror = mirror_of(&upstream, implementation);
    let store = handle(&mirror, &filled.repo);

    // List and whole gets (each checked against its digest as it streams).
    Snapshot::read(&store)
        .expect("read through the mirror")
        .assert_same(&filled.expected, "through the mirror");
    // Ranged gets of the large objects, against the bytes written.
    for ((kind, k), seen) in filled
        .expected
        .objects
        .iter()
        .filter(|(_, s)| s.len > 8 << 20)
    {
        let seed = (0..10_000)
            .find(|&i| crate::registries::repo::key(i) == *k)
            .unwrap();
        let mut all = Vec::new();
        Pattern::new(seen.len, seed).read_to_end(&mut all).unwrap();
        for (at, len) in [
            (0u64, 4096u32),
            (seen.len / 2 + 1, 1 << 20),
            (seen.len - 10, 10),
        ] {
            let part = store.get(*kind, k, Some((at, len))).unwrap();
            assert!(
                part[..] == all[at as usize..(at + u64::from(len)) as usize],
                "ranged get at {at}+{len} of {kind} through the mirror"
            );
        }
    }

    assert_eq!(handle(&upstream, &filled.repo).mode().unwrap(), READ_WRITE);
    assert_eq!(store.mode().unwrap(), READ, "the mirror is read-only");

    let put = store.put_bytes(
        Resource::State,
        &crate::kit::mac(424242),
        b"through the mirror",
    );
    match put {
        Err(Error::Contract(ContractError::Unsupported(message))) => {
            assert!(message.contains("read-only"), "put: {message}");
            eprintln!("put through the mirror: {message}");
        }
        other => panic!("put through a mirror: {other:?}"),
    }
    let (kind, k) = *filled.expected.objects.keys().next().unwrap();
    match store.delete(kind, &k) {
        Err(Error::Contract(ContractError::Unsupported(message))) => {
            assert!(message.contains("read-only"), "delete: {message}");
            eprintln!("delete through the mirror: {message}");
        }
        other => panic!("delete through a mirror: {other:?}"),
    }
    // Nothing changed upstream.
    Snapshot::read(&handle(&upstream, &filled.repo))
        .unwrap()
        .assert_same(&filled.expected, "upstream after refused writes");
}

#[test]
fn a_distribution_v3_pull_through_cache_reads_exactly_and_refuses_writes() {
    reads_exactly_and_refuses_writes(Implementation::Distribution3);
}

#[test]
fn a_distribution_2_8_pull_through_cache_reads_exactly_and_refuses_writes() {
    reads_exactly_and_refuses_writes(Implementation::Distribution2);
}
