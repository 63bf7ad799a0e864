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
//! A reader that moves on from one block to the next (a restore of files
//! stored one after the other) has the next [`AHEAD`] blocks read for it in
//! the background ([`Prefetch`]), so the registry's transfer overlaps
//! plakar's own work instead of adding to it; a reader needing a block on
//! its way waits for it rather than asking twice.
//!
//! The policy is plain code over two calls the handle passes in (the
//! object's size, a ranged read) and the background reads it asks the
//! handle to make, so it is tested without a component or a thread.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::{ContractError, Mac, StoreError};

/// Bytes per block: 1 MiB. Against a registry 40 ms away at 200 Mbit/s a
/// 1 MiB block costs one more round trip's worth of transfer, and a
/// restore's reads hit the block they fetched dozens of times; larger
/// blocks only add waste for scattered reads (measured on plakar's own
/// read trace: 1 MiB blocks cut 6,084 reads to 26 requests, 4 MiB to 12
/// for 6 % more bytes, docs/performance.md).
pub const BLOCK: u64 = 1 << 20;

/// Blocks read ahead of a reader moving from block to block: enough to
/// keep a 200 Mbit/s link 40 ms away busy while plakar works.
pub const AHEAD: u64 = 4;

/// Background reads one cache runs at once.
const MAX_PREFETCHES: usize = 2;

/// Object sizes and read positions kept at most: far more packfiles than
/// a cache of blocks touches between two clears.
const MAX_OBJECTS: usize = 65_536;

/// The blocks of packfiles read lately, least recently used dropped
/// first, at most `capacity` bytes of them.
pub struct ReadCache {
    capacity: u64,
    state: Mutex<State>,
    /// Signalled whenever a fetch ends, so readers waiting for a block in
    /// flight look again.
    arrived: Condvar,
}

#[derive(Default)]
struct State {
    /// Block `(object, index)` → its bytes (a short last block ends the
    /// object) and when it was last used.
    blocks: HashMap<(Mac, u64), Entry>,
    /// Object sizes learnt, for clamping blocks at the end.
    sizes: HashMap<Mac, u64>,
    /// Blocks being fetched now, by a reader or ahead of one.
    in_flight: HashSet<(Mac, u64)>,
    /// The block each object was last read in, to tell a reader moving on.
    last_read: HashMap<Mac, u64>,
    prefetches: usize,
    /// Bumped by every `forget`: a fetch begun before it is not kept.
    generation: u64,
    held: u64,
    clock: u64,
}

struct Entry {
    bytes: Vec<u8>,
    used: u64,
}

/// A range to read in the background ahead of a reader; hand its result
/// to [`ReadCache::complete`], whatever it is.
#[derive(Debug, PartialEq, Eq)]
pub struct Prefetch {
    mac: Mac,
    first: u64,
    last: u64,
    length: u32,
    generation: u64,
}

impl Prefetch {
    /// The object to read.
    pub fn mac(&self) -> &Mac {
        &self.mac
    }

    /// `(offset, length)` to read.
    pub fn range(&self) -> (u64, u32) {
        (self.first * BLOCK, self.length)
    }
}

/// A read's bytes, and a read to start ahead of it if any.
#[derive(Debug)]
pub struct Read {
    pub bytes: Vec<u8>,
    pub prefetch: Option<Prefetch>,
}

impl Read {
    fn alone(bytes: Vec<u8>) -> Read {
        Read {
            bytes,
            prefetch: None,
        }
    }
}

