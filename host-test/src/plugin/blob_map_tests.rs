use std::os::unix::fs::PermissionsExt;

use super::*;

fn mac(n: u8) -> Mac {
    Mac([n; 32])
}

fn blob(n: u8) -> BlobRef {
    BlobRef {
        digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
        size: u64::from(n) * 1000,
    }
}

fn map_in(dir: &Path) -> BlobMap {
    BlobMap::new(Some((dir.join("blobs"), file_name("127.0.0.1:5000/r"))))
}

fn entries_in(dir: &Path) -> Option<usize> {
    let fd = crate::plugin::cache_dir::open(&dir.join("blobs")).unwrap();
    read_file(&fd, &file_name("127.0.0.1:5000/r")).map(|e| e.len())
}

#[test]
fn what_one_process_learnt_the_next_one_reads() {
    let dir = tempfile::tempdir().unwrap();
    let first = map_in(dir.path());
    first.learnt(Resource::Packfile, &mac(1), &blob(1), first.epoch());
    first.learnt(Resource::State, &mac(2), &blob(2), first.epoch());
    first.save();
    let second = map_in(dir.path());
    assert_eq!(second.lookup(Resource::Packfile, &mac(1)), Some(blob(1)));
    assert_eq!(second.lookup(Resource::State, &mac(2)), Some(blob(2)));
    // Kinds are key spaces of their own.
    assert_eq!(second.lookup(Resource::State, &mac(1)), None);
    let file = dir.path().join("blobs").join(file_name("127.0.0.1:5000/r"));
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn locks_and_digests_not_sha256_are_never_kept() {
    let map = BlobMap::new(None);
    map.learnt(Resource::Lock, &mac(1), &blob(1), 0);
    let odd = BlobRef {
        digest: "sha256:../../etc".into(),
        size: 1,
    };
    map.learnt(Resource::Packfile, &mac(2), &odd, 0);
    assert_eq!(map.len(), 0);
}

#[test]
fn a_damaged_or_foreign_file_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let first = map_in(dir.path());
    first.learnt(Resource::Packfile, &mac(1), &blob(1), 0);
    first.save();
    let file = dir.path().join("blobs").join(file_name("127.0.0.1:5000/r"));
    let mut bytes = fs::read(&file).unwrap();
    let at = MAGIC.len() + 40;
    bytes[at] ^= 1;
    fs::write(&file, &bytes).unwrap();
    assert_eq!(entries_in(dir.path()), None);
    let second = map_in(dir.path());
    assert_eq!(second.lookup(Resource::Packfile, &mac(1)), None);
    second.learnt(Resource::Packfile, &mac(3), &blob(3), 0);
    second.save();
    assert_eq!(entries_in(dir.path()), Some(1));

    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(entries_in(dir.path()), None);
    assert_eq!(map_in(dir.path()).lookup(Resource::Packfile, &mac(3)), None);
}

#[test]
fn a_link_or_a_second_name_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let first = map_in(dir.path());
    first.learnt(Resource::Packfile, &mac(1), &blob(1), 0);
    first.save();
    let blobs = dir.path().join("blobs");
    let file = blobs.join(file_name("127.0.0.1:5000/r"));
    fs::rename(&file, blobs.join("real")).unwrap();
    std::os::unix::fs::symlink(blobs.join("real"), &file).unwrap();
    assert_eq!(entries_in(dir.path()), None);
    fs::remove_file(&file).unwrap();
    fs::hard_link(blobs.join("real"), &file).unwrap();
    assert_eq!(entries_in(dir.path()), None);
    fs::remove_file(blobs.join("real")).unwrap();
    assert_eq!(entries_in(dir.path()), Some(1));
}

#[test]
fn a_key_changed_after_a_read_began_is_not_learnt_from_it() {
    let map = BlobMap::new(None);
    let seen = map.epoch();
    map.changed(Resource::Packfile, &mac(1));
    map.learnt(Resource::Packfile, &mac(1), &blob(1), seen);
    assert_eq!(map.lookup(Resource::Packfile, &mac(1)), None);
    // A read that began after the change learns it.
    map.learnt(Resource::Packfile, &mac(1), &blob(1), map.epoch());
    assert_eq!(map.lookup(Resource::Packfile, &mac(1)), Some(blob(1)));
}

#[test]
fn instances_catch_up_on_changes_or_are_too_far_behind() {
    let map = BlobMap::new(None);
    let seen = map.epoch();
    map.changed(Resource::Packfile, &mac(1));
    map.changed(Resource::State, &mac(2));
    assert_eq!(
        map.catch_up(seen),
        CatchUp::Forget {
            keys: vec![(Resource::Packfile, mac(1)), (Resource::State, mac(2))],
            seen: 2
        }
    );
    assert_eq!(
        map.catch_up(2),
        CatchUp::Forget {
            keys: vec![],
            seen: 2
        }
    );
    for n in 0..MAX_CHANGES {
        map.changed(Resource::Packfile, &mac(n as u8));
    }
    assert_eq!(map.catch_up(seen), CatchUp::TooFarBehind);
    assert!(
        matches!(map.catch_up(map.epoch() - 10), CatchUp::Forget { keys, .. } if keys.len() == 10)
    );
}

