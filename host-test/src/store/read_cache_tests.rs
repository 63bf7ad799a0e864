//! The read cache's policy over a fake object: which ranges it asks the
//! registry for, what it keeps and reads ahead, and that every read
//! returns the object's own bytes.

use super::*;
use crate::ContractError;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: u64 = 1 << 20;

/// An object of `size` bytes whose byte `i` is `i % 251`, and the reads
/// and size lookups the cache made of it.
struct Object {
    mac: Mac,
    size: u64,
    fetched: RefCell<Vec<(u64, u32)>>,
    sized: RefCell<usize>,
}

impl Object {
    fn new(tag: u8, size: u64) -> Object {
        Object {
            mac: Mac([tag; 32]),
            size,
            fetched: RefCell::new(Vec::new()),
            sized: RefCell::new(0),
        }
    }

    fn bytes(offset: u64, length: u64) -> Vec<u8> {
        (offset..offset + length).map(|i| (i % 251) as u8).collect()
    }

    /// A read through `cache`, checked against the object's bytes; a read
    /// ahead it asks for is made at once, as the handle's thread would.
    fn read(&self, cache: &ReadCache, offset: u64, length: u32) -> Result<Vec<u8>, Error> {
        let read = self.read_leaving_ahead(cache, offset, length)?;
        let bytes = read.bytes();
        for prefetch in read.prefetches {
            self.complete(cache, prefetch);
        }
        Ok(bytes)
    }

    /// Makes a read ahead, recording its request.
    fn complete(&self, cache: &ReadCache, prefetch: Prefetch) {
        assert_eq!(prefetch.mac(), &self.mac);
        let (at, len) = prefetch.range();
        self.fetched.borrow_mut().push((at, len));
        cache.complete(prefetch, Some(Object::bytes(at, u64::from(len))));
    }

    /// A read through `cache`, checked, its read ahead left to the caller.
    fn read_leaving_ahead(
        &self,
        cache: &ReadCache,
        offset: u64,
        length: u32,
    ) -> Result<Read, Error> {
        let read = cache.read(
            &self.mac,
            offset,
            length,
            || {
                *self.sized.borrow_mut() += 1;
                Ok(self.size)
            },
            |at, len| {
                self.fetched.borrow_mut().push((at, len));
                if at + u64::from(len) > self.size {
                    return Err(Error::Contract(ContractError::InvalidArgument(
                        "past the end".into(),
                    )));
                }
                Ok(Object::bytes(at, u64::from(len)))
            },
        )?;
        assert!(
            read.bytes() == Object::bytes(offset, u64::from(length)),
            "{offset}+{length}"
        );
        Ok(read)
    }

    /// Reads in block 0, then in block 1: a reader moving on, whose reads
    /// ahead (blocks 2 to 9, two at a time) are handed back unmade.
    fn move_into_block_1(&self, cache: &ReadCache) -> Vec<Prefetch> {
        self.read(cache, 0, 10).unwrap();
        let read = self.read_leaving_ahead(cache, MIB, 10).unwrap();
        assert!(
            !read.prefetches.is_empty(),
            "a reader moving on is read ahead of"
        );
        read.prefetches
    }

    fn fetched(&self) -> Vec<(u64, u32)> {
        self.fetched.borrow().clone()
    }
}

#[test]
fn nearby_small_reads_cost_one_request_for_their_block() {
    // Under 16 MiB nothing is read ahead: the requests are the reader's.
    let cache = ReadCache::new(8 * MIB);
    let object = Object::new(1, 64 * MIB);
    for (offset, length) in [(5_000, 154), (5_100, 300), (900_000, 40_000), (0, 1)] {
        object.read(&cache, offset, length).unwrap();
    }
    assert_eq!(object.fetched(), vec![(0, MIB as u32)]);
    assert_eq!(*object.sized.borrow(), 1);
    assert_eq!(cache.held(), MIB);
}

