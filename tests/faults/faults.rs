//! The store against a registry having a bad day: a fault-injecting proxy
//! (`kloset_testkit::faults`) between the host and a real registry answers 5xx and
//! 429, drops connections, cuts and corrupts bodies, ignores `Range` and
//! pages tags. Every test ends either in complete success with every byte
//! verified, or in the expected typed error; never in wrong bytes read back
//! or a half-written object listed.

use kloset_host::{ContractError, Error, Resource, StoreHandle};
use kloset_testkit::faults::{
    first_attempts, seeded, splitmix64, Fault, FaultProxy, Handled, RequestInfo,
};
use kloset_testkit::proxied::{bytes, listed, not_found, Mac, Proxied};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

type Setup = Proxied;

fn setup(name: &str) -> Setup {
    Proxied::start(name, &[])
}

/// A setup whose store gets `extra` options too.
fn setup_with(name: &str, extra: &[(&str, &str)]) -> Setup {
    Proxied::start(name, extra)
}

fn mac(n: u8) -> Mac {
    let mut m = [n; 32];
    m[0] = 0xa5; // distinct from other files' keys, for reading logs
    Mac(m)
}

/// Create, puts of every size class up to 8 MiB (buffered), an overwrite,
/// lists, whole and ranged gets, a delete; every byte checked.
fn workload(store: &StoreHandle) {
    store.create(b"config bytes").expect("create");
    let objects: Vec<(Resource, Mac, Vec<u8>)> = vec![
        (Resource::Packfile, mac(1), bytes(1, 300_000)),
        (Resource::Packfile, mac(2), bytes(2, 1)),
        (Resource::State, mac(3), bytes(3, 5_000)),
        (Resource::Lock, mac(4), bytes(4, 100)),
        (Resource::EccPackfile, mac(5), Vec::new()),
    ];
    for (kind, key, data) in &objects {
        store.put_bytes(*kind, key, data).expect("put");
    }
    // The lock is put again with new bytes, as Kloset does.
    let relocked = bytes(44, 120);
    store
        .put_bytes(Resource::Lock, &mac(4), &relocked)
        .expect("overwrite");
    for (kind, key, data) in &objects {
        let expected = if *kind == Resource::Lock {
            &relocked
        } else {
            data
        };
        let of_kind: BTreeSet<Mac> = objects
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, m, _)| *m)
            .collect();
        assert_eq!(listed(store, *kind), of_kind, "{kind:?}");
        assert_eq!(&store.get(*kind, key, None).expect("get"), expected);
        if expected.len() > 20 {
            let len = expected.len() as u64;
            for (offset, length) in [(0, 10), (len / 2, 10), (len - 10, 10)] {
                let got = store
                    .get(*kind, key, Some((offset, length)))
                    .expect("ranged get");
                let at = offset as usize;
                assert_eq!(got, expected[at..at + length as usize], "at {offset}");
            }
        }
    }
    store.delete(Resource::Packfile, &mac(2)).expect("delete");
    assert_eq!(listed(store, Resource::Packfile), BTreeSet::from([mac(1)]));
    not_found(store.get(Resource::Packfile, &mac(2), None));
}

#[test]
fn a_503_on_every_first_attempt_is_ridden_out() {
    let s = setup("fault-503");
    s.proxy
        .set(first_attempts(Fault::Status(503, None), |r| !r.is_patch()));
    workload(&s.store);
    let faults = s.proxy.faults();
    println!(
        "{faults} faults over {} requests ({} counted by the host)",
        s.proxy.requests(),
        s.store.requests()
    );
    assert!(
        faults * 2 >= s.proxy.requests() - 1,
        "every request faulted once"
    );
}

