//! What the host's egress guarantees, seen from outside: connections are
//! pooled across requests and instances, and the component reaches only its
//! registry and the places it names for their purpose: a redirected blob
//! GET is followed, without credentials, to another host and onwards.

use kloset_testkit::component::plugin;

use kloset_host::{ContractError, Error, Mac, Plugin, Resource, StoreHandle};
use kloset_testkit::fake::{Answer, FakeServer};
use kloset_testkit::proxy::CountingProxy;
use kloset_testkit::{unique_repo, Registry, RegistryOptions};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn store_at(plugin: &Plugin, authority: &str, repo: &str) -> StoreHandle {
    let config = [
        ("location".to_string(), format!("oci://{authority}/{repo}")),
        ("use_tls".to_string(), "false".to_string()),
    ];
    StoreHandle::new(plugin, &config).expect("valid configuration")
}

fn mac(n: u8) -> Mac {
    Mac([n; 32])
}

#[test]
fn connections_are_reused_across_requests_and_instances() {
    let registry = Registry::start(RegistryOptions::default());
    let proxy = CountingProxy::start(
        registry
            .authority()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let plugin = plugin();
    let store = Arc::new(store_at(plugin, &proxy.authority(), &unique_repo("pool")));
    store.create(b"config").unwrap();
    for i in 0..30u8 {
        store
            .put_bytes(Resource::State, &mac(i), &[i; 1000])
            .unwrap();
        assert_eq!(
            store.get(Resource::State, &mac(i), Some((10, 10))).unwrap(),
            [i; 10]
        );
    }
    let sequential = proxy.connections();
    let requests = store.requests();
    assert!(requests > 100, "{requests} requests");
    assert!(
        sequential <= 2,
        "{requests} sequential requests opened {sequential} connections"
    );

    // Eight threads, hence eight instances, share the same pool.
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    let key = mac(100 + t * 10 + i);
                    store
                        .put_bytes(Resource::Packfile, &key, &[t; 500])
                        .unwrap();
                    assert_eq!(store.get(Resource::Packfile, &key, None).unwrap(), [t; 500]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = proxy.connections();
    assert!(
        total <= sequential + 8,
        "8 concurrent callers opened {} more connections",
        total - sequential
    );
}

/// A registry that holds one object: its manifest, then its blob GET
/// answered by `blob` (named here), then `after` (where a redirect leads).
/// Every request to it must carry `authorization` when one is given.
fn fake_registry(
    data: &[u8],
    authorization: Option<&str>,
    blob: Answer,
    after: Vec<Answer>,
) -> FakeServer {
    let digest = format!("sha256:{}", hex(&Sha256::digest(data)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.plakar.kloset.v1.packfile",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/vnd.plakar.kloset.v1.packfile", "digest": digest, "size": data.len()}],
        "annotations": {"io.plakar.kloset.role": "object", "io.plakar.kloset.resource": "packfile",
                        "io.plakar.kloset.mac": hex(&mac(1).0)},
    });
    let answers = [
        Answer::new(200, &serde_json::to_vec(&manifest).unwrap())
            .to("GET /v2/r/manifests/packfile-*"),
        blob.to(&format!("GET /v2/r/blobs/{digest}")),
    ];
    let answers = answers
        .into_iter()
        .chain(after)
        .map(|answer| match authorization {
            Some(value) => answer.with_request_header("authorization", value),
            None => answer,
        });
    FakeServer::start(answers)
}

#[test]
fn redirects_within_the_registry_are_followed() {
    let registry = fake_registry(
        b"redirected bytes",
        None,
        Answer::new(307, b"").header("location", "/elsewhere/blob"),
        vec![Answer::new(200, b"redirected bytes").to("GET /elsewhere/blob")],
    );
    let store = store_at(plugin(), &registry.authority(), "r");
    assert_eq!(
        store.get(Resource::Packfile, &mac(1), None).unwrap(),
        b"redirected bytes"
    );
    let paths: Vec<_> = registry.seen().into_iter().map(|s| s.uri).collect();
    assert!(paths.contains(&"/elsewhere/blob".to_string()), "{paths:?}");
}

