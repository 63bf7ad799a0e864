//! What the host's egress guarantees, seen from outside: connections are
//! pooled across requests and instances, and the component reaches only its
//! registry, even when the registry redirects it elsewhere.

mod common;

use common::component::plugin;

use common::fake::{FakeServer, Reply};
use common::proxy::CountingProxy;
use common::{unique_repo, Registry, RegistryOptions};
use kloset_host::{Plugin, Resource, StoreError, StoreHandle};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn store_at(plugin: &Plugin, authority: &str, repo: &str) -> StoreHandle {
    let config = [
        ("location".to_string(), format!("oci://{authority}/{repo}")),
        ("use_tls".to_string(), "false".to_string()),
    ];
    StoreHandle::new(plugin, &config).expect("valid configuration")
}

fn mac(n: u8) -> [u8; 32] {
    [n; 32]
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

/// A registry that holds one object whose blob GET is answered by `blob`.
fn fake_registry(
    data: &'static [u8],
    blob: impl Fn() -> Reply + Send + Sync + 'static,
) -> FakeServer {
    let digest = format!("sha256:{}", hex(&Sha256::digest(data)));
    FakeServer::start(move |req| {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.plakar.kloset.v1.packfile",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
            "layers": [{"mediaType": "application/vnd.plakar.kloset.v1.packfile", "digest": digest, "size": data.len()}],
            "annotations": {"io.plakar.kloset.role": "object", "io.plakar.kloset.resource": "packfile",
                            "io.plakar.kloset.mac": hex(&mac(1))},
        });
        if req.path.starts_with("/v2/r/manifests/packfile-") {
            Reply::new(200, serde_json::to_vec(&manifest).unwrap())
        } else if req.path == format!("/v2/r/blobs/{digest}") {
            blob()
        } else if req.path == "/elsewhere/blob" {
            Reply::new(200, data)
        } else {
            Reply::new(404, "")
        }
    })
}

#[test]
fn redirects_within_the_registry_are_followed() {
    let registry = fake_registry(b"redirected bytes", || {
        Reply::new(307, "").header("location", "/elsewhere/blob")
    });
    let store = store_at(plugin(), &registry.authority(), "r");
    assert_eq!(
        store.get(Resource::Packfile, &mac(1), None).unwrap(),
        b"redirected bytes"
    );
    let paths: Vec<_> = registry.seen().into_iter().map(|s| s.path).collect();
    assert!(paths.contains(&"/elsewhere/blob".to_string()), "{paths:?}");
}

#[test]
fn a_redirect_to_another_host_is_followed_without_credentials() {
    let elsewhere = FakeServer::start(|_| Reply::new(200, "redirected bytes"));
    let target = format!("http://{}/blob?signature=abc", elsewhere.authority());
    let registry = fake_registry(b"redirected bytes", move || {
        Reply::new(307, "").header("location", &target)
    });
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
            "{} {}",
            seen.method,
            seen.path
        );
    }
    let fetched = elsewhere.seen();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0].path, "/blob?signature=abc");
    assert_eq!(
        fetched[0].header("authorization"),
        None,
        "credentials went to another host"
    );
}

#[test]
fn hosts_the_registry_never_named_are_refused() {
    let elsewhere = FakeServer::start(|_| Reply::new(201, ""));
    let upload = format!("http://{}/upload", elsewhere.authority());
    // Every upload session the registry opens lives on another host, which
    // no challenge or redirect named.
    let registry = FakeServer::start(move |req| {
        if req.method == "POST" {
            Reply::new(202, "").header("location", &upload)
        } else {
            Reply::new(404, "")
        }
    });
    let store = store_at(plugin(), &registry.authority(), "r");
    // The component refuses a Location off the registry's origin before
    // the host's egress is asked (the allow-list's own unit tests cover
    // the egress); either refusal is a refusal, and nothing is sent.
    match store.create(b"config") {
        Err(StoreError::Transport(message)) => assert!(message.contains("denied"), "{message}"),
        Err(StoreError::Registry { message, .. }) => {
            assert!(message.contains("not on the registry's origin"), "{message}")
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
