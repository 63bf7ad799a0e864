//! Where the bytes of immutable objects are, kept for a handle's instances
//! and across processes, and the keys every instance must forget.
//!
//! Reading an object costs a manifest GET before the blob GET, and Docker
//! Hub counts every manifest GET as a pull against an hourly budget
//! (docs/registries.md). A component instance remembers the manifest ->
//! blob mapping of the objects whose bytes never change (all but locks),
//! but plakar starts a new plugin for every command, so each restore paid
//! one manifest GET per packfile again. The handle now keeps what its
//! instances learnt (`known-blob`), teaches it to the instance that reads
//! next (`teach-blob`), and keeps it in one file per repository beside the
//! compilation cache (`blob_map`).
//!
//! Nothing here is trusted blindly: a taught mapping whose blob is gone
//! makes the component read the manifest again, and a whole read checks
//! the bytes against the digest. A file that is not exactly what this
//! module writes (its own sha256 at the end) is ignored and replaced; one
//! another user owns, or others may write, is ignored, as a compilation
//! cache is ([`crate::plugin::cache_dir`]).
//!
//! The same books say which keys were deleted or put through the handle
//! since an instance last looked: each such change is numbered, and an
//! instance forgets every key changed after the number it last saw before
//! it reads (`forget-blob`), so no instance serves a mapping another one
//! deleted.
//!
//! Readers of one object often come at once (plakar's engine reads up to
//! 64 ranges in parallel, each on an instance of its own), before any
//! instance has learnt where its blob is: each used to ask its manifest
//! for itself. Now the first reader of a key nobody knows holds it
//! ([`BlobMap::learn_or_wait`]) while it reads, and the others wait for
//! it, then are taught what it learnt: one manifest GET between them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::configure::Placement;
use crate::{Mac, Resource};

/// Most mappings kept, in memory and on disk: 200,000 packfiles of 64 MiB
/// at most (plakar's largest) name over 12 TB; 16,000 make about 1 TB.
/// At 73 bytes each, a full map is 14.6 MB on disk and about 30 MB in
/// memory. Past it, the oldest-learnt fifth is dropped: reading one of
/// those again costs its manifest GET, nothing else.
pub const MAX_ENTRIES: usize = 200_000;

/// New mappings between two writes of the file, so a command killed
/// midway keeps most of what it learnt.
pub const SAVE_EVERY: usize = 1_000;

/// Changed keys remembered for instances that have not looked yet. An
/// instance further behind is dropped rather than trusted.
const MAX_CHANGES: usize = 16_384;

/// Longest a reader waits for another one learning the same key. The
/// learner holds the key from before it takes an instance (which may wait
/// up to `instance_wait`) until its read ends (which the component's
/// `deadline` bounds); this bound keeps a learner stuck in either from
/// holding the others that long: past it, each asks for itself (a manifest
/// GET, nothing else).
const LEARN_WAIT: Duration = Duration::from_secs(30);

/// The start of every file, then entries, then the sha256 of all before.
const MAGIC: &[u8] = b"kloset-host blob map v1\n";

/// One entry on disk: kind, MAC, the blob's sha256, its size (LE).
const ENTRY: usize = 1 + 32 + 32 + 8;

/// The largest file read: a full map.
const MAX_FILE: u64 = (MAGIC.len() + MAX_ENTRIES * ENTRY + 32) as u64;

/// A blob as the component names it: `sha256:<hex>` and a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
}

/// What an instance must do before it reads.
#[derive(Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// Forget these keys, then it has seen every change up to `seen`.
    Forget {
        keys: Vec<(Resource, Mac)>,
        seen: u64,
    },
    /// It is further behind than the changes kept: drop it.
    TooFarBehind,
}

/// A key of the map.
type Key = (Resource, Mac);

struct Entry {
    digest: [u8; 32],
    size: u64,
    /// When it was learnt, for dropping the oldest.
    stamp: u64,
}

/// The mappings and changed keys of one handle.
pub struct BlobMap {
    inner: Mutex<Inner>,
    /// Signalled when a reader stops learning a key ([`Learning`] dropped).
    learnt: Condvar,
}

/// A key one reader is learning (its blob known to nobody yet): other
/// readers of it wait in [`BlobMap::learn_or_wait`] until this is dropped,
/// which the reader does once it has recorded what it learnt, or failed.
#[must_use = "other readers of the key wait until it is dropped"]
pub struct Learning<'a> {
    map: &'a BlobMap,
    key: Key,
}