#[test]
fn a_redirect_to_another_host_is_followed_without_credentials() {
    let elsewhere = FakeServer::start([Answer::new(200, b"redirected bytes")
        .to("GET /blob?signature=abc")
        .without_request_header("authorization")]);
    let target = format!("http://{}/blob?signature=abc", elsewhere.authority());
    let registry = fake_registry(
        b"redirected bytes",
        Some("Bearer s3cret-token"),
        Answer::new(307, b"").header("location", &target),
        vec![],
    );
    let config = [
        (
            "location".to_string(),
            format!("oci://{}/r", registry.authority()),
        ),
        ("use_tls".to_string(), "false".to_string()),
        ("token".to_string(), "s3cret-token".to_string()),
    ];
    let store = StoreHandle::new(plugin(), &config).unwrap();
    assert_eq!(
        store.get(Resource::Packfile, &mac(1), None).unwrap(),
        b"redirected bytes"
    );
    for seen in registry.seen() {
        assert_eq!(
            seen.header("authorization"),
            Some("Bearer s3cret-token"),
            "{seen}"
        );
    }
    let fetched = elsewhere.seen();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0].uri, "/blob?signature=abc");
    assert_eq!(
        fetched[0].header("authorization"),
        None,
        "credentials went to another host"
    );
}

#[test]
fn a_redirect_target_may_redirect_onwards_to_another_host() {
    // The registry redirects to a CDN, which redirects to its origin (as a
    // CDN in front of object storage, or S3 to a regional endpoint, does).
    let origin = FakeServer::start([Answer::new(200, b"twice redirected")
        .to("GET /object?sig=2")
        .without_request_header("authorization")]);
    let onward = format!("http://{}/object?sig=2", origin.authority());
    let cdn = FakeServer::start([Answer::new(307, b"")
        .to("GET /blob?sig=1")
        .without_request_header("authorization")
        .header("location", &onward)]);
    let target = format!("http://{}/blob?sig=1", cdn.authority());
    let registry = fake_registry(
        b"twice redirected",
        Some("Bearer s3cret-token"),
        Answer::new(307, b"").header("location", &target),
        vec![],
    );
    let config = [
        (
            "location".to_string(),
            format!("oci://{}/r", registry.authority()),
        ),
        ("use_tls".to_string(), "false".to_string()),
        ("token".to_string(), "s3cret-token".to_string()),
    ];
    let store = StoreHandle::new(plugin(), &config).unwrap();
    assert_eq!(
        store.get(Resource::Packfile, &mac(1), None).unwrap(),
        b"twice redirected"
    );
    for (server, path) in [(&cdn, "/blob?sig=1"), (&origin, "/object?sig=2")] {
        let seen = server.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].uri, path);
        assert_eq!(
            seen[0].header("authorization"),
            None,
            "credentials to {path}"
        );
    }
}

