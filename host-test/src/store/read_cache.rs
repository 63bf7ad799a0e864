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
//! stored one after the other), or starts at an object's first block
//! (plakar's restore and `check` read a packfile from its head), has up to
//! [`AHEAD`] blocks ahead of it read in the background ([`Prefetch`]), so
//! the registry's transfer overlaps plakar's own work instead of adding
//! to it; a reader needing a block on its way waits for it rather than
//! asking twice. Reads ahead are [`SPAN`] blocks each and several run at
//! once (one request answers in a round trip plus its bytes, so one at a
//! time leaves a link 40 to 100 ms long idle between them); all readers'
//! blocks ahead, held unread or in flight, share half the cache
//! ([`State::ahead`]), so eight readers at once neither push each other's
//! blocks out before use nor hold more than the cache.
//!
//! The policy is plain code over two calls the handle passes in (the
//! object's size, a ranged read) and the background reads it asks the
//! handle to make, so it is tested without a component or a thread. The
//! ranged read answers exactly the bytes asked or fails: the handle's
//! (`read_exact`) refuses any other length as `integrity`, once, for every
//! ranged read it makes, so no length is checked again here.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::{Error, Mac};

/// Bytes per block: 1 MiB. Against a registry 40 ms away at 200 Mbit/s a
/// 1 MiB block costs one more round trip's worth of transfer, and a
/// restore's reads hit the block they fetched dozens of times; larger
/// blocks only add waste for scattered reads (measured on plakar's own
/// read trace: 1 MiB blocks cut 6,084 reads to 26 requests, 4 MiB to 12
/// for 6 % more bytes, docs/performance.md).
pub const BLOCK: u64 = 1 << 20;

/// Blocks read ahead of one reader at most: 8 MiB, eight round trips'
/// worth of a 200 Mbit/s link 40 ms long (its bandwidth-delay product is
/// 1 MB; 50 Mbit/s and 100 ms make 0.6 MB), so a reader alone keeps such a
/// link busy while plakar works. Several readers share half the cache.
pub const AHEAD: u64 = 8;

/// Blocks per read ahead: 2 MiB requests, several in flight. One request
/// of the whole window would make the reader wait for all of it to reach
/// its next block; 1 MiB requests would pay a round trip per MiB on each
/// connection.
pub const SPAN: u64 = 2;

/// Background reads one cache runs at once: each holds a component
/// instance while it runs (up to 3 MiB of linear memory after a ranged
/// read, which stays while the instance lives) and the span it brings.
/// With [`SPAN`], 8 MiB in
/// flight beside the readers' own requests: eight times the 40 ms,
/// 200 Mbit/s link's bandwidth-delay product. Eight in flight used no
/// more of that link at `-concurrency 8` and held 26 MiB more
/// (docs/performance.md).
const MAX_PREFETCHES: usize = 4;

/// Caches under this size read nothing ahead: what they read ahead would
/// be pushed out before use.
const MIN_CAPACITY_AHEAD: u64 = 16 * BLOCK;

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
    /// Where each object was last read (offset, last block), to tell a
    /// reader going forward.
    last_read: HashMap<Mac, (u64, u64)>,
    /// Reads ahead in flight, and their bytes.
    prefetches: usize,
    prefetching: u64,
    /// Reads ahead in flight per object.
    prefetching_for: HashMap<Mac, usize>,
    /// Blocks inserted so far: how long a block read ahead stays ahead.
    inserted: u64,
    /// When each object was last forgotten (by `clock`), so that a fetch
    /// begun before keeps nothing; past [`MAX_OBJECTS`] the map starts
    /// afresh and `forgotten_all` stands for every object.
    forgotten: HashMap<Mac, u64>,
    forgotten_all: u64,
    held: u64,
    /// Counts every use, insertion and forget: recency and order.
    clock: u64,
}

/// What is read ahead of readers now ([`State::ahead`]).
struct Ahead {
    bytes: u64,
    readers: HashSet<Mac>,
}