impl Drop for Learning<'_> {
    fn drop(&mut self) {
        self.map.lock().learning.remove(&self.key);
        self.map.learnt.notify_all();
    }
}

struct Inner {
    /// The file's directory and name; `None` when kept in memory only.
    file: Option<(PathBuf, String)>,
    /// The file was read (lazily, at the first lookup).
    loaded: bool,
    entries: HashMap<Key, Entry>,
    clock: u64,
    /// Mappings learnt since the file was last written.
    unsaved: usize,
    /// Keys deleted or put here: a mapping the file holds for one of them
    /// is not taken back when the file is merged.
    changed_here: HashSet<Key>,
    /// The latest changes, numbered, oldest first.
    changes: VecDeque<(u64, Key)>,
    /// The number of the latest change.
    epoch: u64,
    /// Keys a reader is learning now ([`Learning`]).
    learning: HashSet<Key>,
    /// Readers waiting for one of them (for the tests to see).
    waiting: usize,
}

impl BlobMap {
    /// A map kept in the file `name` of `dir` (`None`: in memory only).
    /// Reads nothing yet.
    pub fn new(file: Option<(PathBuf, String)>) -> BlobMap {
        BlobMap {
            inner: Mutex::new(Inner {
                file,
                loaded: false,
                entries: HashMap::new(),
                clock: 0,
                unsaved: 0,
                changed_here: HashSet::new(),
                changes: VecDeque::new(),
                epoch: 0,
                learning: HashSet::new(),
                waiting: 0,
            }),
            learnt: Condvar::new(),
        }
    }