#[test]
fn cached_answers_only_what_every_block_holds() {
    let cache = ReadCache::new(8 * MIB);
    let object = Object::new(1, 2 * MIB + 10);
    assert!(cache.cached(&object.mac, 0, 10).is_none());
    object.read(&cache, 0, 10).unwrap();
    let hit = cache.cached(&object.mac, 5, 10).map(|r| r.bytes());
    assert_eq!(hit, Some(Object::bytes(5, 10)));
    assert!(
        cache.cached(&object.mac, MIB - 5, 10).is_none(),
        "block 1 is not held"
    );
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert!(
        cache.cached(&object.mac, 2 * MIB, 11).is_none(),
        "past the short last block"
    );
    assert!(cache.cached(&object.mac, 0, 0).is_none());
    assert_eq!(object.fetched().len(), 2, "cached never fetches");
}

#[test]
fn a_held_range_comes_as_slices_of_its_blocks_not_a_copy() {
    // plakar reads ranges of 4 to 8 MiB while restoring; a copy of each
    // Get in flight was memory beside the blocks.
    let cache = ReadCache::new(8 * MIB);
    let object = Object::new(1, 3 * MIB);
    object.read(&cache, 0, 3 * MIB as u32).unwrap();
    let read = cache.cached(&object.mac, MIB - 5, MIB as u32 + 10).unwrap();
    let lengths: Vec<usize> = read.pieces.iter().map(|p| p.len()).collect();
    assert_eq!(lengths, [5, MIB as usize, 5], "one slice a block");
    assert_eq!(read.bytes(), Object::bytes(MIB - 5, MIB + 10));
    // The same memory as the block's, served twice.
    let again = cache.cached(&object.mac, MIB, 10).unwrap();
    assert_eq!(again.pieces[0].as_ptr(), read.pieces[1].as_ptr());
}

#[test]
fn a_read_across_blocks_fetches_only_from_the_first_missing_one() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    object.read(&cache, 10, 10).unwrap();
    // Blocks 0 (held) to 2: one request for blocks 1 and 2. It moved on
    // from block 0, so blocks 3 to 10 are read ahead, two at a time.
    object.read(&cache, MIB - 100, (MIB + 200) as u32).unwrap();
    assert_eq!(
        object.fetched(),
        vec![
            (0, MIB as u32),
            (MIB, 2 * MIB as u32),
            (3 * MIB, 2 * MIB as u32),
            (5 * MIB, 2 * MIB as u32),
            (7 * MIB, 2 * MIB as u32),
            (9 * MIB, 2 * MIB as u32),
        ]
    );
    object.read(&cache, 2 * MIB + 5, 1000).unwrap();
    assert_eq!(object.fetched().len(), 6, "all held");
    assert_eq!(*object.sized.borrow(), 1, "the size is asked once");
}

#[test]
fn the_last_block_stops_at_the_objects_end() {
    let cache = ReadCache::new(32 * MIB);
    let size = 2 * MIB + MIB / 2;
    let object = Object::new(1, size);
    object.read(&cache, size - 100, 100).unwrap();
    assert_eq!(object.fetched(), vec![(2 * MIB, (MIB / 2) as u32)]);
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(object.fetched().len(), 1);
}

#[test]
fn a_range_past_the_end_goes_to_the_component_as_asked() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 3 * MIB);
    assert!(object.read(&cache, 3 * MIB - 10, 20).is_err());
    assert_eq!(object.fetched(), vec![(3 * MIB - 10, 20)]);
    assert_eq!(cache.held(), 0);
}

#[test]
fn reads_larger_than_half_the_cache_are_not_kept() {
    let cache = ReadCache::new(8 * MIB);
    let object = Object::new(1, 64 * MIB);
    object.read(&cache, 100, (5 * MIB) as u32).unwrap();
    object.read(&cache, 100, (5 * MIB) as u32).unwrap();
    assert_eq!(object.fetched(), vec![(100, 5 * MIB as u32); 2]);
    assert_eq!(*object.sized.borrow(), 0);
    assert_eq!(cache.held(), 0);
}

