//! The read cache's policy over a fake object: which ranges it asks the
//! registry for, what it keeps, and that every read returns the object's
//! own bytes.

use super::*;
use std::cell::RefCell;

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

    /// A read through `cache`, checked against the object's bytes.
    fn read(&self, cache: &ReadCache, offset: u64, length: u32) -> Result<Vec<u8>, StoreError> {
        let got = cache.read(
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
                    return Err(StoreError::Contract(ContractError::InvalidArgument(
                        "past the end".into(),
                    )));
                }
                Ok(Object::bytes(at, u64::from(len)))
            },
        )?;
        assert_eq!(
            got,
            Object::bytes(offset, u64::from(length)),
            "{offset}+{length}"
        );
        Ok(got)
    }

    fn fetched(&self) -> Vec<(u64, u32)> {
        self.fetched.borrow().clone()
    }
}

#[test]
fn nearby_small_reads_cost_one_request_for_their_block() {
    let cache = ReadCache::new(32 * MIB);
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
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 2 * MIB + 10);
    assert_eq!(cache.cached(&object.mac, 0, 10), None);
    object.read(&cache, 0, 10).unwrap();
    assert_eq!(cache.cached(&object.mac, 5, 10), Some(Object::bytes(5, 10)));
    assert_eq!(
        cache.cached(&object.mac, MIB - 5, 10),
        None,
        "block 1 is not held"
    );
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(
        cache.cached(&object.mac, 2 * MIB, 11),
        None,
        "past the short last block"
    );
    assert_eq!(cache.cached(&object.mac, 0, 0), None);
    assert_eq!(object.fetched().len(), 2, "cached never fetches");
}

#[test]
fn a_read_across_blocks_fetches_only_from_the_first_missing_one() {
    let cache = ReadCache::new(32 * MIB);
    let object = Object::new(1, 64 * MIB);
    object.read(&cache, 10, 10).unwrap();
    // Blocks 0 (held) to 2: one request for blocks 1 and 2.
    object.read(&cache, MIB - 100, (MIB + 200) as u32).unwrap();
    assert_eq!(
        object.fetched(),
        vec![(0, MIB as u32), (MIB, 2 * MIB as u32)]
    );
    // All held now.
    object.read(&cache, 2 * MIB + 5, 1000).unwrap();
    assert_eq!(object.fetched().len(), 2);
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
    let cache = ReadCache::new(4 * MIB);
    let object = Object::new(1, 64 * MIB);
    for block in 0..4 {
        object.read(&cache, block * MIB, 10).unwrap();
    }
    object.read(&cache, 0, 10).unwrap(); // block 0 used again
    object.read(&cache, 4 * MIB, 10).unwrap(); // pushes block 1 out
    assert_eq!(cache.held(), 4 * MIB);
    let before = object.fetched().len();
    object.read(&cache, 0, 10).unwrap();
    object.read(&cache, 2 * MIB, 10).unwrap();
    assert_eq!(object.fetched().len(), before, "blocks 0 and 2 are held");
    object.read(&cache, MIB, 10).unwrap();
    assert_eq!(object.fetched().last(), Some(&(MIB, MIB as u32)));
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

#[test]
fn a_short_answer_is_an_integrity_error_and_nothing_is_kept() {
    let cache = ReadCache::new(32 * MIB);
    let mac = Mac([7; 32]);
    let result = cache.read(
        &mac,
        10,
        10,
        || Ok(8 * MIB),
        |_, len| Ok(vec![0; len as usize - 1]),
    );
    match result {
        Err(StoreError::Contract(ContractError::Integrity(message))) => {
            assert!(message.contains("1048576"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.held(), 0);
}

#[test]
fn a_failing_size_or_read_is_the_callers_error() {
    let cache = ReadCache::new(32 * MIB);
    let mac = Mac([7; 32]);
    let missing = || StoreError::Contract(ContractError::NotFound("packfile".into()));
    let result = cache.read(&mac, 10, 10, || Err(missing()), |_, _| unreachable!());
    assert!(matches!(
        result,
        Err(StoreError::Contract(ContractError::NotFound(_)))
    ));
    let result = cache.read(&mac, 10, 10, || Ok(MIB), |_, _| Err(missing()));
    assert!(matches!(
        result,
        Err(StoreError::Contract(ContractError::NotFound(_)))
    ));
    assert_eq!(cache.held(), 0);
    // The size learnt stays: the object may come back under its MAC.
}