    /// The map of the repository `identity` (registry, repository,
    /// prefix) placed as asked; in memory only when off, or when the
    /// directory cannot be trusted (said once on stderr).
    pub fn for_repository(placement: &Placement, identity: &str) -> BlobMap {
        let dir = match placement {
            Placement::Off => None,
            Placement::Dir(dir) => Some(dir.clone()),
            Placement::Beside => crate::plugin::cache::cache_dir().map(|d| d.join("blob-maps")),
        };
        BlobMap::new(dir.map(|dir| (dir, file_name(identity))))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of the latest change: what a new instance has seen.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// What an instance that saw every change up to `seen` must forget.
    pub fn catch_up(&self, seen: u64) -> CatchUp {
        let inner = self.lock();
        let oldest_kept = inner.changes.front().map_or(inner.epoch + 1, |c| c.0);
        if seen + 1 < oldest_kept {
            return CatchUp::TooFarBehind;
        }
        let keys = inner
            .changes
            .iter()
            .filter(|(n, _)| *n > seen)
            .map(|(_, key)| *key)
            .collect();
        CatchUp::Forget {
            keys,
            seen: inner.epoch,
        }
    }

    /// Called before reading `kind`/`mac`, before taking an instance (a
    /// reader waiting here holds none). When no mapping of an immutable
    /// key is known, the first reader gets a [`Learning`] to hold while it
    /// reads, and each other reader waits here until it is dropped (at most
    /// [`LEARN_WAIT`]), then goes on with whatever [`BlobMap::lookup`]
    /// finds: the mapping learnt, or nothing if that read failed (each then
    /// reads for itself). `None` when the key is known, a lock, or waited
    /// for.
    pub fn learn_or_wait(&self, kind: Resource, mac: &Mac) -> Option<Learning<'_>> {
        if !kind.is_immutable() {
            return None;
        }
        let key = (kind, *mac);
        let mut inner = self.lock();
        inner.load();
        if inner.entries.contains_key(&key) {
            return None;
        }
        if inner.learning.insert(key) {
            return Some(Learning { map: self, key });
        }
        let deadline = Instant::now() + LEARN_WAIT;
        inner.waiting += 1;
        while inner.learning.contains(&key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .learnt
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        inner.waiting -= 1;
        None
    }

    /// Where `kind`/`mac`'s bytes were last known to be.
    pub fn lookup(&self, kind: Resource, mac: &Mac) -> Option<BlobRef> {
        let mut inner = self.lock();
        inner.load();
        inner.entries.get(&(kind, *mac)).map(|e| BlobRef {
            digest: format!("sha256:{}", to_hex(&e.digest)),
            size: e.size,
        })
    }

    /// Records what an instance knew after reading or writing `kind`/`mac`,
    /// unless the key changed after change `seen` (a delete racing the
    /// read: its mapping must not come back). Writes the file every
    /// [`SAVE_EVERY`] new mappings.
    pub fn learnt(&self, kind: Resource, mac: &Mac, blob: &BlobRef, seen: u64) {
        let Some(digest) = sha256_bytes(&blob.digest) else {
            return;
        };
        if !kind.is_immutable() {
            return;
        }
        let save = {
            let mut inner = self.lock();
            if inner
                .changes
                .iter()
                .any(|(n, key)| *n > seen && *key == (kind, *mac))
            {
                return;
            }
            inner.load();
            let same = inner
                .entries
                .get(&(kind, *mac))
                .is_some_and(|e| e.digest == digest && e.size == blob.size);
            if same {
                return;
            }
            inner.insert((kind, *mac), digest, blob.size);
            inner.unsaved += 1;
            inner.unsaved >= SAVE_EVERY
        };
        if save {
            self.save();
        }
    }

    /// `kind`/`mac` was deleted or put: no instance may keep its old
    /// mapping, nor may the file.
    pub fn changed(&self, kind: Resource, mac: &Mac) {
        // A lock's blob is never remembered anywhere.
        if !kind.is_immutable() {
            return;
        }
        let mut inner = self.lock();
        inner.epoch += 1;
        let epoch = inner.epoch;
        inner.changes.push_back((epoch, (kind, *mac)));
        if inner.changes.len() > MAX_CHANGES {
            inner.changes.pop_front();
        }
        inner.changed_here.insert((kind, *mac));
        if inner.entries.remove(&(kind, *mac)).is_some() {
            inner.unsaved += 1;
        }
    }

    /// Writes the file, merged with what other processes wrote to it
    /// since it was read, if anything changed here. A file that cannot be
    /// written only costs requests later.
    pub fn save(&self) {
        let mut inner = self.lock();
        if inner.unsaved == 0 || !inner.loaded {
            return;
        }
        let Some((dir, name)) = inner.file.clone() else {
            inner.unsaved = 0;
            return;
        };
        let Some(dir) = open_dir(&dir) else {
            return;
        };
        // Another command may have written since: keep what it learnt,
        // as older than anything learnt here.
        let theirs: Vec<_> = read_file(&dir, &name)
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _, _)| {
                !inner.entries.contains_key(key) && !inner.changed_here.contains(key)
            })
            .collect();
        if !theirs.is_empty() {
            let mut ours: Vec<(Key, Entry)> = inner.entries.drain().collect();
            ours.sort_unstable_by_key(|(_, e)| e.stamp);
            inner.clock = 0;
            for (key, digest, size) in theirs {
                inner.insert(key, digest, size);
            }
            for (key, entry) in ours {
                inner.insert(key, entry.digest, entry.size);
            }
        }
        let bytes = inner.encode();
        inner.unsaved = 0;
        drop(inner);
        let _ = write_atomically(&dir, &name, &bytes);
    }

    /// Mappings held now (the file's included once read).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Readers waiting in [`BlobMap::learn_or_wait`] now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

impl Inner {
    /// Reads the file once, if it is there and trusted.
    fn load(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let Some((dir, name)) = self.file.clone() else {
            return;
        };
        let Some(dir) = open_dir(&dir) else {
            self.file = None;
            return;
        };
        for (key, digest, size) in read_file(&dir, &name).unwrap_or_default() {
            if !self.entries.contains_key(&key) && !self.changed_here.contains(&key) {
                self.insert(key, digest, size);
            }
        }
    }

    fn insert(&mut self, key: Key, digest: [u8; 32], size: u64) {
        self.clock += 1;
        let stamp = self.clock;
        self.entries.insert(
            key,
            Entry {
                digest,
                size,
                stamp,
            },
        );
        self.bound();
    }

    /// Drops the oldest fifth past [`MAX_ENTRIES`].
    fn bound(&mut self) {
        if self.entries.len() <= MAX_ENTRIES {
            return;
        }
        let mut stamps: Vec<u64> = self.entries.values().map(|e| e.stamp).collect();
        let cut = stamps.len() / 5;
        let (_, &mut limit, _) = stamps.select_nth_unstable(cut);
        self.entries.retain(|_, e| e.stamp > limit);
    }

