//! A repository to copy and read: how it is filled, and what a store reads
//! back from it.
//!
//! Everything after the fill judges a repository only by what a StoreHandle
//! reads from it ([`Snapshot::read`]): the configuration, and per kind every
//! listed key with the sha256 and length of its bytes. So a repository filled
//! any other way plugs in by implementing [`Fill`]: the plakar-level parts of
//! this work (a repository written by `plakar backup` through the storage
//! plugin) will add a `PlakarFill` beside [`HostFill`], and every copy and
//! mirror check below runs on it unchanged.

use crate::kit::{mac, sha256_of, Pattern};
use kloset_host::{Error, Mac, Resource, StoreHandle};
use kloset_testkit::component::plugin;
use kloset_testkit::{unique_repo, Registry};
use std::collections::BTreeMap;
use std::fmt;

/// The bytes of one object as a store reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub len: u64,
    pub sha256: [u8; 32],
}

/// What a store reads from a repository: its config and every live object.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub config: Vec<u8>,
    pub objects: BTreeMap<(Resource, Mac), Seen>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self.objects.values().map(|s| s.len).sum();
        write!(
            f,
            "Snapshot {{ config: {} bytes, {} objects, {bytes} bytes }}",
            self.config.len(),
            self.objects.len()
        )
    }
}

impl Snapshot {
    /// Opens the repository and reads every object of every kind, whole,
    /// through the store (so each is checked against its digest as it streams).
    pub fn read(store: &StoreHandle) -> Result<Snapshot, Error> {
        let config = store.open()?;
        let mut objects = BTreeMap::new();
        for kind in Resource::ALL {
            for key in store.list(kind)? {
                let reader = store.get_reader(kind, &key, None)?;
                let mut counted = Counted {
                    inner: reader,
                    len: 0,
                };
                let sha256 = sha256_of(&mut counted).map_err(kloset_host::store_error_from_io)?;
                objects.insert(
                    (kind, key),
                    Seen {
                        len: counted.len,
                        sha256,
                    },
                );
            }
        }
        Ok(Snapshot { config, objects })
    }

    pub fn total_bytes(&self) -> u64 {
        self.objects.values().map(|s| s.len).sum()
    }

    /// Panics, naming the first few differences, unless `self == other`.
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        if self == other {
            return;
        }
        assert_eq!(self.config, other.config, "{what}: the configs differ");
        let mut diffs = Vec::new();
        for (key, seen) in &self.objects {
            match other.objects.get(key) {
                None => diffs.push(format!("{} {} missing", key.0, hex::encode(key.1))),
                Some(o) if o != seen => {
                    diffs.push(format!("{} {} differs", key.0, hex::encode(key.1)))
                }
                Some(_) => {}
            }
        }
        for key in other
            .objects
            .keys()
            .filter(|k| !self.objects.contains_key(k))
        {
            diffs.push(format!("{} {} extra", key.0, hex::encode(key.1)));
        }
        panic!(
            "{what}: {} differences, first: {:?}",
            diffs.len(),
            &diffs[..diffs.len().min(5)]
        );
    }
}

struct Counted<R> {
    inner: R,
    len: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        Ok(n)
    }
}

/// A store configuration for `repo` in `registry`.
pub fn config(registry: &Registry, repo: &str) -> Vec<(String, String)> {
    registry.config(repo)
}

/// A handle on `repo` in `registry`.
pub fn handle(registry: &Registry, repo: &str) -> StoreHandle {
    StoreHandle::new(plugin(), &config(registry, repo)).expect("a valid configuration")
}

/// What a fill wrote: the repository and what a store must read from it, plus
/// the keys it deleted (which no copy may bring back).
pub struct Filled {
    pub repo: String,
    pub expected: Snapshot,
    pub deleted: Vec<(Resource, Mac)>,
}

/// A way to fill a fresh repository in a registry.
pub trait Fill {
    fn fill(&self, registry: &Registry) -> Filled;
}

/// Fills through the kloset-host library: objects of every kind, many small
/// ones (so tag lists span pages of 7) and a few of 9 to 70 MiB, then deletes
/// a few keys (tombstones on a registry without DELETE).
pub struct HostFill {
    /// Small objects per kind.
    pub small_per_kind: u64,
    /// Sizes of the large packfiles.
    pub large: Vec<usize>,
    /// How many of the small objects to delete after the fill.
    pub deletes: u64,
}

impl HostFill {
    /// The fill most tests use: 8 small objects of each kind (40), packfiles of
    /// 9, 24 and 70 MiB, 3 deletions.
    pub fn standard() -> HostFill {
        HostFill {
            small_per_kind: 8,
            large: vec![9 << 20, 24 << 20, 70 << 20],
            deletes: 3,
        }
    }

    /// No large objects: for checks that copy many times.
    pub fn small() -> HostFill {
        HostFill {
            small_per_kind: 4,
            large: Vec::new(),
            deletes: 2,
        }
    }
}

/// The MAC of the `i`th object a fill writes (distinct across fills' seeds).
pub fn key(i: u64) -> Mac {
    mac(0x5EED_0000 + i)
}

impl Fill for HostFill {
    fn fill(&self, registry: &Registry) -> Filled {
        let repo = unique_repo("registries");
        let store = handle(registry, &repo);
        let config = b"kloset configuration: filled by tests/store/registries".to_vec();
        store.create(&config).expect("create");
        let mut written = Vec::new();
        let mut i = 0;
        for kind in Resource::ALL {
            for _ in 0..self.small_per_kind {
                // 0 bytes to ~200 KiB: every kind's put path, one blob each.
                let len = (i * 7919 % 200_000) as usize * usize::from(i % 5 != 0);
                put(&store, kind, key(i), len, i);
                written.push((kind, key(i)));
                i += 1;
            }
        }
        for &len in &self.large {
            put(&store, Resource::Packfile, key(i), len, i);
            written.push((Resource::Packfile, key(i)));
            i += 1;
        }
        // Delete from the small ones, never a large one (they are what the
        // ranged checks read).
        let deleted: Vec<_> = written
            .iter()
            .step_by(5)
            .take(self.deletes as usize)
            .copied()
            .collect();
        for (kind, k) in &deleted {
            store.delete(*kind, k).expect("delete");
        }
        let expected =
            Snapshot::read(&handle(registry, &repo)).expect("read the filled repository");
        assert_eq!(expected.config, config);
        assert_eq!(
            expected.objects.len(),
            written.len() - deleted.len(),
            "every written key but the deleted ones is listed"
        );
        Filled {
            repo,
            expected,
            deleted,
        }
    }
}

/// Puts `len` pseudo-random bytes (seed `seed`) under `key`.
pub fn put(store: &StoreHandle, kind: Resource, key: Mac, len: usize, seed: u64) {
    store
        .put(kind, &key, Pattern::new(len as u64, seed))
        .unwrap_or_else(|e| panic!("put {kind} of {len} bytes: {e}"));
}

/// The page size of every v3 registry here: small, so listings page.
pub const MAX_TAGS: u32 = crate::kit::V3_MAX_TAGS;

/// A distribution v3 registry with `tags.maxtags` [`MAX_TAGS`].
pub fn v3(deletes: bool) -> Registry {
    Registry::v3(MAX_TAGS, deletes)
}

/// Every tag of `repo`, read straight from the registry with `n=1000`,
/// following `Link`; and how many requests that took.
pub fn raw_tags(registry: &Registry, repo: &str) -> (Vec<String>, usize) {
    registry.tags(repo, &[])
}
