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
//! handle to make, so it is tested without a component or a thread. The
//! ranged read answers exactly the bytes asked or fails: the handle's
//! (`read_exact`) refuses any other length as `integrity`, once, for every
//! ranged read it makes, so no length is checked again here.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::{Error, Mac};

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
    /// When each object was last forgotten (by `clock`), so that a fetch
    /// begun before keeps nothing; past [`MAX_OBJECTS`] the map starts
    /// afresh and `forgotten_all` stands for every object.
    forgotten: HashMap<Mac, u64>,
    forgotten_all: u64,
    held: u64,
    /// Counts every use, insertion and forget: recency and order.
    clock: u64,
}

struct Entry {
    bytes: Vec<u8>,
    used: u64,
}

/// A range to read in the background ahead of a reader; hand its result
/// to [`ReadCache::complete`], whatever it is.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a read ahead must be completed, or readers wait for its blocks"]
pub struct Prefetch {
    mac: Mac,
    first: u64,
    last: u64,
    length: u32,
    /// The clock when planned, to tell a `forget` since.
    started: u64,
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
#[must_use = "its read ahead must be started or completed"]
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

    /// Whether a read of `[offset, offset + length)` goes through the
    /// blocks (else `read` passes it to `fetch` as it is): a read spanning
    /// more than half the cache would push out what the next reads need,
    /// and a cache under 2 MiB keeps nothing.
    pub fn keeps(&self, offset: u64, length: u32) -> bool {
        match offset.checked_add(u64::from(length)) {
            Some(end) if length > 0 => {
                let blocks = (end - 1) / BLOCK - offset / BLOCK + 1;
                blocks * BLOCK <= self.capacity / 2
            }
            _ => false,
        }
    }

