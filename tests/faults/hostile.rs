//! A registry that stalls, lies or sends us elsewhere, behind the fault
//! proxy: stalled answers and bodies end in `transport` within the
//! `timeout` option instead of hanging; oversized, unreadable, foreign or
//! misplaced manifests where our tag should be are refused as `integrity`;
//! an upload `Location` or a tag-list `Link` off the registry's origin is
//! refused by the component itself; a drip-fed body, a body that comes
//! slowly and breaks again and again, an upload the registry never reads,
//! and an endless chain of pages end within the `deadline` option; a delete removes only its own
//! key's manifest, whatever a stale HEAD says; stores under two prefixes
//! never share a manifest; of two racing creates one fails; and
//! several callers on one handle come through faults together. An https
//! registry naming its plaintext side in upload `Location`s gets no
//! request there, and a 401 from a blob redirect's target (a CDN) teaches
//! no token realm. In no case does a read return wrong bytes or a list
//! show what was not stored.

use kloset_host::{ContractError, Error, Resource, StoreHandle};
use kloset_testkit::faults::{first_attempts, seeded, Fault, RequestInfo};
use kloset_testkit::proxied::{bytes, listed, not_found, Mac, Proxied};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

fn mac(n: u8) -> Mac {
    let mut m = [n; 32];
    m[0] = 0x3e; // distinct from other files' keys, for reading logs
    Mac(m)
}