impl ReadCache {
    /// A cache of at most `capacity` bytes; 0 keeps nothing.
    pub fn new(capacity: u64) -> ReadCache {
        ReadCache {
            capacity,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
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
    ) -> Result<Read, StoreError> {
        let Some(end) = offset.checked_add(u64::from(length)) else {
            return fetch(offset, length).map(Read::alone);
        };
        let (first, last) = (offset / BLOCK, end.saturating_sub(1) / BLOCK);
        // A read spanning more than half the cache would push out what
        // the next reads need; and nothing is kept with no capacity.
        if length == 0 || (last - first + 1) * BLOCK > self.capacity / 2 {
            return fetch(offset, length).map(Read::alone);
        }
        {
            let mut state = self.lock();
            // A block this read needs is on its way: wait for it.
            while (first..=last).any(|i| state.in_flight.contains(&(*mac, i))) {
                state = self.arrived.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if let Some(read) = state.serve(self.capacity, mac, offset, end) {
                return Ok(read);
            }
        }
        let known = self.lock().sizes.get(mac).copied();
        let object_size = match known {
            Some(size) => size,
            None => {
                let size = size()?;
                let mut state = self.lock();
                if state.sizes.len() >= MAX_OBJECTS {
                    state.sizes.clear();
                }
                state.sizes.insert(*mac, size);
                size
            }
        };
        if end > object_size {
            return fetch(offset, length).map(Read::alone);
        }
        // One request for the missing blocks from the first to the last
        // (a held one between them is fetched again: one request costs
        // more than a block's bytes).
        let (missing, generation) = {
            let mut state = self.lock();
            let missing: Vec<u64> = (first..=last)
                .filter(|i| !state.blocks.contains_key(&(*mac, *i)))
                .collect();
            for i in &missing {
                state.in_flight.insert((*mac, *i));
            }
            (missing, state.generation)
        };
        // None missing: another caller fetched them meanwhile.
        if let (Some(&from), Some(&to)) = (missing.first(), missing.last()) {
            let start = from * BLOCK;
            let stop = ((to + 1) * BLOCK).min(object_size);
            let span =
                u32::try_from(stop - start).expect("a span is at most half the cache, under 4 GiB");
            let fetched = fetch(start, span);
            let mut state = self.lock();
            for i in &missing {
                state.in_flight.remove(&(*mac, *i));
            }
            self.arrived.notify_all();
            let bytes = fetched?;
            if bytes.len() as u64 != stop - start {
                return Err(short_read(start, stop - start, bytes.len()));
            }
            // Forgotten meanwhile (deleted or written): not kept.
            if state.generation == generation {
                state.insert_span(self.capacity, mac, from, &bytes);
            }
        }
        let served = self.lock().serve(self.capacity, mac, offset, end);
        match served {
            Some(read) => Ok(read),
            // Pushed out already by other readers, or forgotten: read it
            // as asked.
            None => fetch(offset, length).map(Read::alone),
        }
    }

    /// `[offset, offset + length)` of `mac` if every block of it is held:
    /// a lock and a copy, never a request, so a caller on an async thread
    /// may try it before handing a read to a blocking one.
    pub fn cached(&self, mac: &Mac, offset: u64, length: u32) -> Option<Read> {
        let end = offset.checked_add(u64::from(length))?;
        if length == 0 {
            return None;
        }
        self.lock().serve(self.capacity, mac, offset, end)
    }

    /// Takes the outcome of a [`Prefetch`] (`None`: it failed): its blocks
    /// are kept if it read them all and the object was not forgotten
    /// meanwhile; readers waiting for them look again.
    pub fn complete(&self, prefetch: Prefetch, fetched: Option<Vec<u8>>) {
        let mut state = self.lock();
        for i in prefetch.first..=prefetch.last {
            state.in_flight.remove(&(prefetch.mac, i));
        }
        state.prefetches -= 1;
        // A failed read ahead is not an error: the reader asks again.
        if let Some(bytes) = fetched {
            if bytes.len() == prefetch.length as usize && state.generation == prefetch.generation {
                state.insert_span(self.capacity, &prefetch.mac, prefetch.first, &bytes);
            }
        }
        self.arrived.notify_all();
    }

    /// Drops what is kept of `mac` (it was deleted or written).
    pub fn forget(&self, mac: &Mac) {
        let mut state = self.lock();
        state.generation += 1;
        state.sizes.remove(mac);
        state.last_read.remove(mac);
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays whole whatever panics: a poisoned lock is used.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn short_read(start: u64, asked: u64, got: usize) -> StoreError {
    StoreError::Contract(ContractError::Integrity(format!(
        "a read of {asked} bytes at {start} returned {got}"
    )))
}

impl State {
    /// The read from held blocks, and what to read ahead of it.
    fn serve(&mut self, capacity: u64, mac: &Mac, offset: u64, end: u64) -> Option<Read> {
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let bytes = self.assemble(mac, offset, end, first, last)?;
        // Moved on from the block it read last into the next one.
        let moved_on = self
            .last_read
            .get(mac)
            .is_some_and(|&b| b < last && first <= b + 1);
        if self.last_read.len() >= MAX_OBJECTS {
            self.last_read.clear();
        }
        self.last_read.insert(*mac, last);
        let prefetch = if moved_on {
            self.plan_ahead(capacity, mac, last)
        } else {
            None
        };
        Some(Read { bytes, prefetch })
    }

    /// The blocks after `last` that are neither held nor on their way, up
    /// to [`AHEAD`] of them and the object's end, as one background read,
    /// marked in flight.
    fn plan_ahead(&mut self, capacity: u64, mac: &Mac, last: u64) -> Option<Prefetch> {
        // A small cache would push out what it reads ahead before use.
        if self.prefetches >= MAX_PREFETCHES || AHEAD * BLOCK > capacity / 4 {
            return None;
        }
        let size = *self.sizes.get(mac)?;
        let final_block = size.checked_sub(1)? / BLOCK;
        let window = (last + 1)..=(last + AHEAD).min(final_block);
        let free = |i: &u64| {
            !self.blocks.contains_key(&(*mac, *i)) && !self.in_flight.contains(&(*mac, *i))
        };
        let from = window.clone().find(free)?;
        let to = (from..=*window.end())
            .take_while(free)
            .last()
            .expect("`from` itself is free");
        for i in from..=to {
            self.in_flight.insert((*mac, i));
        }
        self.prefetches += 1;
        let length = ((to + 1) * BLOCK).min(size) - from * BLOCK;
        Some(Prefetch {
            mac: *mac,
            first: from,
            last: to,
            length: length as u32,
            generation: self.generation,
        })
    }

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

    /// Keeps `bytes`, read from the start of block `from`, as its blocks.
    fn insert_span(&mut self, capacity: u64, mac: &Mac, from: u64, bytes: &[u8]) {
        for (n, piece) in bytes.chunks(BLOCK as usize).enumerate() {
            self.insert(capacity, *mac, from + n as u64, piece.to_vec());
        }
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