#[test]
fn a_503_on_a_streamed_patch_fails_the_put_and_leaves_nothing() {
    let s = setup("fault-patch");
    s.store.create(b"config").unwrap();
    s.proxy.set(|r: &RequestInfo, _| {
        if r.is_patch() {
            Fault::Status(503, None)
        } else {
            Fault::None
        }
    });
    let big = bytes(9, 9 << 20);
    let result = s.store.put(Resource::Packfile, &mac(9), &big[..]);
    s.proxy.clear();
    println!("streamed put under a 503 PATCH: {result:?}");
    assert!(
        matches!(
            result,
            Err(Error::Contract(ContractError::Registry { status: 503, .. }))
        ),
        "{result:?}"
    );
    assert!(listed(&s.store, Resource::Packfile).is_empty());
    not_found(s.store.get(Resource::Packfile, &mac(9), None));
}

#[test]
fn retry_after_is_waited_out_or_refused() {
    let s = setup("fault-429");
    s.store.create(b"config").unwrap();
    // Two answers of 429 with Retry-After: 1, on the 2nd and 5th requests
    // from here on.
    let first = s.proxy.requests();
    s.proxy.set(move |_: &RequestInfo, n| {
        if n == first + 1 || n == first + 4 {
            Fault::Status(429, Some(1))
        } else {
            Fault::None
        }
    });
    let started = Instant::now();
    let data = bytes(7, 2_000);
    s.store.put_bytes(Resource::State, &mac(7), &data).unwrap();
    assert_eq!(s.store.get(Resource::State, &mac(7), None).unwrap(), data);
    let took = started.elapsed();
    assert_eq!(s.proxy.faults(), 2);
    assert!(took >= Duration::from_millis(1900), "took only {took:?}");

    // An hour: refused at once.
    s.proxy
        .set(|_: &RequestInfo, _| Fault::Status(429, Some(3600)));
    let started = Instant::now();
    let result = s.store.put_bytes(Resource::State, &mac(8), b"later");
    let took = started.elapsed();
    assert!(
        matches!(result, Err(Error::Contract(ContractError::RateLimited(_)))),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    s.proxy.clear();
    assert_eq!(listed(&s.store, Resource::State), BTreeSet::from([mac(7)]));
    not_found(s.store.get(Resource::State, &mac(8), None));
}

#[test]
fn a_manifest_put_failing_for_good_leaves_no_object_and_keeps_the_old_one() {
    let s = setup("fault-500");
    s.store.create(b"config").unwrap();
    let old = bytes(10, 3_000);
    s.store.put_bytes(Resource::Lock, &mac(10), &old).unwrap();
    s.proxy.set(|r: &RequestInfo, _| {
        if r.is_manifest_put() {
            Fault::Status(500, None)
        } else {
            Fault::None
        }
    });
    let fresh = s
        .store
        .put_bytes(Resource::Lock, &mac(11), b"never visible");
    let overwrite = s
        .store
        .put_bytes(Resource::Lock, &mac(10), &bytes(12, 3_000));
    s.proxy.clear();
    for result in [fresh, overwrite] {
        assert!(
            matches!(
                result,
                Err(Error::Contract(ContractError::Registry { status: 500, .. }))
            ),
            "{result:?}"
        );
    }
    // Five attempts of each manifest PUT: the first and four retries.
    let manifest_puts = s
        .proxy
        .log()
        .iter()
        .filter(|h| h.fault != Fault::None)
        .count();
    assert_eq!(manifest_puts, 10);
    assert_eq!(listed(&s.store, Resource::Lock), BTreeSet::from([mac(10)]));
    not_found(s.store.get(Resource::Lock, &mac(11), None));
    assert_eq!(s.store.get(Resource::Lock, &mac(10), None).unwrap(), old);
}

/// The PUT that completes a blob upload: repeating it after the registry
/// took it finds the session gone.
fn is_upload_completion(r: &RequestInfo) -> bool {
    r.method == "PUT" && r.path().contains("/blobs/uploads/")
}

#[test]
fn connections_reset_before_the_answer_are_ridden_out() {
    let s = setup("fault-reset");
    // Every request but streamed PATCHes and upload completions (see
    // `a_reset_upload_completion_is_ridden_out`) loses its first answer.
    s.proxy.set(first_attempts(Fault::ResetBeforeResponse, |r| {
        !r.is_patch() && !is_upload_completion(r)
    }));
    workload(&s.store);
    println!(
        "{} resets over {} requests",
        s.proxy.faults(),
        s.proxy.requests()
    );
    assert_resets_hit(&s, &["GET", "POST", "PUT"]);
}

/// The proxy reset connections, only by `ResetBeforeResponse`, and among
/// them requests of each of `methods`: a test of riding faults out that
/// injected none would pass for nothing.
fn assert_resets_hit(s: &Setup, methods: &[&str]) {
    let faulted: Vec<Handled> = s
        .proxy
        .log()
        .into_iter()
        .filter(|h| !h.fault.is_none())
        .collect();
    assert!(!faulted.is_empty(), "no connection was reset");
    assert!(
        faulted
            .iter()
            .all(|h| h.fault == Fault::ResetBeforeResponse),
        "{:?}",
        s.proxy.fault_counts()
    );
    for method in methods {
        assert!(
            faulted.iter().any(|h| h.method == *method),
            "no {method} was reset: {:?}",
            faulted
                .iter()
                .map(|h| format!("{} {}", h.method, h.target))
                .collect::<Vec<_>>()
        );
    }
}

/// The registry completes the upload, the answer is lost, the store sends
/// the PUT again and distribution answers 404 `BLOB_UPLOAD_UNKNOWN`.
/// Whatever the store makes of it, nothing half-written may show.
#[test]
fn a_reset_upload_completion_leaves_a_consistent_store() {
    let s = setup("fault-reset-put");
    s.store.create(b"config").unwrap();
    s.proxy.set(first_attempts(
        Fault::ResetBeforeResponse,
        is_upload_completion,
    ));
    let data = bytes(60, 10_000);
    let result = s.store.put_bytes(Resource::State, &mac(60), &data);
    s.proxy.clear();
    assert_resets_hit(&s, &["PUT"]);
    println!("put whose upload completion was reset: {result:?}");
    let listed_now = listed(&s.store, Resource::State).contains(&mac(60));
    match s.store.get(Resource::State, &mac(60), None) {
        Ok(got) => {
            assert_eq!(got, data);
            assert!(listed_now);
        }
        Err(Error::Contract(ContractError::NotFound(_))) => {
            assert!(result.is_err(), "a put that succeeded is not found");
            assert!(!listed_now);
        }
        Err(e) => panic!("{e}"),
    }
    // A later put of the same key, faults off, succeeds.
    s.store.put_bytes(Resource::State, &mac(60), &data).unwrap();
    assert_eq!(s.store.get(Resource::State, &mac(60), None).unwrap(), data);
}

/// What the store should do (see the report): the blob is there, so the
/// put should succeed: the client finds the session closed and the blob there.
#[test]
fn a_reset_upload_completion_is_ridden_out() {
    let s = setup("fault-reset-put-ok");
    s.proxy.set(first_attempts(
        Fault::ResetBeforeResponse,
        is_upload_completion,
    ));
    workload(&s.store);
    assert_resets_hit(&s, &["PUT"]);
}

/// A store holding one 200 kB packfile, read once so later whole gets are
/// one blob GET.
fn one_packfile(name: &str) -> (Setup, Vec<u8>) {
    let s = setup(name);
    s.store.create(b"config").unwrap();
    let data = bytes(20, 200_000);
    s.store
        .put_bytes(Resource::Packfile, &mac(20), &data)
        .unwrap();
    (s, data)
}

/// Faults the first blob GET from now on with `fault`.
fn first_blob_get(proxy: &FaultProxy, fault: Fault) {
    let done = std::sync::atomic::AtomicBool::new(false);
    proxy.set(move |r: &RequestInfo, _| {
        if r.is_blob_get() && !done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            fault.clone()
        } else {
            Fault::None
        }
    });
}