#[test]
fn a_cache_of_no_bytes_passes_every_read_through() {
    let cache = ReadCache::new(0);
    let object = Object::new(1, 64 * MIB);
    object.read(&cache, 100, 10).unwrap();
    object.read(&cache, 100, 10).unwrap();
    assert_eq!(object.fetched(), vec![(100, 10); 2]);
    assert_eq!(cache.held(), 0);
}

#[test]
fn the_least_recently_used_block_goes_first_and_the_capacity_holds() {
    // Under 16 MiB nothing is read ahead: the order is the readers' own.
    let cache = ReadCache::new(4 * MIB);
    let object = Object::new(1, 64 * MIB);
    for block in [0, 2, 1, 3] {
        object.read(&cache, block * MIB, 10).unwrap();
    }
    object.read(&cache, 0, 10).unwrap(); // block 0 used again
    object.read(&cache, 5 * MIB, 10).unwrap(); // pushes block 2 out
    assert_eq!(cache.held(), 4 * MIB);
    let before = object.fetched().len();
    object.read(&cache, 0, 10).unwrap();
    object.read(&cache, MIB, 10).unwrap();
    assert_eq!(object.fetched().len(), before, "blocks 0 and 1 are held");
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(object.fetched().last(), Some(&(2 * MIB, MIB as u32)));
    assert!(cache.held() <= 4 * MIB);
}

#[test]
fn objects_are_kept_apart_and_a_forgotten_one_is_read_again() {
    let cache = ReadCache::new(32 * MIB);
    let one = Object::new(1, 8 * MIB);
    let two = Object::new(2, 8 * MIB);
    one.read(&cache, 10, 10).unwrap();
    two.read(&cache, 10, 10).unwrap();
    assert_eq!(one.fetched().len(), 1);
    assert_eq!(two.fetched().len(), 1);
    cache.forget(&one.mac);
    assert_eq!(cache.held(), MIB);
    one.read(&cache, 10, 10).unwrap();
    two.read(&cache, 10, 10).unwrap();
    assert_eq!(one.fetched().len(), 2);
    assert_eq!(*one.sized.borrow(), 2, "its size is asked again too");
    assert_eq!(two.fetched().len(), 1);
}

/// A block fetch answered short is refused by the fetch itself (the
/// handle's `read_exact`, the one place a length is checked): its
/// `integrity` error reaches the caller as it is, and no block is kept.
#[test]
fn a_fetch_refused_as_short_is_the_callers_integrity_error_and_nothing_is_kept() {
    let cache = ReadCache::new(32 * MIB);
    let mac = Mac([7; 32]);
    let refusal = |at: u64, len: u32| {
        Error::Contract(ContractError::Integrity(format!(
            "packfile: the component returned {} bytes of the {len} bytes asked at {at}",
            len - 1
        )))
    };
    let result = cache.read(
        &mac,
        10,
        10,
        || Ok(8 * MIB),
        |at, len| Err(refusal(at, len)),
    );
    match result {
        Err(Error::Contract(ContractError::Integrity(message))) => assert_eq!(
            message,
            "packfile: the component returned 1048575 bytes of the 1048576 bytes asked at 0",
            "the whole first block was asked for"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.held(), 0);
    // Nothing is left in flight: the next read asks again.
    let again = cache.read(
        &mac,
        10,
        10,
        || Ok(8 * MIB),
        |_, len| Ok(vec![2; len as usize]),
    );
    assert_eq!(again.unwrap().bytes(), vec![2; 10]);
}

#[test]
fn a_failing_size_or_read_is_the_callers_error() {
    let cache = ReadCache::new(32 * MIB);
    let mac = Mac([7; 32]);
    let missing = || Error::Contract(ContractError::NotFound("packfile".into()));
    let result = cache.read(&mac, 10, 10, || Err(missing()), |_, _| unreachable!());
    assert!(matches!(
        result,
        Err(Error::Contract(ContractError::NotFound(_)))
    ));
    let result = cache.read(&mac, 10, 10, || Ok(MIB), |_, _| Err(missing()));
    assert!(matches!(
        result,
        Err(Error::Contract(ContractError::NotFound(_)))
    ));
    assert_eq!(cache.held(), 0);
    // Nothing is left in flight: the next read asks again, and waits for
    // nothing.
    let result = cache.read(&mac, 10, 10, || Ok(MIB), |_, len| Ok(vec![1; len as usize]));
    assert_eq!(result.unwrap().bytes(), vec![1; 10]);
}

/// A restore's reads, 40 KiB at a time from one end of a packfile to the
/// other: from its second read (on in block 0, the packfile's head) every
/// block was read ahead, and the reader itself never waits for the
/// registry again.
#[test]
fn a_reader_going_forward_from_the_head_is_read_ahead_of() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 20 * MIB + 7);
    let mut own_requests = 0;
    let mut offset = 0;
    while offset < object.size {
        let length = 40_000.min(object.size - offset) as u32;
        let before = object.fetched().len();
        let read = object.read_leaving_ahead(&cache, offset, length).unwrap();
        own_requests += object.fetched().len() - before;
        for prefetch in read.prefetches {
            object.complete(&cache, prefetch);
        }
        offset += u64::from(length);
    }
    assert_eq!(own_requests, 1, "block 0; the rest came ahead");
    // Each block once, none past the end, SPAN blocks a request but the
    // last.
    let fetched = object.fetched();
    let total: u64 = fetched.iter().map(|(_, len)| u64::from(*len)).sum();
    assert_eq!(total, object.size, "{fetched:?}");
    let ahead = &fetched[1..fetched.len() - 1];
    assert!(
        ahead.iter().all(|(_, len)| u64::from(*len) == SPAN * BLOCK),
        "{fetched:?}"
    );
    assert!(cache.held() <= 32 * MIB);
}