    /// The file's bytes: entries oldest first, then the checksum.
    fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(&Key, &Entry)> = self.entries.iter().collect();
        entries.sort_unstable_by_key(|(_, e)| e.stamp);
        let mut bytes = Vec::with_capacity(MAGIC.len() + entries.len() * ENTRY + 32);
        bytes.extend_from_slice(MAGIC);
        for ((kind, mac), entry) in entries {
            bytes.push(kind_byte(*kind));
            bytes.extend_from_slice(&mac.0);
            bytes.extend_from_slice(&entry.digest);
            bytes.extend_from_slice(&entry.size.to_le_bytes());
        }
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        bytes
    }
}

/// The file name of a repository's map: a hash of its identity, so no
/// registry or repository name reaches a path.
pub fn file_name(identity: &str) -> String {
    let sum = Sha256::digest(format!("kloset-host blob map\n{identity}").as_bytes());
    format!("{}.map", to_hex(&sum[..16]))
}

/// The map directory, opened, if it is this user's and nobody else may
/// write it (the compilation cache's rule; created `0700` if missing);
/// else `None`, said once on stderr.
fn open_dir(dir: &Path) -> Option<OwnedFd> {
    match crate::plugin::cache_dir::open(dir) {
        Ok(fd) => Some(fd),
        Err(why) => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "kloset-host: warning: not keeping blob mappings in {}: {why}",
                    crate::echo::path(dir)
                );
            });
            None
        }
    }
}

/// The entries of the map file `name` in `dir`, oldest first: `None` when
/// it is missing, not a regular file of this user's that nobody else may
/// write with one name (the compilation cache's entry rule), larger than
/// a full map, or not exactly what [`Inner::encode`] writes.
pub fn read_file(dir: &OwnedFd, name: &str) -> Option<Vec<(Key, [u8; 32], u64)>> {
    let file = crate::plugin::cache_dir::open_entry(dir, name)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).ok()?;
    decode(&bytes)
}

fn decode(bytes: &[u8]) -> Option<Vec<(Key, [u8; 32], u64)>> {
    if bytes.len() as u64 > MAX_FILE || bytes.len() < MAGIC.len() + 32 {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum || !body.starts_with(MAGIC) {
        return None;
    }
    let entries = &body[MAGIC.len()..];
    if entries.len() % ENTRY != 0 {
        return None;
    }
    entries
        .chunks_exact(ENTRY)
        .map(|e| {
            let kind = kind_of(e[0])?;
            let mac = Mac(e[1..33].try_into().ok()?);
            let digest: [u8; 32] = e[33..65].try_into().ok()?;
            let size = u64::from_le_bytes(e[65..73].try_into().ok()?);
            Some(((kind, mac), digest, size))
        })
        .collect()
}

/// Writes `bytes` to a new file in `dir`, then renames it over `name`: a
/// reader sees the old file or the new one, never part of one. Not
/// synced: a crash may leave an empty or cut file, which fails its
/// checksum and is ignored, costing requests only.
fn write_atomically(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temp = format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::RUSR | Mode::WUSR;
    let written = rustix::fs::openat(dir, temp.as_str(), flags, mode)
        .map_err(std::io::Error::from)
        .and_then(|fd| fs::File::from(fd).write_all(bytes))
        .and_then(|()| {
            rustix::fs::renameat(dir, temp.as_str(), dir, name).map_err(std::io::Error::from)
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), rustix::fs::AtFlags::empty());
    }
    written
}

static TEMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The stable byte of each kind on disk (locks are never kept).
fn kind_byte(kind: Resource) -> u8 {
    match kind {
        Resource::Packfile => 1,
        Resource::State => 2,
        Resource::Lock => 3,
        Resource::EccPackfile => 4,
        Resource::EccState => 5,
    }
}

fn kind_of(byte: u8) -> Option<Resource> {
    match byte {
        1 => Some(Resource::Packfile),
        2 => Some(Resource::State),
        4 => Some(Resource::EccPackfile),
        5 => Some(Resource::EccState),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of `sha256:<64 lowercase hex>`, or `None`.
fn sha256_bytes(digest: &str) -> Option<[u8; 32]> {
    if !kloset_oci::digest::is_sha256_digest(digest) {
        return None;
    }
    let hex = &digest["sha256:".len()..];
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[path = "blob_map_tests.rs"]
mod tests;
