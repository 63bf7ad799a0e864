//! A registry that stalls, lies or sends us elsewhere, behind the fault
//! proxy: stalled answers and bodies end in `transport` within the
//! `timeout` option instead of hanging; oversized, unreadable, foreign or
//! misplaced manifests where our tag should be are refused as `integrity`;
//! an upload `Location` with another scheme or host is never followed; and
//! several callers on one handle come through faults together. In no case
//! does a read return wrong bytes or a list show what was not stored.

mod common;

use common::faults::{first_attempts, seeded, Fault, RequestInfo};
use common::proxied::{bytes, listed, not_found, Mac, Proxied};
use kloset_host::{Resource, StoreError, StoreHandle};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

fn mac(n: u8) -> Mac {
    let mut m = [n; 32];
    m[0] = 0x3e; // distinct from other files' keys, for reading logs
    m
}

fn hex(mac: &Mac) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_manifest_get(r: &RequestInfo) -> bool {
    r.method == "GET" && r.path().contains("/manifests/")
}

/// Expects `transport` and returns its message.
fn transport_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Transport(m)) => m,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// Expects `integrity` and returns its message.
fn integrity_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Integrity(m)) => m,
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

/// Runs `f`, checking it returns well within `bound` (a hang would not).
fn within<T>(bound: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    println!("{what}: {took:?}");
    assert!(took < bound, "{what} took {took:?}");
    out
}

#[test]
fn a_stalled_registry_fails_within_the_timeout() {
    let p = Proxied::start("stall", &[]);
    p.store.create(b"config").expect("create");
    let data = bytes(1, 300_000);
    p.store
        .put_bytes(Resource::Packfile, &mac(1), &data)
        .expect("put");
    let impatient = p.reopen(&[("timeout", "1"), ("retries", "0")]);

    // No answer at all to the manifest GET (first-byte timeout).
    p.proxy.set(|r, _| {
        if is_manifest_get(r) {
            Fault::Stall
        } else {
            Fault::None
        }
    });
    let m = within(Duration::from_secs(10), "stalled head", || {
        transport_error(impatient.get(Resource::Packfile, &mac(1), None))
    });
    println!("  {m}");

    // The head and 1000 bytes of the blob, then silence (between-bytes).
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::StallBody(1000)
        } else {
            Fault::None
        }
    });
    within(Duration::from_secs(10), "stalled body", || {
        transport_error(impatient.get(Resource::Packfile, &mac(1), None))
    });

    // A streamed PATCH whose answer never comes: the put fails, nothing
    // is listed.
    p.proxy.set(|r, _| {
        if r.is_patch() {
            Fault::Stall
        } else {
            Fault::None
        }
    });
    within(Duration::from_secs(10), "stalled upload", || {
        transport_error(impatient.put_bytes(Resource::Packfile, &mac(2), &bytes(2, 9 << 20)))
    });
    p.proxy.clear();
    assert_eq!(
        listed(&impatient, Resource::Packfile),
        BTreeSet::from([mac(1)])
    );

    // With retries, a stall on each first attempt is ridden out.
    let patient = p.reopen(&[("timeout", "1")]);
    p.proxy.set(first_attempts(Fault::Stall, |r| {
        is_manifest_get(r) || r.is_blob_get()
    }));
    let got = within(Duration::from_secs(20), "stalls ridden out", || {
        patient.get(Resource::Packfile, &mac(1), None).expect("get")
    });
    assert!(got == data);
}