#[test]
fn a_truncated_blob_is_never_returned() {
    let (s, data) = one_packfile("fault-truncate");
    first_blob_get(&s.proxy, Fault::TruncateBody(100_000));
    let result = s.store.get(Resource::Packfile, &mac(20), None);
    s.proxy.clear();
    // The cut body is asked again from the byte reached: the read
    // completes, verified against the digest across the two answers.
    assert_eq!(s.proxy.faults(), 1);
    let blob_gets = s
        .proxy
        .log()
        .iter()
        .filter(|h| h.method == "GET" && h.target.contains("/blobs/sha256:"))
        .count();
    assert_eq!(blob_gets, 2, "one resumption");
    assert!(result.expect("resumed") == data);
    assert_eq!(
        s.store.get(Resource::Packfile, &mac(20), None).unwrap(),
        data
    );
}

#[test]
fn a_whole_get_survives_a_connection_cut_every_few_mib() {
    let s = setup("fault-cuts");
    s.store.create(b"config").unwrap();
    let data = bytes(21, 64 << 20);
    s.store
        .put_bytes(Resource::Packfile, &mac(21), &data)
        .unwrap();
    // Every blob GET, the resumed ones too, is cut after 3 MiB of body.
    s.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::TruncateBody(3 << 20)
        } else {
            Fault::None
        }
    });
    let got = s
        .store
        .get(Resource::Packfile, &mac(21), None)
        .expect("get");
    let cuts = s.proxy.faults();
    s.proxy.clear();
    println!("64 MiB read through {cuts} cut connections");
    assert!(got == data, "wrong bytes");
    assert!(cuts >= 21, "only {cuts} cuts");
    // A ranged read across several cuts asks for the rest of its range.
    s.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::TruncateBody(1 << 20)
        } else {
            Fault::None
        }
    });
    let (offset, length) = (5_000_000u64, 4_000_000u32);
    let got = s
        .store
        .get(Resource::Packfile, &mac(21), Some((offset, length)))
        .expect("ranged get");
    assert!(got == data[offset as usize..offset as usize + length as usize]);
}

