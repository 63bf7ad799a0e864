//! The public face of a configured store: one method per WIT function, each
//! run on an instance from the handle's pool.

use std::io::Read;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::configure::prepare::prepare;
use crate::configure::Limits;
use crate::egress::RequestCounts;
use crate::plugin::bindings::WitBlobRef;
use crate::plugin::blob_map::{BlobMap, BlobRef, CatchUp, Learning};
use crate::plugin::convert::{byte_range, mac_from_wit};
use crate::plugin::instance::Recipe;
use crate::plugin::pool::{Lease, Pool};
use crate::store::put_slots::{PutSlots, MAX_PUTS};
use crate::store::read_cache::{Prefetch, ReadCache};
use crate::store::reader::{store_error_from_io, ObjectReader};
use crate::{ContractError, Error, Mac, Plugin, Resource};
use kloset_oci::digest::StreamingDigest;

/// Bytes handed to the component per `writer.write` call.
const WRITE_CHUNK: usize = 1 << 20;

/// Most `get` reserves up front for a ranged read.
const MAX_PREALLOC: usize = 64 << 20;

/// A configured store, usable from many threads at once.
pub struct StoreHandle {
    pub(super) pool: Arc<Pool>,
    pub(super) requests: Arc<RequestCounts>,
    pub(super) peak: Arc<AtomicUsize>,
    limits: Limits,
    /// Blocks of packfiles kept for ranged reads (`read_cache`).
    pub(super) read_cache: Arc<ReadCache>,
    /// Where immutable objects' bytes are, across instances and processes
    /// (`blob_map`), and the keys deleted or put that every instance must
    /// forget.
    blobs: Arc<BlobMap>,
    /// Puts run at once at most ([`MAX_PUTS`]), each holding an instance
    /// grown to its upload's buffer.
    put_slots: PutSlots,
}