fn hex(mac: &Mac) -> String {
    mac.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_manifest_get(r: &RequestInfo) -> bool {
    r.method == "GET" && r.path().contains("/manifests/")
}

/// Expects `transport` and returns its message.
fn transport_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Contract(ContractError::Transport(m))) => m,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// Expects `integrity` and returns its message.
fn integrity_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Contract(ContractError::Integrity(m))) => m,
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
    // The component refuses all three itself (a host without an egress
    // allow-list, jco or wasmtime-py, relies on that).
    for (location, expect_denied) in [
        ("ftp://127.0.0.1/uploads/1".to_string(), false),
        ("//127.0.0.2/uploads/1".to_string(), false),
        (format!("http://{other}/v2/x/blobs/uploads/1"), false),
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
            Err(Error::Contract(ContractError::Transport(m))) if expect_denied => {
                assert!(m.contains("denied"), "{location}: {m}")
            }
            Err(Error::Contract(ContractError::Protocol(message))) if !expect_denied => {
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
                            Err(Error::Contract(ContractError::Integrity(_)))
                            | Err(Error::Contract(ContractError::Transport(_))) => refused += 1,
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

/// A listener on another loopback port that records what reaches it and
/// has no answer for anything: a request there is answered 599 and fails
/// the test when the listener is dropped.
fn elsewhere() -> kloset_testkit::fake::FakeServer {
    kloset_testkit::fake::FakeServer::start([])
}

#[test]
fn links_and_locations_to_other_origins_are_refused_by_the_component() {
    let p = Proxied::start("origins", &[]);
    p.store.create(b"config").expect("create");
    let other = elsewhere();
    let proxy = p.proxy.authority();
    // A `Link` to another port of the same host, and to the registry's
    // authority under https (another scheme): no request may follow either.
    for link in [
        format!(
            "http://{}/v2/{}/tags/list?last=x",
            other.authority(),
            p.repository
        ),
        format!("https://{proxy}/v2/{}/tags/list?last=x", p.repository),
    ] {
        let header = format!("<{link}>; rel=\"next\"");
        let page = format!(r#"{{"name":"{}","tags":["config"]}}"#, p.repository);
        let answer = Fault::reply(200, &[("Link", &header)], page.into_bytes());
        p.proxy.set(move |r, _| {
            if r.is_tag_list() {
                answer.clone()
            } else {
                Fault::None
            }
        });
        match p.store.list(Resource::Packfile) {
            Err(Error::Contract(ContractError::Protocol(message))) => {
                assert!(message.contains("unusable location"), "{link}: {message}")
            }
            other => panic!("{link}: {other:?}"),
        }
    }
    // An upload Location on the other port.
    let location = format!("http://{}/v2/x/blobs/uploads/1", other.authority());
    let answer = Fault::reply(202, &[("Location", &location)], Vec::new());
    p.proxy.set(move |r, _| {
        if r.method == "POST" && r.path().ends_with("/blobs/uploads/") {
            answer.clone()
        } else {
            Fault::None
        }
    });
    match p
        .store
        .put_bytes(Resource::Packfile, &mac(6), &bytes(6, 9 << 20))
    {
        Err(Error::Contract(ContractError::Protocol(message))) => {
            assert!(message.contains("origin"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(other.seen().is_empty(), "reached: {:?}", other.seen());
}

#[test]
fn a_drip_fed_body_ends_within_the_deadline() {
    let p = Proxied::start("drip", &[]);
    p.store.create(b"config").expect("create");
    let data = bytes(7, 200_000);
    p.store
        .put_bytes(Resource::Packfile, &mac(7), &data)
        .unwrap();
    // Each byte comes just under the 2 s timeout; the deadline is 5 s.
    let store = p.reopen(&[("timeout", "2"), ("deadline", "5")]);
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::DripBody(Duration::from_millis(1500))
        } else {
            Fault::None
        }
    });
    let m = within(Duration::from_secs(7), "drip-fed body", || {
        transport_error(store.get(Resource::Packfile, &mac(7), None))
    });
    assert!(m.contains("deadline"), "{m}");
}

#[test]
fn a_body_that_breaks_again_and_again_ends_within_the_deadline() {
    let p = Proxied::start("rebreak", &[]);
    p.store.create(b"config").expect("create");
    let data = bytes(12, 200_000);
    p.store
        .put_bytes(Resource::Packfile, &mac(12), &data)
        .unwrap();
    // Every blob answer comes after 1.5 s (under the 2 s timeout) with 100
    // bytes and breaks. Twenty retries would allow twenty resumptions; the
    // 4 s deadline bounds the whole get, opening and resumptions together.
    let store = p.reopen(&[("timeout", "2"), ("deadline", "4"), ("retries", "20")]);
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::SlowTruncate(Duration::from_millis(1500), 100)
        } else {
            Fault::None
        }
    });
    let m = within(Duration::from_secs(7), "slow answers that break", || {
        transport_error(store.get(Resource::Packfile, &mac(12), None))
    });
    assert!(m.contains("deadline"), "{m}");
    println!("  {m}");

    // Answers that come at once with 100 bytes and break: no real
    // progress, so the default four retries are spent and the get fails
    // (rather than creeping on 100 bytes at a time).
    let store = p.reopen(&[]);
    let before = blob_gets(&p);
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::TruncateBody(100)
        } else {
            Fault::None
        }
    });
    within(Duration::from_secs(20), "a few bytes at a time", || {
        transport_error(store.get(Resource::Packfile, &mac(12), None))
    });
    assert_eq!(
        blob_gets(&p) - before,
        5,
        "one request and four resumptions"
    );
    p.proxy.clear();
    assert!(store.get(Resource::Packfile, &mac(12), None).unwrap() == data);
}

/// Blob GETs the proxy has seen.
fn blob_gets(p: &Proxied) -> usize {
    p.proxy
        .log()
        .iter()
        .filter(|h| h.method == "GET" && h.target.contains("/blobs/sha256:"))
        .count()
}