#[test]
fn every_kind_of_get_body_cut_midway_is_ridden_out() {
    // Issue 21: 30% of GET answers (manifests, the config, tag lists,
    // ranged and whole blob reads) sent with their status and headers,
    // then the connection closed 40 bytes into the body. Every operation
    // reads on, and reads the right bytes.
    let s = setup("cut-bodies");
    s.store.create(b"config bytes").unwrap();
    let packfile = bytes(7, 300_000);
    s.store
        .put_bytes(Resource::Packfile, &mac(1), &packfile)
        .unwrap();
    let seed = 0x5eed_c07;
    let cutting = seeded(seed, 0.30, vec![Fault::TruncateBody(40)], |r| {
        r.method == "GET"
    });
    s.proxy.set(cutting);
    for round in 0..10u8 {
        let fresh = s.reopen(&[]);
        assert_eq!(
            fresh.open().unwrap(),
            b"config bytes",
            "open, round {round}"
        );
        assert_eq!(
            fresh.get(Resource::Packfile, &mac(1), None).unwrap(),
            packfile,
            "whole get, round {round}"
        );
        let at = 1_000 * u64::from(round);
        assert_eq!(
            fresh
                .get(Resource::Packfile, &mac(1), Some((at, 5_000)))
                .unwrap(),
            packfile[at as usize..at as usize + 5_000],
            "ranged get, round {round}"
        );
        let lock = bytes(100 + u64::from(round), 200);
        fresh
            .put_bytes(Resource::Lock, &mac(10 + round), &lock)
            .unwrap_or_else(|e| panic!("put, round {round}: {e}"));
        assert!(
            listed(&fresh, Resource::Lock).contains(&mac(10 + round)),
            "list, round {round}"
        );
    }
    let counts = s.proxy.fault_counts();
    println!(
        "cut bodies: {counts:?} over {} requests",
        s.proxy.requests()
    );
    assert!(
        s.proxy.faults() >= 10,
        "the proxy cut too few bodies to mean anything: {counts:?}"
    );
}