// Configuration values may hold credentials: never print them.
impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl StoreHandle {
    /// Configures a store. Host keys (`tls_ca_file`, `tls_insecure_no_verify`,
    /// `docker_config`, `password_file` and the limits: docs/configuration.md,
    /// host-level keys) are consumed here; the rest goes to the component's
    /// `from-config`, called right away so a bad configuration fails here.
    /// Only then, when the store has no credentials of its own, is the
    /// Docker login for its registry looked up (which may run a credential
    /// helper) and added.
    pub fn new(plugin: &Plugin, config: &[(String, String)]) -> Result<StoreHandle, Error> {
        let requests = Arc::new(RequestCounts::default());
        let peak = Arc::new(AtomicUsize::new(0));
        let mut prepared = prepare(config, requests.clone())?;
        let limits = prepared.limits;
        let egress = prepared.egress.clone();
        let blobs = Arc::new(
            match prepared.settings.as_ref().ok().map(repository_identity) {
                Some(identity) => BlobMap::for_repository(&prepared.blob_map, &identity),
                None => BlobMap::new(None),
            },
        );
        let pool = |guest: Vec<(String, String)>| {
            Pool::new(
                Recipe {
                    plugin: plugin.clone(),
                    egress: egress.clone(),
                    peak: peak.clone(),
                    config: guest,
                    max_memory: limits.max_guest_memory,
                    blobs: blobs.clone(),
                },
                limits.max_instances,
                limits.instance_wait,
            )
        };
        let mut validated = pool(prepared.guest.clone());
        drop(validated.acquire()?);
        if prepared.add_docker_login()? {
            validated = pool(prepared.guest.clone());
            drop(validated.acquire()?);
        }
        Ok(StoreHandle {
            pool: validated,
            requests,
            peak,
            limits,
            read_cache: Arc::new(ReadCache::new(limits.read_cache)),
            blobs,
            put_slots: PutSlots::new(MAX_PUTS),
        })
    }

    fn lease(&self) -> Result<Lease, Error> {
        self.pool.acquire()
    }

    pub fn create(&self, config: &[u8]) -> Result<(), Error> {
        self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_create(store, res, config)
        })
    }

    pub fn open(&self) -> Result<Vec<u8>, Error> {
        self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_open(store, res)
        })
    }

    pub fn ping(&self) -> Result<(), Error> {
        self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_ping(store, res)
        })
    }

    pub fn origin(&self) -> Result<String, Error> {
        self.lease()?.call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_origin(store, res)
        })
    }

    pub fn store_type(&self) -> Result<String, Error> {
        self.lease()?.call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_type(store, res)
        })
    }

    pub fn root(&self) -> Result<String, Error> {
        self.lease()?.call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_root(store, res)
        })
    }

    pub fn flags(&self) -> Result<u32, Error> {
        self.lease()?.call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_flags(store, res)
        })
    }

    pub fn mode(&self) -> Result<u32, Error> {
        self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_mode(store, res)
        })
    }

    pub fn size(&self) -> Result<u64, Error> {
        self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_size(store, res)
        })
    }

    pub fn list(&self, kind: Resource) -> Result<Vec<Mac>, Error> {
        let keys = self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store().call_list(store, res, kind.into())
        })?;
        keys.into_iter().map(mac_from_wit).collect()
    }

    /// One object's size in bytes (`not-found` when it does not exist).
    pub fn object_size(&self, kind: Resource, mac: &Mac) -> Result<u64, Error> {
        let (mut lease, seen, learning) = lease_to_read(&self.pool, &self.blobs, kind, mac)?;
        let size = lease.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store()
                .call_object_size(store, res, kind.into(), &mac.0.to_vec())
        });
        learn_after_read(&mut lease, &self.blobs, kind, mac, seen, &size);
        drop(learning);
        size
    }

    /// Reads `length` bytes at `offset` of an object into memory. A
    /// packfile's range is served from the handle's blocks of packfiles
    /// (the `read_cache` option, [`crate::store::read_cache`]), fetched a
    /// block at a time: plakar's small reads near each other cost one
    /// request. Other kinds are read as asked.
    pub fn read_range(
        &self,
        kind: Resource,
        mac: &Mac,
        offset: u64,
        length: u32,
    ) -> Result<Vec<u8>, Error> {
        let mut pieces = self.read_range_pieces(kind, mac, offset, length)?;
        Ok(match pieces.len() {
            1 => Vec::from(pieces.remove(0)),
            _ => pieces.concat(),
        })
    }

    /// [`Self::read_range`] as slices of the blocks that hold the range,
    /// in order, shared with them rather than copied.
    pub(super) fn read_range_pieces(
        &self,
        kind: Resource,
        mac: &Mac,
        offset: u64,
        length: u32,
    ) -> Result<Vec<Bytes>, Error> {
        let fetch = |at, len| read_exact(&self.pool, &self.blobs, kind, mac, at, len);
        if kind != Resource::Packfile {
            return fetch(offset, length).map(|bytes| vec![Bytes::from(bytes)]);
        }
        let read =
            self.read_cache
                .read(mac, offset, length, || self.object_size(kind, mac), fetch)?;
        self.read_ahead(read.prefetches);
        Ok(read.pieces)
    }

    /// Starts each read ahead of a reader on a thread of its own, so they
    /// run at once. Each outcome, failure included, always goes back to
    /// the blocks: readers wait for the blocks in flight until then.
    fn read_ahead(&self, prefetches: Vec<Prefetch>) {
        for prefetch in prefetches {
            self.read_ahead_one(prefetch);
        }
    }

    fn read_ahead_one(&self, prefetch: Prefetch) {
        // Owned by whichever completes it: the thread, or this one when
        // no thread can be started (the refused closure is dropped).
        let slot = Arc::new(Mutex::new(Some(prefetch)));
        let started = std::thread::Builder::new()
            .name("kloset-read-ahead".into())
            .spawn({
                let (slot, pool, blocks, blobs) = (
                    slot.clone(),
                    self.pool.clone(),
                    self.read_cache.clone(),
                    self.blobs.clone(),
                );
                move || {
                    let Some(prefetch) = take(&slot) else { return };
                    let (offset, length) = prefetch.range();
                    let mac = *prefetch.mac();
                    // A failure or a panic keeps nothing: the reader
                    // reads the block itself and meets the error, if any.
                    let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read_exact(&pool, &blobs, Resource::Packfile, &mac, offset, length)
                    }));
                    blocks.complete(prefetch, fetched.ok().and_then(Result::ok));
                }
            });
        if started.is_err() {
            if let Some(prefetch) = take(&slot) {
                self.read_cache.complete(prefetch, None);
            }
        }
    }

    /// A packfile's range, as slices of the handle's blocks, if they hold
    /// all of it, else `None`. Sends no request itself (it may start a
    /// read ahead on a thread of its own): [`StoreHandle::serve`] answers
    /// with it at once.
    pub(super) fn cached_range(
        &self,
        kind: Resource,
        mac: &Mac,
        offset: u64,
        length: u32,
    ) -> Option<Vec<Bytes>> {
        if kind != Resource::Packfile {
            return None;
        }
        let read = self.read_cache.cached(mac, offset, length)?;
        self.read_ahead(read.prefetches);
        Some(read.pieces)
    }

    /// Whether [`StoreHandle::read_range`] serves this range from the
    /// handle's blocks (else it reads it whole from the registry, as
    /// asked): [`StoreHandle::serve`] streams the others instead.
    pub(super) fn keeps_range(&self, kind: Resource, offset: u64, length: u32) -> bool {
        kind == Resource::Packfile && self.read_cache.keeps(offset, length)
    }

    /// Streams `data` into the component in 1 MiB chunks and returns the
    /// bytes stored. If `data` fails, the writer is dropped without `finish`
    /// (the component abandons the object) and [`Error::Input`] returned.
    ///
    /// The bytes are hashed here, natively, as they pass, and the digest
    /// handed to the component at the end (WIT `put-hashed`), which then
    /// hashes nothing: sha2 picks SHA-NI at run time where the CPU has it,
    /// about five times the component's speed in wasm. The registry checks
    /// the digest against the bytes it received (docs/architecture.md).
    pub fn put(&self, kind: Resource, mac: &Mac, data: impl Read) -> Result<u64, Error> {
        self.put_handing(kind, mac, data, None)
    }

    /// [`Self::put`], handing the component `digest` instead of the bytes'
    /// own when one is given (for the tests' instrument
    /// `put_handing_digest`).
    pub(super) fn put_handing(
        &self,
        kind: Resource,
        mac: &Mac,
        data: impl Read,
        digest: Option<&str>,
    ) -> Result<u64, Error> {
        // A lock is a few hundred bytes, and plakar refreshes it on time:
        // it never waits behind packfiles.
        let _slot = (kind != Resource::Lock).then(|| self.put_slots.take());
        // Whatever is written under the MAC is what later reads see.
        if kind == Resource::Packfile {
            self.read_cache.forget(mac);
        }
        let mut lease = self.lease()?;
        let writer = lease.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store()
                .call_put_hashed(store, res, kind.into(), &mac.0.to_vec())
        })?;
        // A caller's reader that panics leaves an upload session open in the
        // instance: drop the writer (the component cancels the session),
        // discard the instance, and let the panic go on.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_all(&mut lease, writer, data, digest)
        }));
        let written = match written {
            Ok(written) => written,
            Err(panic) => {
                if !lease.is_poisoned() {
                    let _ = lease.call(|i| writer.resource_drop(i.parts().1));
                }
                lease.discard();
                std::panic::resume_unwind(panic);
            }
        };
        if lease.is_poisoned() {
            return written;
        }
        let dropped = lease.call(|i| writer.resource_drop(i.parts().1));
        // Again once written: a read racing the put kept nothing of it.
        if kind == Resource::Packfile {
            self.read_cache.forget(mac);
        }
        // Every other instance forgets what it knew of the key (even after
        // a failure, which may have replaced it), then learns the new blob
        // from this one.
        self.blobs.changed(kind, mac);
        let seen = self.blobs.epoch();
        if written.is_ok() && dropped.is_ok() {
            if let Some(blob) = known_blob(&mut lease, kind, mac) {
                self.blobs.learnt(kind, mac, &blob, seen);
            }
        }
        let written = written?;
        dropped.map(|()| written)
    }

    pub fn put_bytes(&self, kind: Resource, mac: &Mac, data: &[u8]) -> Result<u64, Error> {
        self.put(kind, mac, data)
    }

    /// Opens an object (or `(offset, length)` of it) for reading.
    pub fn get_reader(
        &self,
        kind: Resource,
        mac: &Mac,
        range: Option<(u64, u32)>,
    ) -> Result<ObjectReader, Error> {
        open_reader(&self.pool, &self.blobs, kind, mac, range)
    }

    /// Reads an object (or a range of it) whole, into host memory: a range
    /// of at most its length (more is an `integrity` error), an object of
    /// at most `max_get_size` (1 GiB unless configured; more is
    /// [`Error::TooLarge`]). Stream larger ones with
    /// [`StoreHandle::get_reader`].
    pub fn get(
        &self,
        kind: Resource,
        mac: &Mac,
        range: Option<(u64, u32)>,
    ) -> Result<Vec<u8>, Error> {
        let mut reader = self.get_reader(kind, mac, range)?;
        // Sized for the range, but not blindly: a range may run past the end.
        let expected = range.map_or(0, |(_, len)| len as usize).min(MAX_PREALLOC);
        let mut bytes = Vec::with_capacity(expected);
        let limit = range.map_or(self.limits.max_get_size, |(_, len)| u64::from(len));
        let within = reader
            .read_to_end_within(&mut bytes, limit)
            .map_err(store_error_from_io)?;
        if !within {
            return Err(match range {
                Some((_, len)) => Error::Contract(ContractError::Integrity(format!(
                    "the component returned more than the {len} bytes of the range"
                ))),
                None => Error::TooLarge { limit }.into(),
            });
        }
        Ok(bytes)
    }

    pub fn delete(&self, kind: Resource, mac: &Mac) -> Result<(), Error> {
        let deleted = self.lease()?.try_call(|i| {
            let (api, store, res) = i.parts();
            api.store()
                .call_delete(store, res, kind.into(), &mac.0.to_vec())
        });
        // After the delete, so a read racing it cannot keep blocks of it.
        if kind == Resource::Packfile {
            self.read_cache.forget(mac);
        }
        // Likewise every instance's mapping, and the handle's (even after
        // a failure, which may have deleted it).
        self.blobs.changed(kind, mac);
        deleted
    }

    /// Calls `close` on every instance of the handle (those in use when they
    /// next come back into use). Later calls get the component's answer for
    /// a closed store.
    pub fn close(&self) -> Result<(), Error> {
        self.blobs.save();
        self.pool.close_all()
    }
}