    /// Reads `[offset, offset + length)` of the object `mac`. `size`
    /// gives the object's size, `fetch(offset, length)` reads a range of
    /// it from the registry, exactly `length` bytes or an error; each is
    /// called only when needed. A range the
    /// blocks do not keep ([`ReadCache::keeps`]), or one that does not lie
    /// inside the object, goes to `fetch` as it is, so the component gives
    /// its own answer.
    ///
    /// The lock is never held across `size` or `fetch`: other readers go
    /// on meanwhile, and wait only for the blocks this one is fetching.
    pub fn read(
        &self,
        mac: &Mac,
        offset: u64,
        length: u32,
        size: impl FnOnce() -> Result<u64, Error>,
        fetch: impl Fn(u64, u32) -> Result<Vec<u8>, Error>,
    ) -> Result<Read, Error> {
        if !self.keeps(offset, length) {
            return fetch(offset, length).map(Read::alone);
        }
        let end = offset + u64::from(length);
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let mut size = Some(size);
        let mut learnt = None;
        loop {
            let mut state = self.lock();
            // A block this read needs is on its way: wait for it.
            while (first..=last).any(|i| state.in_flight.contains(&(*mac, i))) {
                state = self.arrived.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if let Some(read) = state.serve(self.capacity, mac, offset, end) {
                return Ok(read);
            }
            let known = state.sizes.get(mac).copied().or(learnt);
            let started = state.clock;
            drop(state);
            let object_size = match (known, size.take()) {
                (Some(known), _) => known,
                (None, Some(ask)) => {
                    let asked = ask()?;
                    learnt = Some(asked);
                    let mut state = self.lock();
                    // Forgotten while it was asked: not kept.
                    if !state.forgotten_since(mac, started) {
                        state.keep_size(*mac, asked);
                    }
                    asked
                }
                (None, None) => unreachable!("a size asked is kept in `learnt`"),
            };
            if end > object_size {
                return fetch(offset, length).map(Read::alone);
            }
            let mut state = self.lock();
            // Another reader started on one of these blocks meanwhile.
            if (first..=last).any(|i| state.in_flight.contains(&(*mac, i))) {
                continue;
            }
            // One request for the missing blocks from the first to the
            // last (a held one between them is fetched again: one request
            // costs more than a block's bytes). A block held shorter than
            // this size says it should be (kept when the object ended
            // there, and the size learnt since is larger) counts as
            // missing: the loop ends in a request, it never spins.
            let missing: Vec<u64> = (first..=last)
                .filter(|i| !state.holds_whole(mac, *i, object_size))
                .collect();
            let (Some(&from), Some(&to)) = (missing.first(), missing.last()) else {
                continue; // all there now: `serve` answers
            };
            let start = from * BLOCK;
            let stop = ((to + 1) * BLOCK).min(object_size);
            let span = (stop - start) as u32; // at most half the cache: under 1 GiB
            let marks = InFlight::mark(self, &mut state, mac, from..=to);
            drop(state);
            let fetched = fetch(start, span);
            let mut state = self.lock();
            let started = marks.started;
            marks.clear(&mut state);
            let bytes = fetched?;
            // Forgotten meanwhile (deleted or written): not kept.
            if !state.forgotten_since(mac, started) {
                state.insert_span(self.capacity, mac, from, &bytes);
            }
            return match state.serve(self.capacity, mac, offset, end) {
                Some(read) => Ok(read),
                // Pushed out already by other readers, or forgotten: read
                // it as asked.
                None => {
                    drop(state);
                    fetch(offset, length).map(Read::alone)
                }
            };
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

    /// Takes the outcome of a [`Prefetch`] (`None`: it failed; else
    /// exactly the bytes of its range, as `fetch` in [`ReadCache::read`]):
    /// its blocks are kept if the object was not forgotten meanwhile;
    /// readers waiting for them look again.
    pub fn complete(&self, prefetch: Prefetch, fetched: Option<Vec<u8>>) {
        let mut state = self.lock();
        for i in prefetch.first..=prefetch.last {
            state.in_flight.remove(&(prefetch.mac, i));
        }
        state.prefetches -= 1;
        // A failed read ahead is not an error: the reader asks again.
        if let Some(bytes) = fetched {
            if !state.forgotten_since(&prefetch.mac, prefetch.started) {
                state.insert_span(self.capacity, &prefetch.mac, prefetch.first, &bytes);
            }
        }
        self.arrived.notify_all();
    }

    /// Drops what is kept of `mac` (it was deleted or written); a fetch
    /// of it begun before keeps nothing.
    pub fn forget(&self, mac: &Mac) {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if state.forgotten.len() >= MAX_OBJECTS {
            state.forgotten.clear();
            state.forgotten_all = now;
        }
        state.forgotten.insert(*mac, now);
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

/// Blocks a reader marked in flight. Cleared by [`InFlight::clear`] once
/// its fetch ends, or on drop if the fetch panicked, so that no reader
/// waits for them forever.
struct InFlight<'a> {
    cache: &'a ReadCache,
    mac: Mac,
    blocks: std::ops::RangeInclusive<u64>,
    /// The clock when they were marked, to tell a `forget` since.
    started: u64,
    cleared: bool,
}

impl<'a> InFlight<'a> {
    fn mark(
        cache: &'a ReadCache,
        state: &mut State,
        mac: &Mac,
        blocks: std::ops::RangeInclusive<u64>,
    ) -> InFlight<'a> {
        for i in blocks.clone() {
            state.in_flight.insert((*mac, i));
        }
        InFlight {
            cache,
            mac: *mac,
            blocks,
            started: state.clock,
            cleared: false,
        }
    }

    fn clear(mut self, state: &mut State) {
        self.unmark(state);
    }

    fn unmark(&mut self, state: &mut State) {
        for i in self.blocks.clone() {
            state.in_flight.remove(&(self.mac, i));
        }
        self.cleared = true;
        self.cache.arrived.notify_all();
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.cleared {
            let cache = self.cache;
            let mut state = cache.lock();
            self.unmark(&mut state);
        }
    }
}

impl State {
    /// Whether `mac` was forgotten after the clock read `started`.
    fn forgotten_since(&self, mac: &Mac, started: u64) -> bool {
        self.forgotten
            .get(mac)
            .copied()
            .unwrap_or(self.forgotten_all)
            > started
    }

    /// Whether block `index` of `mac` is held whole for an object of
    /// `size` bytes: all of [`BLOCK`], or up to the object's end.
    fn holds_whole(&self, mac: &Mac, index: u64, size: u64) -> bool {
        let want = size.saturating_sub(index * BLOCK).min(BLOCK);
        self.blocks
            .get(&(*mac, index))
            .is_some_and(|entry| entry.bytes.len() as u64 >= want)
    }

    fn keep_size(&mut self, mac: Mac, size: u64) {
        if self.sizes.len() >= MAX_OBJECTS {
            self.sizes.clear();
        }
        self.sizes.insert(mac, size);
    }

    /// The read from held blocks, marking them used; and, when the reader
    /// moved on into the next block, what to read ahead of it (marked in
    /// flight: the caller must start it).
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
            started: self.clock,
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