#[test]
fn a_corrupted_blob_is_never_returned() {
    let (s, data) = one_packfile("fault-corrupt");
    first_blob_get(&s.proxy, Fault::CorruptByte);
    let result = s.store.get(Resource::Packfile, &mac(20), None);
    s.proxy.clear();
    assert_eq!(s.proxy.faults(), 1);
    assert!(
        matches!(result, Err(Error::Contract(ContractError::Integrity(_)))),
        "{result:?}"
    );
    assert_eq!(
        s.store.get(Resource::Packfile, &mac(20), None).unwrap(),
        data
    );
}

#[test]
fn ranges_are_exact_when_the_registry_ignores_range() {
    let (s, data) = one_packfile("fault-range");
    s.proxy.set(|r: &RequestInfo, _| {
        if r.is_blob_get() {
            Fault::IgnoreRange
        } else {
            Fault::None
        }
    });
    let len = data.len() as u64;
    for (offset, length) in [
        (0, 1),
        (0, 4096),
        (len / 2 - 7, 333),
        (len - 4096, 4096),
        (len - 1, 1),
    ] {
        let got = s
            .store
            .get(Resource::Packfile, &mac(20), Some((offset, length)))
            .unwrap();
        let at = offset as usize;
        assert!(
            got == data[at..at + length as usize],
            "range {offset}+{length}: {} bytes, not the expected ones",
            got.len()
        );
    }
    let ignored = s
        .proxy
        .log()
        .iter()
        .filter(|h| h.fault == Fault::IgnoreRange)
        .count();
    assert!(ignored >= 5, "{ignored} blob GETs had Range stripped");
}

#[test]
fn tag_pages_with_opaque_cursors_list_every_key_once() {
    let s = setup("fault-pages");
    s.store.create(b"config").unwrap();
    let keys: BTreeSet<Mac> = (30..40).map(mac).collect();
    for key in &keys {
        s.store.put_bytes(Resource::State, key, &key.0[..]).unwrap();
    }
    s.store
        .put_bytes(Resource::Lock, &mac(50), b"lock")
        .unwrap();
    s.proxy.set(|r: &RequestInfo, _| {
        if r.is_tag_list() {
            Fault::PageTags(3)
        } else {
            Fault::None
        }
    });
    assert_eq!(listed(&s.store, Resource::State), keys);
    let pages = s.proxy.tag_pages();
    // 10 states, a lock and the config tag: at least 4 pages of 3.
    assert!(pages >= 4, "{pages} tag pages");
    assert_eq!(listed(&s.store, Resource::Lock), BTreeSet::from([mac(50)]));
}

/// What the soak believes of a key: `None` absent, `Some` these bytes; a
/// failed operation leaves several possibilities.
#[derive(Debug, Clone, Default)]
struct Belief {
    possible: Vec<Option<Vec<u8>>>,
}

impl Belief {
    fn known(value: Option<Vec<u8>>) -> Belief {
        Belief {
            possible: vec![value],
        }
    }

    fn unknown(mut self, value: Option<Vec<u8>>) -> Belief {
        if !self.possible.contains(&value) {
            self.possible.push(value);
        }
        self
    }

    fn admits(&self, value: &Option<Vec<u8>>) -> bool {
        self.possible.contains(value)
    }

    fn present(&self) -> Option<bool> {
        let present = self.possible.iter().filter(|p| p.is_some()).count();
        if present == self.possible.len() {
            Some(true)
        } else if present == 0 {
            Some(false)
        } else {
            None
        }
    }
}

const SOAK_KINDS: [Resource; 3] = [Resource::Packfile, Resource::State, Resource::Lock];