impl Drop for StoreHandle {
    /// Keeps what was learnt for the next process.
    fn drop(&mut self) {
        self.blobs.save();
    }
}

/// `registry + repository + prefix` as the component reads them from its
/// configuration: what one repository's blob mappings are kept under.
fn repository_identity(config: &kloset_oci::config::StoreConfig) -> String {
    format!(
        "{}\n{}\n{}",
        config.base_url(),
        config.repository,
        config.prefix.as_deref().unwrap_or("")
    )
}

/// An instance ready to read `kind`/`mac`: it has forgotten every key
/// deleted or put through another instance since it last looked, and been
/// told where the object's bytes are if the handle knows. Returns the
/// last change it saw, for [`learn_after_read`], and, when this read is
/// the one learning where the object's bytes are, the [`Learning`] to drop
/// after it: readers of the same object on other instances wait for that
/// rather than each asking its manifest.
fn lease_to_read<'b>(
    pool: &Arc<Pool>,
    blobs: &'b BlobMap,
    kind: Resource,
    mac: &Mac,
) -> Result<(Lease, u64, Option<Learning<'b>>), Error> {
    // Before taking an instance: a reader waiting holds none.
    let learning = blobs.learn_or_wait(kind, mac);
    loop {
        let mut lease = pool.acquire()?;
        let seen = match blobs.catch_up(lease.instance().changes_seen) {
            // More changes than are kept: a new instance knows nothing.
            CatchUp::TooFarBehind => {
                lease.discard();
                continue;
            }
            CatchUp::Forget { keys, seen } => {
                for (kind, mac) in keys {
                    lease.try_call(|i| {
                        let (api, store, res) = i.parts();
                        api.store()
                            .call_forget_blob(store, res, kind.into(), &mac.0.to_vec())
                    })?;
                }
                seen
            }
        };
        lease.instance().changes_seen = seen;
        if kind.is_immutable() {
            if let Some(blob) = blobs.lookup(kind, mac) {
                let blob = WitBlobRef {
                    digest: blob.digest,
                    size: blob.size,
                };
                // A refused hint (a closed store) only costs the manifest.
                let _ = lease.try_call(|i| {
                    let (api, store, res) = i.parts();
                    api.store()
                        .call_teach_blob(store, res, kind.into(), &mac.0.to_vec(), &blob)
                });
            }
        }
        return Ok((lease, seen, learning));
    }
}

