//! Blocks of packfiles kept in host memory, so that plakar's many small
//! ranged reads become a few registry requests.
//!
//! plakar reads a restore's or a check's data one small range at a time
//! (a file's chunk, an index node: often a few hundred bytes, 40 KiB on
//! average), one after the other, and each range of a packfile it reads
//! lies near the one before (docs/performance.md). Sent as they come, each
//! costs a registry round trip: about 3 ms on loopback, the round trip
//! over a real link. Here a range is served from aligned blocks of
//! [`BLOCK`] bytes: a block missing is fetched whole (with its missing
//! neighbours, in one ranged request, clamped at the object's end), and
//! the next reads of it cost nothing.
//!
//! Only packfiles are kept: a packfile's MAC names its content (Kloset
//! never writes other bytes under a packfile's MAC), so a block read once
//! stays true. A delete through the same handle forgets the object; a
//! delete by another process is not seen, and a read of what it deleted
//! may still be served from memory, as from any reader that opened the
//! object before it went.
//!
//! The policy is plain code over two calls the handle passes in (the
//! object's size, a ranged read), so it is tested without a component.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{ContractError, Mac, StoreError};

/// Bytes per block: 1 MiB. Against a registry 40 ms away at 200 Mbit/s a
/// 1 MiB block costs one more round trip's worth of transfer, and a
/// restore's reads hit the block they fetched dozens of times; larger
/// blocks only add waste for scattered reads (measured on plakar's own
/// read trace: 1 MiB blocks cut 6,084 reads to 26 requests, 4 MiB to 12
/// for 6 % more bytes, docs/performance.md).
pub const BLOCK: u64 = 1 << 20;