/// plakar pads each range and shifts it back by a few random bytes
/// (kloset's GetPackfileRange): ranges that overlap the one before still
/// go forward.
#[test]
fn padded_ranges_shifted_back_still_go_forward() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 16 * MIB);
    object.read(&cache, 100, 5_000).unwrap();
    let read = object.read_leaving_ahead(&cache, 5_060, 3_000).unwrap();
    assert_eq!(
        read.prefetches
            .iter()
            .map(Prefetch::range)
            .collect::<Vec<_>>(),
        vec![
            (MIB, 2 * MIB as u32),
            (3 * MIB, 2 * MIB as u32),
            (5 * MIB, 2 * MIB as u32),
            (7 * MIB, 2 * MIB as u32)
        ]
    );
    for prefetch in read.prefetches {
        object.complete(&cache, prefetch);
    }
    // Into the next block, starting a little before the last range ended.
    let read = object.read_leaving_ahead(&cache, MIB - 40, 2_000).unwrap();
    assert!(read.prefetches.is_empty(), "one block free: not a span yet");
    let read = object.read_leaving_ahead(&cache, 2 * MIB, 2_000).unwrap();
    assert_eq!(
        read.prefetches
            .iter()
            .map(Prefetch::range)
            .collect::<Vec<_>>(),
        vec![(9 * MIB, 2 * MIB as u32)],
        "two blocks free: one span"
    );
    for prefetch in read.prefetches {
        object.complete(&cache, prefetch);
    }
}

/// A single small file's restore reads one range of a packfile: nothing
/// is read ahead of it, nor of a reader going back.
#[test]
fn one_read_or_a_read_going_back_reads_nothing_ahead() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    let read = object.read_leaving_ahead(&cache, 500, 100).unwrap();
    assert!(read.prefetches.is_empty());
    let read = object.read_leaving_ahead(&cache, 400, 100).unwrap();
    assert!(read.prefetches.is_empty(), "backwards");
    let read = object.read_leaving_ahead(&cache, 400, 100).unwrap();
    assert!(read.prefetches.is_empty(), "the same range again");
    // On within a block past the head: chunks picked in order, not a
    // reader going through the packfile.
    object.read(&cache, 9 * MIB + 10, 100).unwrap();
    let read = object
        .read_leaving_ahead(&cache, 9 * MIB + 500, 100)
        .unwrap();
    assert!(read.prefetches.is_empty(), "on in block 9");
    assert_eq!(
        object.fetched(),
        vec![(0, MIB as u32), (9 * MIB, MIB as u32)]
    );
}