/// Keeps what the instance knows of `kind`/`mac`'s blob after a read; a
/// read that found nothing drops the handle's mapping and every
/// instance's.
fn learn_after_read<T>(
    lease: &mut Lease,
    blobs: &BlobMap,
    kind: Resource,
    mac: &Mac,
    seen: u64,
    outcome: &Result<T, Error>,
) {
    if !kind.is_immutable() {
        return;
    }
    match outcome {
        Ok(_) => {
            if let Some(blob) = known_blob(lease, kind, mac) {
                blobs.learnt(kind, mac, &blob, seen);
            }
        }
        Err(Error::Contract(ContractError::NotFound(_))) => blobs.changed(kind, mac),
        Err(_) => {}
    }
}

/// What the instance knows of `kind`/`mac`'s blob (no request).
fn known_blob(lease: &mut Lease, kind: Resource, mac: &Mac) -> Option<BlobRef> {
    if lease.is_poisoned() {
        return None;
    }
    let known = lease
        .call(|i| {
            let (api, store, res) = i.parts();
            api.store()
                .call_known_blob(store, res, kind.into(), &mac.0.to_vec())
        })
        .ok()??;
    Some(BlobRef {
        digest: known.digest,
        size: known.size,
    })
}

/// Opens an object (or `(offset, length)` of it) on an instance of `pool`:
/// the handle's `get_reader`, and its read aheads' threads, which hold the
/// pool but not the handle.
fn open_reader(
    pool: &Arc<Pool>,
    blobs: &BlobMap,
    kind: Resource,
    mac: &Mac,
    range: Option<(u64, u32)>,
) -> Result<ObjectReader, Error> {
    let (mut lease, seen, learning) = lease_to_read(pool, blobs, kind, mac)?;
    let reader = lease.try_call(|i| {
        let (api, store, res) = i.parts();
        api.store()
            .call_get(store, res, kind.into(), &mac.0.to_vec(), byte_range(range))
    });
    learn_after_read(&mut lease, blobs, kind, mac, seen, &reader);
    drop(learning);
    Ok(ObjectReader::new(lease, reader?))
}

