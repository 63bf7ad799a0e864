//! TLS end to end: a real registry serving HTTPS with a certificate from a
//! CA the test makes, and the host's TLS options (`tls_ca_file`,
//! `tls_insecure_no_verify`) deciding whether the store may talk to it.
//!
//! The refusals matter as much as the successes: a host that trusted any
//! certificate would pass every "works" case here, so each trust decision is
//! checked both ways.

use kloset_testkit::component::plugin;

use std::path::Path;
use std::time::{Duration, Instant};

use kloset_host::{ContractError, Error, Mac, Resource, StoreHandle};
use kloset_testkit::http::{http_request, send, Transport};
use kloset_testkit::tls::client_config_trusting;
use kloset_testkit::{unique_repo, Registry, RegistryOptions, TestPki};
use rand::RngCore;

/// A TLS registry with certificates from a fresh test PKI. The PKI is
/// returned too: the tests point the host at its CA files.
fn tls_registry() -> (TestPki, Registry) {
    let pki = TestPki::new();
    let registry = Registry::start(RegistryOptions {
        tls: Some(pki.server_files()),
        ..Default::default()
    });
    (pki, registry)
}

/// The registry's store configuration for a fresh repository, plus `extra`.
fn config(registry: &Registry, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut config = registry.config(&unique_repo("tls"));
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    config
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn random_mac() -> Mac {
    Mac(rand::random())
}

/// A handle on `config` must be made (no request is sent then), but
/// requests must fail the TLS handshake over the certificate.
fn assert_certificate_refused(config: &[(String, String)]) {
    let store = StoreHandle::new(plugin(), config).expect("a valid configuration");
    match store.ping() {
        // The host maps rustls's InvalidCertificate to wasi:http's
        // `tls-certificate-error`; the component says it in words: "GET
        // 127.0.0.1:PORT/v2/: TLS handshake failed: the certificate is not
        // trusted (see tls_ca_file)".
        Err(Error::Contract(ContractError::Transport(msg))) => assert!(
            msg.contains("the certificate is not trusted (see tls_ca_file)"),
            "a transport error other than a refused certificate: {msg}"
        ),
        other => panic!("expected a TLS certificate error, got {other:?}"),
    }
    // The request went out (the allow-list did not stop it), the handshake
    // refused it, and it was not retried: an untrusted certificate stays so.
    assert_eq!(store.requests(), 1);
}

/// Every operation of the store through the handle: create, small and
/// streamed (over 8 MiB) puts, list, whole and ranged gets, delete.
fn exercise_store(store: &StoreHandle) {
    store.ping().expect("ping");
    store.create(b"kloset configuration").expect("create");

    let small = (random_mac(), random_bytes(1000));
    let large = (random_mac(), random_bytes(10 << 20));
    for (mac, data) in [&small, &large] {
        let stored = store.put_bytes(Resource::Packfile, mac, data).expect("put");
        assert_eq!(stored, data.len() as u64);
    }

    let mut listed = store.list(Resource::Packfile).expect("list");
    listed.sort();
    let mut want = vec![small.0, large.0];
    want.sort();
    assert_eq!(listed, want);

    for (mac, data) in [&small, &large] {
        let got = store.get(Resource::Packfile, mac, None).expect("get");
        assert!(got == *data, "whole get of {} bytes differs", data.len());
    }
    let (offset, length) = (3 << 20, 1 << 20);
    let range = store
        .get(Resource::Packfile, &large.0, Some((offset, length)))
        .expect("ranged get");
    assert!(
        range == large.1[offset as usize..][..length as usize],
        "ranged get differs"
    );

    store.delete(Resource::Packfile, &small.0).expect("delete");
    assert_eq!(store.list(Resource::Packfile).expect("list"), vec![large.0]);
    assert!(matches!(
        store.get(Resource::Packfile, &small.0, None),
        Err(Error::Contract(ContractError::NotFound(_)))
    ));
}

#[test]
fn the_test_pki_is_what_rustls_accepts_and_only_under_its_ca() {
    let pki = TestPki::new();

    pki.rustls_accepts(pki.ca_pem(), "127.0.0.1").unwrap();
    pki.rustls_accepts(pki.ca_pem(), "localhost").unwrap();
    // The certificate names exactly those two.
    for name in ["127.0.0.2", "example.com"] {
        let err = pki.rustls_accepts(pki.ca_pem(), name).unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{name}: {err:?}"
        );
    }
    let err = pki
        .rustls_accepts(pki.other_ca_pem(), "127.0.0.1")
        .unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
}