#[test]
fn scattered_reads_are_not_read_ahead_of() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    for block in [40, 3, 17, 3, 60, 41, 2] {
        let read = object
            .read_leaving_ahead(&cache, block * MIB + 500, 100)
            .unwrap();
        assert!(read.prefetches.is_empty(), "block {block}");
    }
}

#[test]
fn a_small_cache_does_not_read_ahead() {
    let cache = ReadCache::new(15 * MIB);
    let object = Object::new(1, 64 * MIB);
    for block in 0..6 {
        let read = object.read_leaving_ahead(&cache, block * MIB, 100).unwrap();
        assert!(read.prefetches.is_empty(), "block {block}");
    }
}

/// Eight readers at once (plakar's `-concurrency 8`): their blocks ahead,
/// in flight or held unread, never pass half the cache, and none is pushed
/// out before its reader gets there, so no block is fetched twice.
#[test]
fn readers_share_half_the_cache_for_blocks_ahead() {
    let cache = ReadCache::new(32 * MIB);
    let objects: Vec<Object> = (1..=8).map(|n| Object::new(n, 24 * MIB)).collect();
    let mut offsets = vec![0u64; objects.len()];
    let mut pending: Vec<(usize, Prefetch)> = Vec::new();
    let mut step = 0;
    while offsets.iter().zip(&objects).any(|(o, x)| *o < x.size) {
        for (n, object) in objects.iter().enumerate() {
            if offsets[n] >= object.size {
                continue;
            }
            let length = 100_000.min(object.size - offsets[n]) as u32;
            // A reader waits for a read ahead of the block it needs: made
            // first here, on one thread.
            let end = offsets[n] + u64::from(length);
            while let Some(at) = pending.iter().position(|(owner, p)| {
                let (from, len) = p.range();
                *owner == n && from < end && offsets[n] < from + u64::from(len)
            }) {
                let (_, prefetch) = pending.remove(at);
                object.complete(&cache, prefetch);
            }
            let read = object
                .read_leaving_ahead(&cache, offsets[n], length)
                .unwrap();
            pending.extend(read.prefetches.into_iter().map(|p| (n, p)));
            offsets[n] += u64::from(length);
            let ahead = cache.lock().ahead(32 * MIB).bytes;
            assert!(ahead <= 16 * MIB, "{ahead} bytes ahead");
            assert!(pending.len() <= MAX_PREFETCHES);
            // Reads ahead end a while after they start, oldest first.
            step += 1;
            if step % 3 == 0 && !pending.is_empty() {
                let (owner, prefetch) = pending.remove(0);
                objects[owner].complete(&cache, prefetch);
            }
        }
    }
    for (owner, prefetch) in pending {
        objects[owner].complete(&cache, prefetch);
    }
    for object in &objects {
        let fetched = object.fetched();
        let total: u64 = fetched.iter().map(|(_, len)| u64::from(*len)).sum();
        assert_eq!(total, object.size, "each block once: {fetched:?}");
        assert!(fetched.len() > 2, "some came ahead: {fetched:?}");
    }
    assert!(cache.held() <= 32 * MIB);
}