/// Reads exactly `length` bytes at `offset` of an object, on an instance
/// of `pool`. The one check of a ranged read's length in the host: the
/// handle's blocks (`read_cache`), its reads ahead and the plugin take
/// what this returns as it is.
fn read_exact(
    pool: &Arc<Pool>,
    blobs: &BlobMap,
    kind: Resource,
    mac: &Mac,
    offset: u64,
    length: u32,
) -> Result<Vec<u8>, Error> {
    let mut reader = open_reader(pool, blobs, kind, mac, Some((offset, length)))?;
    let mut bytes = Vec::with_capacity((length as usize).min(MAX_PREALLOC));
    let within = reader
        .read_to_end_within(&mut bytes, u64::from(length))
        .map_err(store_error_from_io)?;
    exactly_asked(kind, mac, offset, length, bytes, within)
}

/// `bytes` when they are exactly the `length` asked at `offset`, else an
/// `integrity` error; `within`: no byte came past `length`. The component
/// checks lengths; a host does not take it on trust, and this is the one
/// place the host checks a ranged read's (the read cache relies on it).
fn exactly_asked(
    kind: Resource,
    mac: &Mac,
    offset: u64,
    length: u32,
    bytes: Vec<u8>,
    within: bool,
) -> Result<Vec<u8>, Error> {
    if within && bytes.len() == length as usize {
        return Ok(bytes);
    }
    let returned = if within {
        format!("{} bytes of", bytes.len())
    } else {
        "more than".into()
    };
    Err(Error::Contract(ContractError::Integrity(format!(
        "{kind} {mac}: the component returned {returned} the {length} bytes asked at {offset}"
    ))))
}