#[test]
fn hosts_the_registry_never_named_are_refused() {
    // Answers nothing: a request there fails the test.
    let elsewhere = FakeServer::start([]);
    let upload = format!("http://{}/upload", elsewhere.authority());
    // Every upload session the registry opens lives on another host, which
    // no challenge or redirect named; the repository is not there yet.
    let registry = FakeServer::start([
        Answer::new(404, b"").to("HEAD /v2/r/manifests/config"),
        Answer::new(202, b"")
            .to("POST /v2/r/blobs/uploads/*")
            .header("location", &upload),
    ]);
    let store = store_at(plugin(), &registry.authority(), "r");
    // The component refuses a Location off the registry's origin before
    // the host's egress is asked (the allow-list's own unit tests cover
    // the egress); either refusal is a refusal, and nothing is sent.
    match store.create(b"config") {
        Err(Error::Contract(ContractError::Transport(message))) => {
            assert!(message.contains("denied"), "{message}")
        }
        Err(Error::Contract(ContractError::Protocol(message))) => {
            assert!(
                message.contains("not on the registry's origin"),
                "{message}"
            )
        }
        other => panic!("expected the other host to be refused, got {other:?}"),
    }
    assert!(
        elsewhere.seen().is_empty(),
        "the other host was reached: {:?}",
        elsewhere.seen()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A registry that wants a bearer token from `realm` (a token URL), then
/// sends the upload session to `upload` (a URL on the realm's host): a
/// put's first request (its mount of the empty blob) is refused with the
/// challenge, and, when the realm `grants` a token, sent again with it.
fn realm_registry(realm: String, upload: String, grants: bool) -> FakeServer {
    let challenge = format!(r#"Bearer realm="{realm}",service="reg""#);
    let mut answers = vec![Answer::new(401, b"")
        .to("POST /v2/r/blobs/uploads/*")
        .without_request_header("authorization")
        .header("www-authenticate", &challenge)];
    if grants {
        answers.push(
            Answer::new(202, b"")
                .to("POST /v2/r/blobs/uploads/*")
                .with_request_header("authorization", "Bearer granted")
                .header("location", &upload),
        );
    }
    FakeServer::start(answers)
}

#[test]
fn a_token_realm_on_the_registrys_host_gets_token_requests_only() {
    // Grants `granted` to anyone; any other request there fails the test.
    let listener = FakeServer::start([Answer::new(200, br#"{"token":"granted"}"#)
        .to("GET /token?*")
        .header("content-type", "application/json")
        .repeats()]);
    let realm = format!("http://{}/token", listener.authority());
    let upload = format!("http://{}/upload", listener.authority());
    let registry = realm_registry(realm, upload, true);
    let store = store_at(plugin(), &registry.authority(), "r");
    let result = store.put_bytes(Resource::Packfile, &mac(1), b"object");
    assert!(
        result.is_err(),
        "an upload to the realm's host went through"
    );
    let seen = listener.seen();
    assert!(!seen.is_empty(), "the realm was never asked for a token");
    for request in &seen {
        assert!(
            request.method == "GET" && request.uri.starts_with("/token?"),
            "the realm's host got a request other than a token request: {request}"
        );
    }
}

#[test]
fn a_token_realm_on_another_loopback_host_sees_no_request() {
    // Answers nothing: a request there fails the test.
    let listener = FakeServer::start_on([127, 0, 0, 2].into(), []);
    let realm = format!("http://{}/token", listener.authority());
    let upload = format!("http://{}/upload", listener.authority());
    let registry = realm_registry(realm, upload, false);
    let store = store_at(plugin(), &registry.authority(), "r");
    assert!(store
        .put_bytes(Resource::Packfile, &mac(1), b"object")
        .is_err());
    let seen: Vec<_> = listener.seen().iter().map(|s| s.to_string()).collect();
    assert!(seen.is_empty(), "127.0.0.2 was reached: {seen:?}");
    assert!(!registry.seen().is_empty(), "the registry was never asked");
}

// ---------------------------------------------------------------- host limits

/// A store on a fresh repository of `registry`, with the host options `extra`.
fn limited_store(registry: &Registry, extra: &[(&str, &str)]) -> StoreHandle {
    let mut config = registry.config(&unique_repo("limits"));
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let store = StoreHandle::new(plugin(), &config).expect("valid configuration");
    store.create(b"config").expect("create");
    store
}

#[test]
fn an_instance_writing_put_after_put_keeps_one_chunk_of_memory() {
    // One instance (a lone caller gets its instance back), packfiles of
    // 20 MiB (three 8 MiB chunks) with a small state between them, as
    // plakar's backups write. The chunk's space, freed after each put,
    // took the small allocations between puts, and every put from the
    // second on needed another 8 MiB (18.1 MiB against 11.1 MiB).
    let registry = Registry::start(RegistryOptions::default());
    let store = limited_store(&registry, &[]);
    let mut after_first = 0;
    for round in 0..5u8 {
        let data: Vec<u8> = (0..(20u32 << 20) + u32::from(round) * 77_777)
            .map(|i| (i.wrapping_mul(7) ^ u32::from(round)) as u8)
            .collect();
        store
            .put_bytes(Resource::Packfile, &mac(10 + round), &data)
            .unwrap();
        store
            .put_bytes(Resource::State, &mac(40 + round), &vec![round; 300_000])
            .unwrap();
        if round == 0 {
            after_first = store.peak_guest_memory();
        }
    }
    let peak = store.peak_guest_memory();
    println!(
        "guest linear memory after one put: {:.1} MiB, after five: {:.1} MiB",
        after_first as f64 / (1 << 20) as f64,
        peak as f64 / (1 << 20) as f64
    );
    assert!(after_first > 8 << 20, "a put holds its 8 MiB chunk");
    assert!(
        peak <= after_first + (1 << 20),
        "memory grew from {} to {} KiB over five puts",
        after_first >> 10,
        peak >> 10
    );
    // Buffers used again carry nothing of the object before.
    for round in 0..5u8 {
        let want: Vec<u8> = (0..(20u32 << 20) + u32::from(round) * 77_777)
            .map(|i| (i.wrapping_mul(7) ^ u32::from(round)) as u8)
            .collect();
        assert!(
            store
                .get(Resource::Packfile, &mac(10 + round), None)
                .unwrap()
                == want,
            "packfile {round} read back"
        );
        assert_eq!(
            store.get(Resource::State, &mac(40 + round), None).unwrap(),
            vec![round; 300_000]
        );
    }
}

#[test]
fn an_instance_past_max_guest_memory_fails_its_call_and_is_discarded() {
    let registry = Registry::start(RegistryOptions::default());
    // What an instance needs to create a store and put a small object.
    let probe = limited_store(&registry, &[]);
    probe
        .put_bytes(Resource::State, &mac(1), &[1; 1000])
        .unwrap();
    let baseline = probe.peak_guest_memory();
    let limit = baseline + (2 << 20);
    let store = limited_store(&registry, &[("max_guest_memory", &limit.to_string())]);
    // Objects up to 8 MiB are buffered in the guest: 6 MiB needs more.
    match store.put_bytes(Resource::Packfile, &mac(2), &vec![7; 6 << 20]) {
        Err(Error::MemoryLimit { limit: l, desired }) => {
            assert_eq!(l, limit as u64);
            assert!(desired > l);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert_eq!(
        store.instances(),
        (0, 0),
        "the instance went back to the pool"
    );
    // A fresh instance serves the next call.
    store
        .put_bytes(Resource::State, &mac(3), &[3; 1000])
        .unwrap();
    assert_eq!(
        store.get(Resource::State, &mac(3), None).unwrap(),
        [3; 1000]
    );
}

#[test]
fn a_call_waits_for_a_free_instance_until_instance_wait_then_fails() {
    let registry = Registry::start(RegistryOptions::default());
    let store = limited_store(&registry, &[("max_instances", "1"), ("instance_wait", "1")]);
    store
        .put_bytes(Resource::State, &mac(1), &[1; 100])
        .unwrap();
    let held = store.get_reader(Resource::State, &mac(1), None).unwrap();
    let started = std::time::Instant::now();
    match store.ping() {
        Err(Error::PoolTimeout { instances: 1, .. }) => {}
        other => panic!("expected the pool to time out, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(10), "{waited:?}");
    drop(held);
    store.ping().expect("the instance is free again");
}

#[test]
fn a_put_whose_reader_panics_discards_its_instance() {
    struct Panicking(usize);
    impl std::io::Read for Panicking {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                panic!("the caller's reader broke");
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(9);
            self.0 -= n;
            Ok(n)
        }
    }
    let registry = Registry::start(RegistryOptions::default());
    let store = limited_store(&registry, &[]);
    assert_eq!(store.instances(), (1, 1));
    // More than one chunk reaches the component before the panic.
    let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.put(Resource::Packfile, &mac(1), Panicking(3 << 20))
    }));
    assert!(put.is_err(), "the panic reached the caller");
    assert_eq!(
        store.instances(),
        (0, 0),
        "an instance with a live writer went back to the pool"
    );
    assert!(store
        .get(Resource::Packfile, &mac(1), None)
        .unwrap_err()
        .is_not_found());
    store
        .put_bytes(Resource::Packfile, &mac(1), b"after")
        .unwrap();
}

#[test]
fn a_whole_get_holds_no_more_than_max_get_size() {
    let registry = Registry::start(RegistryOptions::default());
    let store = limited_store(&registry, &[("max_get_size", "1K")]);
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    store.put_bytes(Resource::Packfile, &mac(1), &data).unwrap();
    match store.get(Resource::Packfile, &mac(1), None) {
        Err(Error::TooLarge { limit: 1024 }) => {}
        other => panic!("expected too-large, got {:?}", other.map(|b| b.len())),
    }
    assert_eq!(
        store
            .get(Resource::Packfile, &mac(1), Some((100, 1000)))
            .unwrap(),
        data[100..1100]
    );
    let mut streamed = Vec::new();
    std::io::Read::read_to_end(
        &mut store.get_reader(Resource::Packfile, &mac(1), None).unwrap(),
        &mut streamed,
    )
    .unwrap();
    assert!(streamed == data, "a stream is not capped");
}

#[test]
fn a_damaged_compiled_component_is_recompiled_and_the_store_works() {
    let wasm =
        std::fs::read(kloset_testkit::component::component_file()).expect("the built component");
    let cache = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    Plugin::load_bytes_cached_in(&wasm, Some(cache.path())).unwrap();
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cache entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    let half = bytes.len() / 2;
    bytes[half..].fill(0);
    std::fs::write(&entry, &bytes).unwrap();

    let plugin = Plugin::load_bytes_cached_in(&wasm, Some(cache.path())).unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let store = StoreHandle::new(&plugin, &registry.config(&unique_repo("cache"))).unwrap();
    store.create(b"config").unwrap();
    store.put_bytes(Resource::State, &mac(1), b"works").unwrap();
    assert_eq!(store.get(Resource::State, &mac(1), None).unwrap(), b"works");
    assert_ne!(
        std::fs::read(&entry).unwrap(),
        bytes,
        "the damaged entry was kept"
    );
}