/// Blocks read ahead and not yet served go last when the cache is full;
/// one left unread while a cache's worth of blocks came after it is an
/// ordinary block again (its reader went elsewhere), and frees its share.
#[test]
fn blocks_ahead_go_last_until_a_cache_worth_came_after_them() {
    let cache = ReadCache::new(16 * MIB);
    let ahead = Object::new(1, 64 * MIB);
    let prefetches = ahead.move_into_block_1(&cache);
    assert_eq!(prefetches.len(), 4, "blocks 2 to 9");
    for prefetch in prefetches {
        ahead.complete(&cache, prefetch);
    }
    assert_eq!(cache.lock().ahead(16 * MIB).bytes, 8 * MIB);
    // Another object's blocks, read as they come: blocks 0 and 1 of the
    // first object go first, then the other's own oldest.
    let other = Object::new(2, 64 * MIB);
    for block in [0, 10, 20, 30, 40, 50] {
        other.read(&cache, block * MIB, 10).unwrap();
    }
    assert_eq!(cache.held(), 16 * MIB, "full");
    other.read(&cache, 60 * MIB, 10).unwrap();
    assert_eq!(cache.held(), 16 * MIB);
    let before = ahead.fetched().len();
    ahead.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(ahead.fetched().len(), before, "block 2 is still held");
    let held = cache.lock().blocks.contains_key(&(ahead.mac, 0));
    assert!(!held, "block 0, served, went first");
    // Blocks of a third object, skipping one each time: when two caches'
    // worth (32) has come since blocks 3 to 9 came, unread, they count no
    // longer.
    let third = Object::new(3, 64 * MIB);
    for n in 1..=25 {
        third.read(&cache, 2 * n * MIB, 10).unwrap();
        let ahead = cache.lock().ahead(16 * MIB).bytes;
        assert_eq!(ahead == 0, n == 25, "after {n}: {ahead}");
    }
}

#[test]
fn reads_ahead_stop_at_their_limit_and_start_again_when_one_ends() {
    let cache = ReadCache::new(64 * MIB);
    let objects: Vec<Object> = (1..=3).map(|n| Object::new(n, 64 * MIB)).collect();
    let mut pending = Vec::new();
    for object in &objects {
        object.read(&cache, 0, 10).unwrap();
        let read = object.read_leaving_ahead(&cache, MIB, 10).unwrap();
        pending.extend(read.prefetches.into_iter().map(|p| (object, p)));
    }
    assert_eq!(pending.len(), MAX_PREFETCHES, "the later readers get none");
    let read = objects[2].read_leaving_ahead(&cache, 2 * MIB, 10);
    assert!(read.unwrap().prefetches.is_empty(), "none free yet");
    let (object, prefetch) = pending.remove(0);
    object.complete(&cache, prefetch);
    let read = objects[2].read_leaving_ahead(&cache, 3 * MIB, 10).unwrap();
    assert_eq!(read.prefetches.len(), 1, "one free again");
    pending.extend(read.prefetches.into_iter().map(|p| (&objects[2], p)));
    for (object, prefetch) in pending {
        object.complete(&cache, prefetch);
    }
}

#[test]
fn a_failed_or_outdated_read_ahead_keeps_nothing() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    for prefetch in object.move_into_block_1(&cache) {
        cache.complete(prefetch, None);
    }
    assert_eq!(cache.held(), 2 * MIB);
    assert_eq!(cache.lock().ahead(32 * MIB).bytes, 0, "nothing in flight");
    // The block is no longer in flight: reading it asks for it at once.
    let before = object.fetched().len();
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(object.fetched()[before], (2 * MIB, MIB as u32));

    // Forgotten (deleted) while the read ahead ran: its bytes are not kept.
    let cache = ReadCache::new(32 * MIB);
    let prefetches = object.move_into_block_1(&cache);
    cache.forget(&object.mac);
    for prefetch in prefetches {
        object.complete(&cache, prefetch);
    }
    assert_eq!(cache.held(), 0);
}

/// A reader needing a block that is being read ahead waits for it, and
/// does not ask for it a second time.
#[test]
fn a_reader_waits_for_a_block_on_its_way() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    let mut prefetches = object.move_into_block_1(&cache).into_iter();
    let prefetch = prefetches.next().unwrap();
    assert_eq!(prefetch.range(), (2 * MIB, (2 * MIB) as u32));
    let asked = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            cache
                .read(
                    &object.mac,
                    3 * MIB + 5,
                    10,
                    || unreachable!("the size is known"),
                    |at, len| {
                        asked.fetch_add(1, Ordering::SeqCst);
                        Ok(Object::bytes(at, u64::from(len)))
                    },
                )
                .unwrap()
                .bytes()
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiting.is_finished(), "the reader waits for the block");
        let (at, len) = prefetch.range();
        cache.complete(prefetch, Some(Object::bytes(at, u64::from(len))));
        assert_eq!(waiting.join().unwrap(), Object::bytes(3 * MIB + 5, 10));
    });
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    for prefetch in prefetches {
        object.complete(&cache, prefetch);
    }
}