#[test]
fn a_delete_here_is_not_undone_by_the_file_nor_a_merge_lost() {
    let dir = tempfile::tempdir().unwrap();
    let first = map_in(dir.path());
    first.learnt(Resource::Packfile, &mac(1), &blob(1), 0);
    first.learnt(Resource::Packfile, &mac(2), &blob(2), 0);
    first.save();
    // Two processes at once: one deletes 1, the other learns 3.
    let deleter = map_in(dir.path());
    assert!(deleter.lookup(Resource::Packfile, &mac(1)).is_some());
    let reader = map_in(dir.path());
    assert!(reader.lookup(Resource::Packfile, &mac(2)).is_some());
    reader.learnt(Resource::Packfile, &mac(3), &blob(3), 0);
    reader.save();
    deleter.changed(Resource::Packfile, &mac(1));
    deleter.save();
    let after = map_in(dir.path());
    assert_eq!(after.lookup(Resource::Packfile, &mac(1)), None);
    assert_eq!(after.lookup(Resource::Packfile, &mac(2)), Some(blob(2)));
    assert_eq!(after.lookup(Resource::Packfile, &mac(3)), Some(blob(3)));
}

#[test]
fn the_map_is_bounded_and_drops_the_oldest() {
    let map = BlobMap::new(None);
    let mut inner = map.lock();
    for n in 0..=MAX_ENTRIES as u32 {
        let mut m = [0u8; 32];
        m[..4].copy_from_slice(&n.to_le_bytes());
        inner.insert((Resource::Packfile, Mac(m)), [1; 32], 1);
    }
    assert!(inner.entries.len() <= MAX_ENTRIES);
    assert!(inner.entries.len() >= MAX_ENTRIES * 3 / 4);
    let newest = {
        let mut m = [0u8; 32];
        m[..4].copy_from_slice(&(MAX_ENTRIES as u32).to_le_bytes());
        Mac(m)
    };
    assert!(inner.entries.contains_key(&(Resource::Packfile, newest)));
    assert!(!inner
        .entries
        .contains_key(&(Resource::Packfile, Mac([0; 32]))));
}

#[test]
fn the_first_reader_of_an_unknown_key_learns_it_and_the_next_waits_then_finds_it() {
    let map = BlobMap::new(None);
    let learning = map.learn_or_wait(Resource::Packfile, &mac(1));
    assert!(
        learning.is_some(),
        "nobody knows it: the first reader learns"
    );
    // Another key, and a lock, are not held up by it.
    let other = map.learn_or_wait(Resource::Packfile, &mac(2));
    assert!(other.is_some());
    assert!(map.learn_or_wait(Resource::Lock, &mac(1)).is_none());
    drop(other);
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let waited = map.learn_or_wait(Resource::Packfile, &mac(1));
            (waited.is_none(), map.lookup(Resource::Packfile, &mac(1)))
        });
        until_waiting(&map, 1);
        assert!(!waiter.is_finished(), "a second reader waits for the first");
        map.learnt(Resource::Packfile, &mac(1), &blob(1), map.epoch());
        drop(learning);
        assert_eq!(waiter.join().unwrap(), (true, Some(blob(1))));
    });
    // Known now: nobody waits, nobody learns.
    assert!(map.learn_or_wait(Resource::Packfile, &mac(1)).is_none());
}

#[test]
fn readers_waiting_for_a_read_that_failed_each_read_for_themselves() {
    let map = BlobMap::new(None);
    let learning = map.learn_or_wait(Resource::State, &mac(3)).unwrap();
    std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let waited = map.learn_or_wait(Resource::State, &mac(3));
                    (waited.is_none(), map.lookup(Resource::State, &mac(3)))
                })
            })
            .collect();
        until_waiting(&map, 3);
        // The first read failed: nothing learnt.
        drop(learning);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), (true, None));
        }
    });
    // The next reader learns it again.
    assert!(map.learn_or_wait(Resource::State, &mac(3)).is_some());
}

/// A delete racing the read that learns: the learner's mapping is refused
/// (the key changed after what it had seen), so the readers waiting for it
/// wake to find nothing, and read for themselves, rather than being taught
/// the blob of an object that is gone.
#[test]
fn readers_waiting_for_a_read_a_delete_raced_are_taught_nothing() {
    let map = BlobMap::new(None);
    let learning = map.learn_or_wait(Resource::Packfile, &mac(4)).unwrap();
    // What the learner's instance had seen when it read.
    let seen = map.epoch();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let waited = map.learn_or_wait(Resource::Packfile, &mac(4));
            (waited.is_none(), map.lookup(Resource::Packfile, &mac(4)))
        });
        until_waiting(&map, 1);
        // Deleted through another instance while the first was reading.
        map.changed(Resource::Packfile, &mac(4));
        map.learnt(Resource::Packfile, &mac(4), &blob(4), seen);
        drop(learning);
        assert_eq!(waiter.join().unwrap(), (true, None));
    });
}

/// A learner that panics lets the others go at once (its [`Learning`] is
/// dropped as it unwinds), not after the 30 s bound.
#[test]
fn a_learner_that_panics_lets_the_waiting_readers_go() {
    let map = BlobMap::new(None);
    std::thread::scope(|scope| {
        let learner = scope.spawn(|| {
            let _learning = map.learn_or_wait(Resource::State, &mac(5)).unwrap();
            until_waiting(&map, 1);
            panic!("the learner's read panicked");
        });
        // The learner holds the key before the waiter starts.
        while map.lock().learning.is_empty() {
            std::thread::yield_now();
        }
        let started = Instant::now();
        let waited = map.learn_or_wait(Resource::State, &mac(5));
        assert!(waited.is_none());
        assert!(learner.join().is_err(), "the learner panicked");
        assert!(started.elapsed() < Duration::from_secs(10));
    });
    // Nothing is left held: the next reader learns.
    assert!(map.learn_or_wait(Resource::State, &mac(5)).is_some());
}

/// Returns once `n` readers wait in `map` (fails after 10 s).
fn until_waiting(map: &BlobMap, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while map.waiting() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} readers never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