#[test]
fn an_upload_the_registry_never_reads_ends_within_the_deadline() {
    // The registry opens upload sessions and then reads no byte of any
    // body. 64 MiB is far more than the kernel's socket buffers and the
    // host's hold: the body's writing must wait, and it waits no longer
    // than the 3 s deadline (the 60 s timeout would not end it sooner).
    let deaf = kloset_testkit::deaf::DeafRegistry::start();
    let repository = kloset_testkit::unique_repo("deaf");
    let data = bytes(13, 64 << 20);
    // Streamed (a PATCH written piece by piece), monolithic (one PUT sent
    // whole) and chunked (PATCHes sent whole).
    for mode in ["stream", "monolithic", "chunked"] {
        let config: Vec<(String, String)> = [
            (
                "location",
                format!("oci://{}/{repository}", deaf.authority()),
            ),
            ("use_tls", "false".into()),
            ("timeout", "60".into()),
            ("deadline", "3".into()),
            ("upload_mode", mode.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let store = StoreHandle::new(kloset_testkit::component::plugin(), &config).expect("config");
        let m = within(Duration::from_secs(10), mode, || {
            transport_error(store.put_bytes(Resource::Packfile, &mac(13), &data))
        });
        println!("  {m}");
        assert!(m.contains("deadline"), "{mode}: {m}");
    }
    let held = deaf.seen();
    assert!(
        held.iter().filter(|s| s.ends_with("(body unread)")).count() >= 3,
        "{held:?}"
    );
}

#[test]
fn an_endless_chain_of_tag_pages_ends_within_the_deadline() {
    let p = Proxied::start("endless", &[]);
    p.store.create(b"config").expect("create");
    let store = p.reopen(&[("deadline", "3")]);
    let repository = p.repository.clone();
    // Every page names a next page never seen before, with one more tag
    // in the listed kind's range, in order: pages of one tag are no
    // progress, so the listing's deadline is not started afresh.
    p.proxy.set(move |r, n| {
        if r.is_tag_list() {
            let link = format!("</v2/{repository}/tags/list?page={n}>; rel=\"next\"");
            let page = format!(r#"{{"name":"{repository}","tags":["packfile-{n:010}"]}}"#);
            Fault::reply(200, &[("Link", &link)], page.into_bytes())
        } else {
            Fault::None
        }
    });
    let result = within(Duration::from_secs(10), "endless pages", || {
        store.list(Resource::Packfile)
    });
    match result {
        Err(Error::Contract(ContractError::Transport(m))) => {
            assert!(m.contains("deadline"), "{m}")
        }
        Err(Error::Contract(ContractError::Protocol(message))) => {
            assert!(message.contains("pages"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    println!("{} pages asked", p.proxy.requests());
}

#[test]
fn a_delete_never_follows_a_stale_head_to_another_key() {
    let registry = kloset_testkit::Registry::start(kloset_testkit::RegistryOptions {
        delete_enabled: true,
        ..Default::default()
    });
    let proxy = kloset_testkit::faults::FaultProxy::start(&registry.authority());
    let repository = kloset_testkit::unique_repo("staledelete");
    let store = kloset_testkit::proxied::store_via(&proxy, &repository, &[]);
    store.create(b"config").expect("create");
    let (a, b) = (bytes(8, 1000), bytes(9, 1000));
    store.put_bytes(Resource::Lock, &mac(8), &a).unwrap();
    store.put_bytes(Resource::Lock, &mac(9), &b).unwrap();
    let tag_b = format!("lock-{}", hex(&mac(9)));
    let real = registry.send(
        "GET",
        &format!("/v2/{repository}/manifests/{tag_b}"),
        &[("Accept", OCI_MANIFEST)],
        &[],
    );
    let digest_b = kloset_oci::digest::sha256_digest(&real.body);
    // A caching proxy answers a HEAD of a's tag with b's digest.
    let tag_a = format!("lock-{}", hex(&mac(8)));
    p_set_head(&proxy, tag_a, digest_b);
    store.delete(Resource::Lock, &mac(8)).expect("delete");
    proxy.clear();
    let fresh = kloset_testkit::proxied::store_via(&proxy, &repository, &[]);
    assert!(
        fresh.get(Resource::Lock, &mac(9), None).unwrap() == b,
        "b survives"
    );
    assert_eq!(listed(&fresh, Resource::Lock), BTreeSet::from([mac(9)]));
}

fn p_set_head(proxy: &kloset_testkit::faults::FaultProxy, tag: String, digest: String) {
    proxy.set(move |r, _| {
        if r.method == "HEAD" && r.path().ends_with(&format!("/manifests/{tag}")) {
            Fault::reply(
                200,
                &[
                    ("Docker-Content-Digest", &digest),
                    ("Content-Type", OCI_MANIFEST),
                ],
                Vec::new(),
            )
        } else {
            Fault::None
        }
    });
}

#[test]
fn stores_under_two_prefixes_keep_their_own_copy_of_a_key() {
    let registry = kloset_testkit::Registry::start(kloset_testkit::RegistryOptions {
        delete_enabled: true,
        ..Default::default()
    });
    let repository = kloset_testkit::unique_repo("prefixes");
    let store = |prefix: &str| {
        let mut config = registry.config(&repository);
        config.push(("repository_prefix".into(), prefix.into()));
        StoreHandle::new(kloset_testkit::component::plugin(), &config).expect("config")
    };
    let (a, b) = (store("alpha"), store("beta"));
    a.create(b"config a").expect("create a");
    b.create(b"config b").expect("create b");
    let data = bytes(10, 5000);
    for s in [&a, &b] {
        s.put_bytes(Resource::Lock, &mac(10), &data).unwrap();
        s.put_bytes(Resource::Packfile, &mac(11), &data).unwrap();
    }
    a.delete(Resource::Lock, &mac(10)).expect("delete in alpha");
    a.delete(Resource::Packfile, &mac(11))
        .expect("delete in alpha");
    assert!(listed(&a, Resource::Lock).is_empty());
    assert!(b.get(Resource::Lock, &mac(10), None).expect("beta's copy") == data);
    assert!(
        b.get(Resource::Packfile, &mac(11), None)
            .expect("beta's copy")
            == data
    );
    assert_eq!(listed(&b, Resource::Lock), BTreeSet::from([mac(10)]));
}

#[test]
fn of_two_racing_creates_one_fails_with_already_exists() {
    let registry = kloset_testkit::Registry::start(kloset_testkit::RegistryOptions::default());
    let repository = kloset_testkit::unique_repo("race");
    let config = registry.config(&repository);
    let stores: Vec<StoreHandle> = (0..2)
        .map(|_| StoreHandle::new(kloset_testkit::component::plugin(), &config).expect("config"))
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
        let workers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    s.create(format!("config {i}").as_bytes())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    println!("{results:?}");
    let won: Vec<usize> = (0..2).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(won.len(), 1, "exactly one create wins: {results:?}");
    let lost = 1 - won[0];
    assert!(
        matches!(
            results[lost],
            Err(Error::Contract(ContractError::AlreadyExists(_)))
        ),
        "{results:?}"
    );
    let fresh = StoreHandle::new(kloset_testkit::component::plugin(), &config).unwrap();
    assert_eq!(
        fresh.open().unwrap(),
        format!("config {}", won[0]).into_bytes()
    );
}

/// Whether any of `seen` carried `Authorization`.
fn with_authorization(seen: &[kloset_testkit::fake::Request]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.header("authorization").is_some())
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn an_https_registry_naming_its_plaintext_side_gets_no_request_there() {
    // A real TLS registry with Basic auth whose `http.host` names plain
    // http on another port of its host: every upload `Location` it
    // generates points there, as behind a TLS-terminating proxy set up
    // with the wrong scheme (or by someone who wants the credentials).
    let pki = kloset_testkit::TestPki::new();
    let plain = elsewhere();
    let registry = kloset_testkit::Registry::start(kloset_testkit::RegistryOptions {
        tls: Some(pki.server_files()),
        auth: kloset_testkit::RegistryAuth::htpasswd(&[("alice", "s3cret-alice")]),
        public_url: Some(format!("http://{}", plain.authority())),
        ..Default::default()
    });
    let repository = kloset_testkit::unique_repo("plaintextside");
    let mut config = registry.config(&repository);
    for (k, v) in [
        ("tls_ca_file", pki.ca_pem().to_str().expect("a UTF-8 path")),
        ("username", "alice"),
        ("password", "s3cret-alice"),
    ] {
        config.push((k.to_string(), v.to_string()));
    }
    let store = StoreHandle::new(kloset_testkit::component::plugin(), &config).expect("config");
    // The registry really answers so: the upload POST's Location.
    let answer = registry.send(
        "POST",
        &format!("/v2/{repository}/blobs/uploads/"),
        &[(
            "Authorization",
            &kloset_testkit::auth::basic_authorization("alice", "s3cret-alice"),
        )],
        &[],
    );
    assert_eq!(answer.status, 202);
    let location = answer.header("location").expect("a Location").to_string();
    assert!(
        location.starts_with(&format!("http://{}/v2/", plain.authority())),
        "{location}"
    );

    // Refused by the component itself, as a protocol error naming why:
    // kloset-host's egress would deny the other port too (a transport
    // error), but a host without an allow-list (jco, wasmtime-py) relies
    // on the component.
    let refused = |what: &str, result: Result<(), Error>| match result {
        Err(Error::Contract(ContractError::Protocol(message))) => {
            assert!(
                message.contains("plain http on an https registry"),
                "{what}: {message}"
            );
            println!("{what}: {message}");
        }
        other => panic!("{what}: {other:?}"),
    };
    // `create` uploads the configuration; puts upload in one request or
    // in chunks: each is refused by the component at the Location.
    refused("create", store.create(b"config"));
    refused(
        "small put",
        store
            .put_bytes(Resource::Packfile, &mac(20), &bytes(20, 1000))
            .map(drop),
    );
    refused(
        "chunked put",
        store
            .put_bytes(Resource::Packfile, &mac(21), &bytes(21, 9 << 20))
            .map(drop),
    );
    // The component saw the Location (its refusal quotes it), and the
    // plaintext side saw nothing: no request, so no credentials and no
    // upload.
    assert!(
        with_authorization(&plain.seen()).is_empty(),
        "credentials in plain http: {:?}",
        with_authorization(&plain.seen())
    );
    assert!(plain.seen().is_empty(), "reached: {:?}", plain.seen());
    assert!(listed(&store, Resource::Packfile).is_empty());
}

#[test]
fn a_401_from_a_redirect_target_teaches_no_realm() {
    // A registry with Basic auth, behind the proxy, redirects blob GETs to
    // a "CDN" that answers 401 naming a token realm of its choosing.
    let registry = kloset_testkit::Registry::start(kloset_testkit::RegistryOptions {
        auth: kloset_testkit::RegistryAuth::htpasswd(&[("bob", "s3cret-bob")]),
        ..Default::default()
    });
    let proxy = kloset_testkit::faults::FaultProxy::start(&registry.authority());
    let realm = elsewhere();
    let realm_url = format!("http://{}/token", realm.authority());
    // The redirected GET, as often as the store tries it; with
    // credentials it would be a surprise (599), failing the test.
    let cdn =
        kloset_testkit::fake::FakeServer::start([kloset_testkit::fake::Answer::new(401, b"")
            .to("GET /blob")
            .without_request_header("authorization")
            .header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="{realm_url}",service="cdn""#),
            )
            .repeats()]);
    let repository = kloset_testkit::unique_repo("cdnrealm");
    let store = kloset_testkit::proxied::store_via(
        &proxy,
        &repository,
        &[("username", "bob"), ("password", "s3cret-bob")],
    );
    store.create(b"config").expect("create");
    let (a, b) = (bytes(22, 3000), bytes(23, 4000));
    store.put_bytes(Resource::Packfile, &mac(22), &a).unwrap();
    store.put_bytes(Resource::Packfile, &mac(23), &b).unwrap();

    let to_cdn = format!("http://{}/blob", cdn.authority());
    proxy.set(move |r, _| {
        if r.is_blob_get() {
            Fault::reply(307, &[("Location", &to_cdn)], Vec::new())
        } else {
            Fault::None
        }
    });
    match store.get(Resource::Packfile, &mac(22), None) {
        Err(Error::Contract(ContractError::Unauthorized(m))) => println!("{m}"),
        other => panic!("{:?}", other.map(|b| b.len())),
    }
    assert!(!cdn.seen().is_empty(), "the redirect was followed");
    assert!(
        with_authorization(&cdn.seen()).is_empty(),
        "credentials to the CDN: {:?}",
        with_authorization(&cdn.seen())
    );
    // The store goes on logging in to the registry as before: lists,
    // writes and reads work, with Basic credentials, and the realm the CDN
    // named is never asked. (Had the component learnt it, its next request
    // would fetch a token there: kloset-host's egress denies that, as the
    // realm came from no answer of the registry, and the list fails; a
    // host without an allow-list would send the Basic credentials there.)
    let schemes = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let record = schemes.clone();
    proxy.set(move |r, _| {
        let scheme = r
            .header("authorization")
            .map(|v| v.split(' ').next().unwrap_or(""));
        record
            .lock()
            .unwrap()
            .insert(scheme.unwrap_or("none").to_string());
        Fault::None
    });
    assert_eq!(
        listed(&store, Resource::Packfile),
        BTreeSet::from([mac(22), mac(23)])
    );
    store
        .put_bytes(Resource::Packfile, &mac(24), &bytes(24, 2000))
        .expect("put after the CDN's 401");
    assert!(store.get(Resource::Packfile, &mac(23), None).unwrap() == b);
    assert!(store.get(Resource::Packfile, &mac(22), None).unwrap() == a);
    assert!(realm.seen().is_empty(), "realm asked: {:?}", realm.seen());
    assert_eq!(
        *schemes.lock().unwrap(),
        BTreeSet::from(["Basic".to_string()])
    );
}

/// A body that stops after some bytes (head sent, then silence) ends at the
/// `deadline`, not at the between-bytes `timeout`: the component waits for
/// body bytes on the stream's pollable and a timer at the deadline together
/// (a `blocking_read` waited as long as the host's timeout, or for ever in a
/// host without one).
#[test]
fn a_stalled_body_ends_at_the_deadline_not_the_timeout() {
    let p = Proxied::start("stalldl", &[]);
    p.store.create(b"config").expect("create");
    let data = bytes(21, 200_000);
    p.store
        .put_bytes(Resource::Packfile, &mac(21), &data)
        .unwrap();
    let store = p.reopen(&[("timeout", "30"), ("deadline", "3")]);
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::StallBody(100_000)
        } else {
            Fault::None
        }
    });
    let m = within(Duration::from_secs(6), "a body that stalls", || {
        transport_error(store.get(Resource::Packfile, &mac(21), None))
    });
    assert!(m.contains("deadline"), "{m}");
}

/// A registry answering a ranged read with fewer bytes than asked (a 206
/// naming a shorter range, its body as short) under `read_range`, plakar's
/// ranged reads through the handle's blocks: the read fails as
/// `integrity` naming what was asked and what came, no block is kept, and
/// once the registry answers right the same read returns the right bytes.
#[test]
fn a_ranged_read_answered_short_is_an_integrity_error_and_keeps_nothing() {
    let p = Proxied::start("short-range", &[]);
    p.store.create(b"config").expect("create");
    let data = bytes(14, 300_000);
    p.store
        .put_bytes(Resource::Packfile, &mac(14), &data)
        .unwrap();
    let store = p.reopen(&[]);
    p.proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::reply(206, &[("Content-Range", "bytes 0-99/300000")], vec![7; 100])
        } else {
            Fault::None
        }
    });
    // The first block is the whole 300,000-byte packfile.
    let m = integrity_error(store.read_range(Resource::Packfile, &mac(14), 1000, 5000));
    println!("  {m}");
    assert!(
        m.contains("asked for bytes 0-299999, registry sent 0-99"),
        "{m}"
    );
    assert_eq!(store.read_cache_held(), 0, "a short answer keeps no block");
    p.proxy.clear();
    let got = store
        .read_range(Resource::Packfile, &mac(14), 1000, 5000)
        .unwrap();
    assert!(
        got == data[1000..6000],
        "the right bytes once answered right"
    );
}