#[test]
fn a_fetch_that_panics_leaves_no_block_in_flight() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 8 * MIB);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.read(
            &object.mac,
            10,
            10,
            || Ok(object.size),
            |_, _| panic!("a broken fetch"),
        )
    }));
    assert!(panicked.is_err());
    // Were block 0 still marked, this read would wait forever.
    object.read(&cache, 10, 10).unwrap();
    assert_eq!(object.fetched(), vec![(0, MIB as u32)]);
}

#[test]
fn what_is_learnt_while_the_object_is_forgotten_is_not_kept() {
    let cache = ReadCache::new(32 * MIB);
    let mac = Mac([5; 32]);
    let fetches = AtomicUsize::new(0);
    // Deleted while its size was asked, and again while its block was
    // read: the read still answers (it read what it asked), but keeps
    // neither the size nor the block.
    let read = cache
        .read(
            &mac,
            10,
            10,
            || {
                cache.forget(&mac);
                Ok(4 * MIB)
            },
            |at, len| {
                if fetches.fetch_add(1, Ordering::SeqCst) == 0 {
                    cache.forget(&mac);
                }
                Ok(Object::bytes(at, u64::from(len)))
            },
        )
        .unwrap();
    assert_eq!(read.bytes(), Object::bytes(10, 10));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "the block, then the range as asked"
    );
    assert_eq!(cache.held(), 0);
    let sized = AtomicUsize::new(0);
    let _ = cache.read(
        &mac,
        10,
        10,
        || {
            sized.fetch_add(1, Ordering::SeqCst);
            Ok(4 * MIB)
        },
        |at, len| Ok(Object::bytes(at, u64::from(len))),
    );
    assert_eq!(sized.load(Ordering::SeqCst), 1, "the size is asked again");
}

#[test]
fn only_ranges_of_up_to_half_the_cache_are_kept() {
    let cache = ReadCache::new(8 * MIB);
    assert!(cache.keeps(0, (4 * MIB) as u32));
    assert!(!cache.keeps(1, (4 * MIB) as u32), "five blocks");
    assert!(!cache.keeps(0, 0));
    assert!(!cache.keeps(u64::MAX - 5, 10));
    assert!(
        !ReadCache::new(MIB).keeps(0, 1),
        "under 2 MiB keeps nothing"
    );
    assert!(ReadCache::new(2 * MIB).keeps(0, 1));
}

/// A block kept short (the object ended there at the size learnt then),
/// then a larger size for the same MAC (the sizes start afresh past
/// `MAX_OBJECTS`, and a registry may answer another size for a MAC put
/// again): the read asks for the block again. It used to find every
/// block "held", serve none, and loop forever without a request.
#[test]
fn a_block_kept_short_under_a_larger_size_is_fetched_again() {
    let cache = std::sync::Arc::new(ReadCache::new(32 * MIB));
    let small = Object::new(3, MIB + 100);
    small.read(&cache, MIB, 10).unwrap();
    assert_eq!(small.fetched(), vec![(MIB, 100)], "block 1 is kept short");
    {
        let mut state = cache.lock();
        for n in 0..MAX_OBJECTS as u32 {
            let mut other = [0xee; 32];
            other[..4].copy_from_slice(&n.to_le_bytes());
            state.keep_size(Mac(other), 1);
        }
        assert!(!state.sizes.contains_key(&small.mac), "its size is gone");
    }
    let (done, result) = std::sync::mpsc::channel();
    let reader = std::sync::Arc::clone(&cache);
    std::thread::spawn(move || {
        let large = Object::new(3, 2 * MIB);
        let read = large.read(&reader, MIB + 200, 10).map(|_| large.fetched());
        let _ = done.send(read);
    });
    let fetched = result
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the read ended")
        .unwrap();
    assert_eq!(fetched, vec![(MIB, MIB as u32)]);
}