/// A packfile put through `p.store`, then a fresh handle (no cached
/// lookups) whose manifest GETs get `answer` instead of the registry's.
fn with_manifest(p: &Proxied, answer: Fault) -> StoreHandle {
    p.proxy.clear();
    let fresh = p.reopen(&[]);
    p.proxy.set(move |r, _| {
        if is_manifest_get(r) && r.path().contains("/manifests/packfile-") {
            answer.clone()
        } else {
            Fault::None
        }
    });
    fresh
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn manifests_that_are_not_ours_are_refused() {
    let p = Proxied::start("manifests", &[]);
    p.store.create(b"config").expect("create");
    let (a, b) = (bytes(3, 50_000), bytes(4, 60_000));
    p.store.put_bytes(Resource::Packfile, &mac(3), &a).unwrap();
    p.store.put_bytes(Resource::Packfile, &mac(4), &b).unwrap();
    let headers = [("Content-Type", OCI_MANIFEST)];

    // Over the 4 MiB registries cap manifests at: refused unread.
    let huge = Fault::reply(200, &headers, vec![b' '; 5 << 20]);
    let m = integrity_error(with_manifest(&p, huge).get(Resource::Packfile, &mac(3), None));
    assert!(m.contains("larger than"), "{m}");

    let garbled = Fault::reply(200, &headers, &br#"{"schemaVersion": 2, "layers": ["#[..]);
    let m = integrity_error(with_manifest(&p, garbled).get(Resource::Packfile, &mac(3), None));
    assert!(m.contains("unreadable JSON"), "{m}");

    // Somebody's container image where our tag should be.
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{z}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{z}","size":2}},
                      {{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{z}","size":2}}]}}"#,
        z = "0".repeat(64)
    );
    let foreign = Fault::reply(200, &headers, image.into_bytes());
    let m = integrity_error(with_manifest(&p, foreign).get(Resource::Packfile, &mac(3), None));
    assert!(m.contains("no Kloset manifest"), "{m}");

    // Our own manifest, of another key: would return b's bytes for a.
    p.proxy.clear();
    let tag_b = format!("packfile-{}", hex(&mac(4)));
    let real = p.registry.send(
        "GET",
        &format!("/v2/{}/manifests/{tag_b}", p.repository),
        &[("Accept", OCI_MANIFEST)],
        &[],
    );
    assert_eq!(real.status, 200);
    let misplaced = Fault::reply(200, &headers, real.body);
    let m = integrity_error(with_manifest(&p, misplaced).get(Resource::Packfile, &mac(3), None));
    assert!(m.contains("another key"), "{m}");

    // None of it changed what is stored.
    p.proxy.clear();
    let fresh = p.reopen(&[]);
    assert_eq!(
        listed(&fresh, Resource::Packfile),
        BTreeSet::from([mac(3), mac(4)])
    );
    assert!(fresh.get(Resource::Packfile, &mac(3), None).unwrap() == a);
}

#[test]
fn an_upload_location_elsewhere_is_never_followed() {
    let p = Proxied::start("location", &[]);
    p.store.create(b"config").expect("create");
    // A host on another loopback address, to see whether anything comes.
    let elsewhere = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).expect("bind 127.0.0.2");
    elsewhere.set_nonblocking(true).unwrap();
    let other = elsewhere.local_addr().unwrap();
    let uploads = |r: &RequestInfo| r.method == "POST" && r.path().ends_with("/blobs/uploads/");
    for (location, expect_denied) in [
        ("ftp://127.0.0.1/uploads/1".to_string(), false),
        ("//127.0.0.2/uploads/1".to_string(), false),
        (format!("http://{other}/v2/x/blobs/uploads/1"), true),
    ] {
        let answer = Fault::reply(202, &[("Location", &location)], Vec::new());
        p.proxy.set(move |r, _| {
            if uploads(r) {
                answer.clone()
            } else {
                Fault::None
            }
        });
        let data = bytes(5, 9 << 20);
        match p.store.put_bytes(Resource::Packfile, &mac(5), &data) {
            Err(StoreError::Transport(m)) if expect_denied => {
                assert!(m.contains("denied"), "{location}: {m}")
            }
            Err(StoreError::Registry { message, .. }) if !expect_denied => {
                assert!(
                    message.contains("unusable location"),
                    "{location}: {message}"
                )
            }
            other => panic!("{location}: {other:?}"),
        }
        assert!(
            elsewhere.accept().is_err(),
            "{location}: a connection reached the other host"
        );
    }
    p.proxy.clear();
    assert!(listed(&p.store, Resource::Packfile).is_empty());
    not_found(p.store.get(Resource::Packfile, &mac(5), None));
}

#[test]
fn concurrent_callers_come_through_faults_together() {
    let p = Proxied::start("concurrent", &[("retries", "8")]);
    p.store.create(b"config").expect("create");
    // Retryable faults on everything but streamed PATCHes, and damaged
    // blob bodies, which a read must refuse.
    let retryable = seeded(
        0x5eed_cafe,
        0.15,
        vec![
            Fault::Status(502, None),
            Fault::Status(503, None),
            Fault::Status(504, None),
            Fault::Status(429, None),
            Fault::ResetBeforeResponse,
            Fault::DropRequest,
        ],
        |r| !r.is_patch(),
    );
    let damaging = seeded(
        0xbad_b10b,
        0.2,
        vec![Fault::CorruptByte, Fault::TruncateBody(100)],
        |r| r.is_blob_get(),
    );
    p.proxy.set(move |r, n| match damaging(r, n) {
        Fault::None => retryable(r, n),
        fault => fault,
    });
    let store = &p.store;
    let refused: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u8)
            .map(|w| {
                scope.spawn(move || {
                    let mut refused = 0;
                    for i in 0..12u8 {
                        let key = mac(w * 16 + i);
                        let data = bytes(
                            u64::from(w) * 100 + u64::from(i),
                            1000 + 37_000 * i as usize,
                        );
                        store
                            .put_bytes(Resource::Packfile, &key, &data)
                            .expect("put");
                        match store.get(Resource::Packfile, &key, None) {
                            Ok(got) => assert!(got == data, "wrong bytes for {}", hex(&key)),
                            Err(StoreError::Integrity(_)) | Err(StoreError::Transport(_)) => {
                                refused += 1
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!(
        "{} faults over {} requests; {refused} damaged reads refused",
        p.proxy.faults(),
        p.proxy.requests()
    );
    assert!(p.proxy.faults() > 10, "the schedule faulted too little");
    p.proxy.clear();
    let expected: BTreeSet<Mac> = (0..4u8)
        .flat_map(|w| (0..12u8).map(move |i| mac(w * 16 + i)))
        .collect();
    assert_eq!(listed(&p.store, Resource::Packfile), expected);
    for w in 0..4u8 {
        for i in 0..12u8 {
            let data = bytes(
                u64::from(w) * 100 + u64::from(i),
                1000 + 37_000 * i as usize,
            );
            assert!(
                p.store
                    .get(Resource::Packfile, &mac(w * 16 + i), None)
                    .unwrap()
                    == data
            );
        }
    }
}