#[test]
fn the_harness_talks_to_a_tls_registry_over_tls() {
    let (pki, registry) = tls_registry();

    assert!(registry.is_tls());
    let repo = unique_repo("tls");
    assert_eq!(
        registry.config(&repo),
        vec![("location".to_string(), registry.location(&repo))]
    );
    assert_eq!(registry.status_of("GET", "/v2/"), 200);

    let port: u16 = registry
        .authority()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("HOST:PORT");
    // Plain HTTP is not served there.
    let plain = http_request(port, "GET", "/v2/");
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "{plain:?}"
    );
    // Nor does the harness's client trust the registry under another CA.
    let other = Transport::Tls(client_config_trusting(pki.other_ca_pem()));
    let err = send(&other, port, "GET", "/v2/", &[], &[]).unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[test]
fn without_a_ca_file_the_registry_certificate_is_refused() {
    let (_pki, registry) = tls_registry();
    // use_tls=true: a loopback registry is otherwise spoken to in plain
    // HTTP when no TLS option is given.
    assert_certificate_refused(&config(&registry, &[("use_tls", "true")]));
    assert_certificate_refused(&config(&registry, &[("tls_insecure_no_verify", "false")]));
}

#[test]
fn an_unrelated_ca_file_is_refused_too() {
    let (pki, registry) = tls_registry();
    let other = path_str(pki.other_ca_pem());
    assert_certificate_refused(&config(&registry, &[("tls_ca_file", other)]));
}

#[test]
fn with_the_test_ca_every_operation_works() {
    let (pki, registry) = tls_registry();
    let ca = path_str(pki.ca_pem());
    let config = config(&registry, &[("tls_ca_file", ca)]);

    let store = StoreHandle::new(plugin(), &config).expect("a valid configuration");
    exercise_store(&store);

    // A second handle (its own client) reads what the first wrote.
    let again = StoreHandle::new(plugin(), &config).expect("a valid configuration");
    assert_eq!(again.open().expect("open"), b"kloset configuration");
}

#[test]
fn insecure_no_verify_works_without_a_ca_file() {
    let (_pki, registry) = tls_registry();
    let config = config(&registry, &[("tls_insecure_no_verify", "true")]);

    let store = StoreHandle::new(plugin(), &config).expect("a valid configuration");
    exercise_store(&store);
}

#[test]
fn a_bad_insecure_value_fails_the_configuration() {
    // No registry is needed: the host refuses before any request.
    let config = vec![
        ("location".to_string(), "oci://127.0.0.1:9/repo".to_string()),
        (
            "tls_insecure_no_verify".to_string(),
            "yes please".to_string(),
        ),
    ];
    match StoreHandle::new(plugin(), &config) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => {
            assert!(msg.contains("tls_insecure_no_verify"), "{msg}");
            assert!(!msg.contains("yes please"), "{msg}");
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn plain_http_to_a_tls_registry_fails_promptly() {
    let (_pki, registry) = tls_registry();
    let config = config(&registry, &[("use_tls", "false")]);

    let store = StoreHandle::new(plugin(), &config).expect("a valid configuration");
    let started = Instant::now();
    let result = store.ping();
    let elapsed = started.elapsed();
    // Go's TLS server answers a plaintext request with a bare
    // "HTTP/1.0 400 Bad Request" before closing (distribution 2.8 does so);
    // a server that just closes the connection gives a transport error.
    // Either way the store fails, and says so.
    match &result {
        Err(Error::Contract(ContractError::Registry { status: 400, .. }))
        | Err(Error::Contract(ContractError::Transport(_))) => {}
        other => panic!("expected HTTP 400 or a transport error, got {other:?}"),
    }
    // Far below the host's 120 s first-byte timeout: the exchange is refused,
    // not left to stall.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