fn take(slot: &Mutex<Option<Prefetch>>) -> Option<Prefetch> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Feeds the hashed writer until `data` ends, hashing what it hands, then
/// finishes it with the digest (or with `handed`, when given).
fn write_all(
    lease: &mut Lease,
    writer: wasmtime::component::ResourceAny,
    mut data: impl Read,
    handed: Option<&str>,
) -> Result<u64, Error> {
    let mut chunk = vec![0u8; WRITE_CHUNK];
    let mut digest = StreamingDigest::default();
    loop {
        let filled = fill(&mut data, &mut chunk).map_err(|e| Error::Input(e.to_string()))?;
        if filled > 0 {
            if handed.is_none() {
                digest.update(&chunk[..filled]);
            }
            lease.try_call(|i| {
                let (api, store, _) = i.parts();
                api.hashed_writer()
                    .call_write(store, writer, &chunk[..filled])
            })?;
        }
        if filled < chunk.len() {
            break;
        }
    }
    let digest = handed.map_or_else(|| digest.finish(), str::to_string);
    lease.try_call(|i| {
        let (api, store, _) = i.parts();
        api.hashed_writer().call_finish(store, writer, &digest)
    })
}

/// Reads until `buf` is full or `data` ends; returns the bytes read.
fn fill(data: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ranged_read_is_taken_only_at_exactly_its_length() {
        let mac = Mac([7; 32]);
        let read = |bytes: Vec<u8>, within| {
            exactly_asked(Resource::Packfile, &mac, 4096, 10, bytes, within)
        };
        assert_eq!(read(vec![1; 10], true).unwrap(), vec![1; 10]);
        for (bytes, within, says) in [
            (
                vec![1; 9],
                true,
                "returned 9 bytes of the 10 bytes asked at 4096",
            ),
            (
                Vec::new(),
                true,
                "returned 0 bytes of the 10 bytes asked at 4096",
            ),
            (
                vec![1; 10],
                false,
                "returned more than the 10 bytes asked at 4096",
            ),
        ] {
            match read(bytes, within) {
                Err(Error::Contract(ContractError::Integrity(message))) => {
                    assert!(message.ends_with(says), "{message}");
                    assert!(message.starts_with("packfile "), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