/// Mixed operations in the soak (the faults issue asks for at least 500).
const SOAK_OPERATIONS: u64 = 500;

#[test]
fn a_seeded_soak_keeps_every_object_consistent() {
    let seed = std::env::var("KLOSET_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("soak seed {seed} (rerun with KLOSET_FAULT_SEED={seed})");
    let s = setup("fault-soak");
    s.store.create(b"config").unwrap();
    let retryable = seeded(
        seed,
        0.10,
        vec![
            Fault::Status(503, None),
            Fault::Status(500, None),
            Fault::ResetBeforeResponse,
        ],
        |r| !r.is_patch(),
    );
    // Bodies cut mid-way (a truncated answer, a connection closed while
    // the body streams), of every kind of GET: blobs are resumed with
    // `Range` from the byte reached, manifests and tag pages asked again.
    let cutting = seeded(
        seed ^ 0xc07,
        0.10,
        vec![
            Fault::TruncateBody(40),
            Fault::TruncateBody(1_000),
            Fault::TruncateBody(20_000),
        ],
        |r| r.method == "GET",
    );
    s.proxy.set(move |r, n| match cutting(r, n) {
        Fault::None => retryable(r, n),
        fault => fault,
    });

    let mut model: HashMap<(usize, u8), Belief> = HashMap::new();
    for kind in 0..SOAK_KINDS.len() {
        for key in 0..6u8 {
            model.insert((kind, key), Belief::known(None));
        }
    }
    let mut errors: Vec<String> = Vec::new();
    for op in 0..SOAK_OPERATIONS {
        let draw = splitmix64(seed ^ 0x5eed ^ op);
        let kind = (draw % 3) as usize;
        let key = ((draw >> 8) % 6) as u8;
        let (resource, k) = (SOAK_KINDS[kind], mac(100 + key));
        let belief = model[&(kind, key)].clone();
        match (draw >> 16) % 20 {
            0..=6 => {
                let data = bytes(draw, ((draw >> 24) % 50_000) as usize);
                match s.store.put_bytes(resource, &k, &data) {
                    Ok(_) => {
                        model.insert((kind, key), Belief::known(Some(data)));
                    }
                    Err(e) => {
                        errors.push(format!("op {op}: put {resource:?} {key}: {e}"));
                        model.insert((kind, key), belief.unknown(Some(data)));
                    }
                }
            }
            7..=9 => match s.store.delete(resource, &k) {
                Ok(()) => {
                    model.insert((kind, key), Belief::known(None));
                }
                Err(e) => {
                    errors.push(format!("op {op}: delete {resource:?} {key}: {e}"));
                    model.insert((kind, key), belief.unknown(None));
                }
            },
            10..=12 => match s.store.list(resource) {
                Ok(keys) => {
                    let keys: BTreeSet<Mac> = keys.into_iter().collect();
                    for key in 0..6u8 {
                        let shown = keys.contains(&mac(100 + key));
                        let b = &model[&(kind, key)];
                        if let Some(present) = b.present() {
                            assert_eq!(shown, present, "op {op}: list {resource:?} {key} {b:?}");
                        }
                    }
                }
                Err(e) => errors.push(format!("op {op}: list {resource:?}: {e}")),
            },
            13..=16 => match s.store.get(resource, &k, None) {
                Ok(got) => assert!(
                    belief.admits(&Some(got.clone())),
                    "op {op}: get {resource:?} {key} read {} unexpected bytes",
                    got.len()
                ),
                Err(Error::Contract(ContractError::NotFound(_))) => {
                    assert!(belief.admits(&None), "op {op}: {key} not found")
                }
                Err(e) => errors.push(format!("op {op}: get {resource:?} {key}: {e}")),
            },
            _ => {
                let offset = (draw >> 24) % 1_000;
                let length = 1 + ((draw >> 40) % 2_000) as u32;
                match s.store.get(resource, &k, Some((offset, length))) {
                    Ok(got) => {
                        let fits = belief.possible.iter().flatten().any(|b| {
                            let from = (offset as usize).min(b.len());
                            let to = (offset as usize + length as usize).min(b.len());
                            got == b[from..to]
                        });
                        assert!(fits, "op {op}: ranged get {resource:?} {key} wrong bytes");
                    }
                    Err(Error::Contract(ContractError::NotFound(_))) => {
                        assert!(belief.admits(&None), "op {op}: {key} not found")
                    }
                    // A range past the end of a small object is the
                    // caller's error, not a fault's.
                    Err(Error::Contract(ContractError::InvalidArgument(_))) => {}
                    Err(e) => errors.push(format!("op {op}: ranged get {resource:?} {key}: {e}")),
                }
            }
        }
    }
    let faults = s.proxy.faults();
    println!(
        "soak: {faults} faults injected, so {faults} retries, over {} requests \
         ({} counted by the host): {:?}",
        s.proxy.requests(),
        s.store.requests(),
        s.proxy.fault_counts()
    );
    println!("soak: {} operations failed: {errors:#?}", errors.len());
    // Retryable faults fall on 10% of requests (more with the cut
    // bodies): half that rate is five standard deviations short on the
    // thousand-odd requests of a soak.
    assert!(
        faults * 20 >= s.proxy.requests() && faults >= 10,
        "the soak injected {faults} faults over {} requests: too few to be a soak",
        s.proxy.requests()
    );
    assert!(errors.is_empty(), "every fault is ridden out");

    // Faults off: every key reads back as believed, and list agrees.
    s.proxy.clear();
    for (kind, resource) in SOAK_KINDS.iter().enumerate() {
        let shown = listed(&s.store, *resource);
        for key in 0..6u8 {
            let k = mac(100 + key);
            let belief = &model[&(kind, key)];
            let actual = match s.store.get(*resource, &k, None) {
                Ok(bytes) => Some(bytes),
                Err(Error::Contract(ContractError::NotFound(_))) => None,
                Err(e) => panic!("{resource:?} {key}: {e}"),
            };
            assert!(
                belief.admits(&actual),
                "{resource:?} {key}: read {:?} bytes, believed one of {:?}",
                actual.as_ref().map(Vec::len),
                belief
                    .possible
                    .iter()
                    .map(|p| p.as_ref().map(Vec::len))
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                shown.contains(&k),
                actual.is_some(),
                "{resource:?} {key}: list and get disagree"
            );
        }
        assert!(
            shown
                .iter()
                .all(|k| k.0[0] == 0xa5 && (100..106).contains(&k.0[1])),
            "a key never put is listed"
        );
    }
    assert!(faults > 0, "the soak injected no fault");
}

#[test]
fn the_retry_options_bound_the_retries() {
    // retries=0: one 503 is final.
    let s = setup_with("fault-retries", &[("retries", "0")]);
    s.store.create(b"config").unwrap();
    s.proxy.set(|_, _| Fault::Status(503, None));
    let before = s.proxy.requests();
    match s.store.list(Resource::State) {
        Err(Error::Contract(ContractError::Registry { status: 503, .. })) => {}
        other => panic!("expected the 503, got {other:?}"),
    }
    assert_eq!(s.proxy.requests() - before, 1, "no retry");

    // retry_budget=1 with Retry-After: 2: no retry would end in budget.
    let s = setup_with("fault-budget", &[("retry_budget", "1")]);
    s.store.create(b"config").unwrap();
    s.proxy.set(|_, _| Fault::Status(503, Some(2)));
    let before = s.proxy.requests();
    let started = std::time::Instant::now();
    assert!(matches!(
        s.store.list(Resource::State),
        Err(Error::Contract(ContractError::Registry { status: 503, .. }))
    ));
    assert_eq!(
        s.proxy.requests() - before,
        1,
        "the wait would overrun the budget"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "it did not wait"
    );
}