struct Entry {
    bytes: Bytes,
    used: u64,
    /// Read ahead and not served yet: `inserted` when it came. It counts
    /// against the share of blocks ahead ([`State::ahead`]) and goes last
    /// when blocks are pushed out, until two caches' worth of blocks came
    /// after it unread (its reader went elsewhere).
    ahead_since: Option<u64>,
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

/// A read's bytes, and the reads to start ahead of it if any.
#[derive(Debug)]
#[must_use = "its reads ahead must be started or completed"]
pub struct Read {
    /// The range, in order: slices of the blocks that hold it, shared with
    /// them rather than copied (plakar reads ranges of 4 to 8 MiB while
    /// restoring at `-concurrency 8`: a copy of each Get in flight was
    /// up to 64 MiB beside the blocks).
    pub pieces: Vec<Bytes>,
    pub prefetches: Vec<Prefetch>,
}

impl Read {
    fn alone(bytes: Vec<u8>) -> Read {
        Read {
            pieces: vec![Bytes::from(bytes)],
            prefetches: Vec::new(),
        }
    }

    /// The range in one buffer (for the tests' comparisons).
    #[cfg(test)]
    pub fn bytes(&self) -> Vec<u8> {
        self.pieces.concat()
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
    /// a lock and slices of the blocks, never a request, so a caller on an
    /// async thread may try it before handing a read to a blocking one.
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
        state.prefetching -= u64::from(prefetch.length);
        if let Some(count) = state.prefetching_for.get_mut(&prefetch.mac) {
            *count -= 1;
            if *count == 0 {
                state.prefetching_for.remove(&prefetch.mac);
            }
        }
        // A failed read ahead is not an error: the reader asks again.
        if let Some(bytes) = fetched {
            if !state.forgotten_since(&prefetch.mac, prefetch.started) {
                state.insert_ahead(self.capacity, &prefetch.mac, prefetch.first, &bytes);
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
    /// goes forward (moved on into the next block, or on in the block it
    /// read last), what to read ahead of it (marked in flight: the caller
    /// must start it).
    fn serve(&mut self, capacity: u64, mac: &Mac, offset: u64, end: u64) -> Option<Read> {
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let bytes = self.assemble(mac, offset, end, first, last)?;
        // plakar pads each range and shifts it back by a random few bytes
        // (kloset's GetPackfileRange), so "forward" allows a start just
        // before the last read's end: moved on means a later last block
        // with no block skipped; on in the head means a later start in
        // block 0, where restores and checks begin a packfile. On in
        // another block is not enough: at `-concurrency 8` readers pick
        // chunks here and there, in order within a block, and reading
        // ahead of each read a quarter more than the registry holds
        // (measured over the 100 ms link).
        let forward = self.last_read.get(mac).is_some_and(|&(at, b)| {
            (b < last && first <= b + 1) || (b == 0 && last == 0 && offset > at)
        });
        if self.last_read.len() >= MAX_OBJECTS {
            self.last_read.clear();
        }
        self.last_read.insert(*mac, (offset, last));
        let prefetches = if forward {
            self.plan_ahead(capacity, mac, last)
        } else {
            Vec::new()
        };
        Some(Read {
            pieces: bytes,
            prefetches,
        })
    }

    /// Bytes read ahead and not yet served, held or in flight, and the
    /// objects they belong to (the readers sharing them). A block left
    /// unread while two caches' worth of blocks came after it no longer
    /// counts: its reader went elsewhere.
    fn ahead(&self, capacity: u64) -> Ahead {
        let mut ahead = Ahead {
            bytes: self.prefetching,
            readers: self.prefetching_for.keys().copied().collect(),
        };
        for ((mac, _), entry) in &self.blocks {
            if self.is_ahead(capacity, entry) {
                ahead.bytes += entry.bytes.len() as u64;
                ahead.readers.insert(*mac);
            }
        }
        ahead
    }

    fn is_ahead(&self, capacity: u64, entry: &Entry) -> bool {
        entry
            .ahead_since
            .is_some_and(|since| self.inserted - since < 2 * (capacity / BLOCK))
    }

    /// The blocks after `last` that are neither held nor on their way, up
    /// to [`AHEAD`] of them and the object's end, as background reads of
    /// up to [`SPAN`] blocks each, marked in flight; none until a span's
    /// worth is free (or the rest of the object is less), so requests stay
    /// [`SPAN`] long; as many as [`MAX_PREFETCHES`] and half the cache for
    /// blocks ahead allow.
    fn plan_ahead(&mut self, capacity: u64, mac: &Mac, last: u64) -> Vec<Prefetch> {
        let mut planned = Vec::new();
        if capacity < MIN_CAPACITY_AHEAD || self.prefetches >= MAX_PREFETCHES {
            return planned;
        }
        let Some(&size) = self.sizes.get(mac) else {
            return planned;
        };
        let Some(final_block) = size.checked_sub(1).map(|s| s / BLOCK) else {
            return planned;
        };
        // Each reader's window is its share of half the cache: with eight
        // readers a block eight ahead of each would be reached only after
        // 64 others came, past what the cache keeps.
        let mut ahead = self.ahead(capacity);
        ahead.readers.insert(*mac);
        let share = capacity / 2 / BLOCK / ahead.readers.len() as u64;
        let window = share.clamp(SPAN, AHEAD);
        let free: Vec<u64> = ((last + 1)..=(last + window).min(final_block))
            .filter(|i| {
                !self.blocks.contains_key(&(*mac, *i)) && !self.in_flight.contains(&(*mac, *i))
            })
            .collect();
        let Some(&furthest) = free.last() else {
            return planned;
        };
        if (free.len() as u64) < SPAN && furthest != final_block {
            return planned;
        }
        let mut rest = free.as_slice();
        while let Some(&from) = rest.first() {
            // A run of consecutive free blocks, at most SPAN long.
            let run = rest
                .iter()
                .enumerate()
                .take_while(|&(n, &i)| i == from + n as u64 && (n as u64) < SPAN)
                .count();
            let to = from + run as u64 - 1;
            rest = &rest[run..];
            let length = ((to + 1) * BLOCK).min(size) - from * BLOCK;
            if self.prefetches >= MAX_PREFETCHES || ahead.bytes + length > capacity / 2 {
                break;
            }
            for i in from..=to {
                self.in_flight.insert((*mac, i));
            }
            self.prefetches += 1;
            self.prefetching += length;
            *self.prefetching_for.entry(*mac).or_default() += 1;
            ahead.bytes += length;
            planned.push(Prefetch {
                mac: *mac,
                first: from,
                last: to,
                length: length as u32,
                started: self.clock,
            });
        }
        planned
    }

    /// `[offset, end)` as slices of blocks `first..=last`, all held and
    /// long enough (nothing copied); marks them used.
    fn assemble(
        &mut self,
        mac: &Mac,
        offset: u64,
        end: u64,
        first: u64,
        last: u64,
    ) -> Option<Vec<Bytes>> {
        self.clock += 1;
        let now = self.clock;
        let mut out = Vec::with_capacity((last - first + 1) as usize);
        for index in first..=last {
            let entry = self.blocks.get_mut(&(*mac, index))?;
            entry.used = now;
            let base = index * BLOCK;
            let lo = offset.max(base) - base;
            let hi = end.min(base + BLOCK) - base;
            if hi as usize > entry.bytes.len() {
                return None;
            }
            out.push(entry.bytes.slice(lo as usize..hi as usize));
        }
        // Served: no longer ahead of anyone.
        for index in first..=last {
            if let Some(entry) = self.blocks.get_mut(&(*mac, index)) {
                entry.ahead_since = None;
            }
        }
        Some(out)
    }

    /// Keeps `bytes`, read from the start of block `from`, as its blocks.
    fn insert_span(&mut self, capacity: u64, mac: &Mac, from: u64, bytes: &[u8]) {
        for (n, piece) in bytes.chunks(BLOCK as usize).enumerate() {
            let piece = Bytes::copy_from_slice(piece);
            self.insert(capacity, *mac, from + n as u64, piece, false);
        }
    }

    /// Keeps `bytes` read ahead from the start of block `from`: blocks
    /// ahead until served ([`Entry::ahead_since`]).
    fn insert_ahead(&mut self, capacity: u64, mac: &Mac, from: u64, bytes: &[u8]) {
        for (n, piece) in bytes.chunks(BLOCK as usize).enumerate() {
            let piece = Bytes::copy_from_slice(piece);
            self.insert(capacity, *mac, from + n as u64, piece, true);
        }
    }

    /// Keeps one block, then pushes blocks out down to the capacity:
    /// blocks ahead of their reader last, else the least recently used.
    fn insert(&mut self, capacity: u64, mac: Mac, index: u64, bytes: Bytes, ahead: bool) {
        self.clock += 1;
        self.inserted += 1;
        let len = bytes.len() as u64;
        let entry = Entry {
            bytes,
            used: self.clock,
            ahead_since: ahead.then_some(self.inserted),
        };
        if let Some(old) = self.blocks.insert((mac, index), entry) {
            self.held -= old.bytes.len() as u64;
        }
        self.held += len;
        while self.held > capacity {
            let Some(oldest) = self
                .blocks
                .iter()
                .min_by_key(|(_, e)| (self.is_ahead(capacity, e), e.used))
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