/// The blocks of packfiles read lately, least recently used dropped
/// first, at most `capacity` bytes of them.
pub struct ReadCache {
    capacity: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Block `(object, index)` → its bytes (a short last block ends the
    /// object) and when it was last used.
    blocks: HashMap<(Mac, u64), Entry>,
    /// Object sizes learnt, for clamping blocks at the end.
    sizes: HashMap<Mac, u64>,
    held: u64,
    clock: u64,
}

struct Entry {
    bytes: Vec<u8>,
    used: u64,
}

/// Object sizes kept at most: far more packfiles than a cache of blocks
/// touches between two clears.
const MAX_SIZES: usize = 65_536;

impl ReadCache {
    /// A cache of at most `capacity` bytes; 0 keeps nothing.
    pub fn new(capacity: u64) -> ReadCache {
        ReadCache {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Reads `[offset, offset + length)` of the object `mac`. `size`
    /// gives the object's size, `fetch(offset, length)` reads a range of
    /// it from the registry; each is called only when needed. A range too
    /// large to keep, or one that does not lie inside the object, goes to
    /// `fetch` as it is, so the component gives its own answer.
    pub fn read(
        &self,
        mac: &Mac,
        offset: u64,
        length: u32,
        size: impl FnOnce() -> Result<u64, StoreError>,
        fetch: impl Fn(u64, u32) -> Result<Vec<u8>, StoreError>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(end) = offset.checked_add(u64::from(length)) else {
            return fetch(offset, length);
        };
        let (first, last) = (offset / BLOCK, end.saturating_sub(1) / BLOCK);
        // A read spanning more than half the cache would push out what
        // the next reads need; and nothing is kept with no capacity.
        if length == 0 || (last - first + 1) * BLOCK > self.capacity / 2 {
            return fetch(offset, length);
        }
        if let Some(bytes) = self.lock().assemble(mac, offset, end, first, last) {
            return Ok(bytes);
        }
        let known = self.lock().sizes.get(mac).copied();
        let object_size = match known {
            Some(size) => size,
            None => {
                let size = size()?;
                let mut state = self.lock();
                if state.sizes.len() >= MAX_SIZES {
                    state.sizes.clear();
                }
                state.sizes.insert(*mac, size);
                size
            }
        };
        if end > object_size {
            return fetch(offset, length);
        }
        // One request for the missing blocks from the first to the last
        // (a cached one between them is fetched again: one request costs
        // more than a block's bytes).
        let missing: Vec<u64> = {
            let state = self.lock();
            (first..=last)
                .filter(|index| !state.blocks.contains_key(&(*mac, *index)))
                .collect()
        };
        // None missing: another caller fetched them meanwhile.
        if let (Some(&from), Some(&to)) = (missing.first(), missing.last()) {
            let start = from * BLOCK;
            let stop = ((to + 1) * BLOCK).min(object_size);
            let span =
                u32::try_from(stop - start).expect("a span is at most half the cache, under 4 GiB");
            let bytes = fetch(start, span)?;
            if bytes.len() as u64 != stop - start {
                return Err(StoreError::Contract(ContractError::Integrity(format!(
                    "a read of {} bytes at {start} returned {}",
                    stop - start,
                    bytes.len()
                ))));
            }
            let mut state = self.lock();
            for (n, index) in (from..=to).enumerate() {
                let lo = n * BLOCK as usize;
                let hi = (lo + BLOCK as usize).min(bytes.len());
                state.insert(self.capacity, *mac, index, bytes[lo..hi].to_vec());
            }
        }
        match self.lock().assemble(mac, offset, end, first, last) {
            Some(bytes) => Ok(bytes),
            // Pushed out already by other callers' reads: read it as asked.
            None => fetch(offset, length),
        }
    }

    /// `[offset, offset + length)` of `mac` if every block of it is held:
    /// a lock and a copy, never a request, so a caller on an async thread
    /// may try it before handing a read to a blocking one.
    pub fn cached(&self, mac: &Mac, offset: u64, length: u32) -> Option<Vec<u8>> {
        let end = offset.checked_add(u64::from(length))?;
        if length == 0 {
            return None;
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        self.lock().assemble(mac, offset, end, first, last)
    }

    /// Drops what is kept of `mac` (it was deleted or written).
    pub fn forget(&self, mac: &Mac) {
        let mut state = self.lock();
        state.sizes.remove(mac);
        let gone: Vec<(Mac, u64)> = state
            .blocks
            .keys()
            .filter(|(m, _)| m == mac)
            .copied()
            .collect();
        for key in gone {
            if let Some(entry) = state.blocks.remove(&key) {
                state.held -= entry.bytes.len() as u64;
            }
        }
    }

    /// Bytes of blocks held now.
    pub fn held(&self) -> u64 {
        self.lock().held
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays whole whatever panics: a poisoned lock is used.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// `[offset, end)` copied out of blocks `first..=last`, all held and
    /// long enough; marks them used.
    fn assemble(
        &mut self,
        mac: &Mac,
        offset: u64,
        end: u64,
        first: u64,
        last: u64,
    ) -> Option<Vec<u8>> {
        self.clock += 1;
        let now = self.clock;
        let mut out = Vec::with_capacity((end - offset) as usize);
        for index in first..=last {
            let entry = self.blocks.get_mut(&(*mac, index))?;
            entry.used = now;
            let base = index * BLOCK;
            let lo = offset.max(base) - base;
            let hi = end.min(base + BLOCK) - base;
            if hi as usize > entry.bytes.len() {
                return None;
            }
            out.extend_from_slice(&entry.bytes[lo as usize..hi as usize]);
        }
        Some(out)
    }

    fn insert(&mut self, capacity: u64, mac: Mac, index: u64, bytes: Vec<u8>) {
        self.clock += 1;
        let len = bytes.len() as u64;
        let entry = Entry {
            bytes,
            used: self.clock,
        };
        if let Some(old) = self.blocks.insert((mac, index), entry) {
            self.held -= old.bytes.len() as u64;
        }
        self.held += len;
        while self.held > capacity {
            let Some(oldest) = self
                .blocks
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(key, _)| *key)
            else {
                break;
            };
            let entry = self.blocks.remove(&oldest).expect("the key was just found");
            self.held -= entry.bytes.len() as u64;
        }
    }
}

#[cfg(test)]
#[path = "read_cache_tests.rs"]
mod tests;
