//! Tests of the test harness itself: the registry the other tests rely on
//! really starts, really stops, and honours its options; and a start that
//! cannot succeed fails loudly instead of passing. olareg and crane's
//! registry each start, take a push and serve it back; what they do with a
//! DELETE is recorded here as a fact the suite checks.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;

use kloset_testkit::artifacts::digest_of;
use kloset_testkit::http::http_request;
use kloset_testkit::registry::registry_binary;
use kloset_testkit::{
    skopeo_inspect_raw, unique_repo, Implementation, Registry, RegistryAuth, RegistryOptions,
    TestPki,
};

/// A digest no registry holds: deleting it exercises only the permission check.
fn random_digest() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("sha256:{}", hex::encode(bytes))
}

#[test]
fn registry_starts_and_answers_v2() {
    let registry = Registry::start(RegistryOptions::default());

    let resp = http_request(port_of(&registry), "GET", "/v2/").expect("GET /v2/");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Docker-Distribution-Api-Version"),
        Some("registry/2.0")
    );
    assert!(
        registry.root_dir().is_dir(),
        "storage root {:?} missing",
        registry.root_dir()
    );
}

#[test]
fn addresses_name_the_loopback_port() {
    let registry = Registry::start(RegistryOptions::default());
    let authority = registry.authority();

    assert!(authority.starts_with("127.0.0.1:"), "{authority}");
    assert_eq!(registry.location("a/b"), format!("oci://{authority}/a/b"));
    assert_eq!(
        registry.config("repo"),
        vec![
            ("location".to_string(), format!("oci://{authority}/repo")),
            ("use_tls".to_string(), "false".to_string()),
        ]
    );
}

#[test]
fn two_registries_get_distinct_ports() {
    let a = Registry::start(RegistryOptions::default());
    let b = Registry::start(RegistryOptions::default());

    assert_ne!(a.authority(), b.authority());
    assert_ne!(a.root_dir(), b.root_dir());
    assert_eq!(a.status_of("GET", "/v2/"), 200);
    assert_eq!(b.status_of("GET", "/v2/"), 200);
}

#[test]
fn delete_disabled_answers_405() {
    let registry = Registry::start(RegistryOptions {
        delete_enabled: false,
        ..Default::default()
    });

    let path = format!("/v2/x/manifests/{}", random_digest());
    assert_eq!(registry.status_of("DELETE", &path), 405);
}

#[test]
fn delete_enabled_answers_404_for_a_missing_manifest() {
    let registry = Registry::start(RegistryOptions {
        delete_enabled: true,
        ..Default::default()
    });

    let path = format!("/v2/x/manifests/{}", random_digest());
    assert_eq!(registry.status_of("DELETE", &path), 404);
}

#[test]
fn drop_stops_the_registry_and_removes_its_directory() {
    let registry = Registry::start(RegistryOptions::default());
    let authority = registry.authority();
    let dir = registry.dir().to_path_buf();
    assert!(dir.is_dir());

    drop(registry);

    assert!(!dir.exists(), "{} still exists", dir.display());
    // Nothing listens there any more (another test could in principle take
    // the port in between; a registry of ours would still not be there).
    if let Ok(stream) = TcpStream::connect(&authority) {
        drop(stream);
        let resp = http_request(authority_port(&authority), "GET", "/v2/");
        assert!(resp.is_err() || resp.unwrap().header("x-kloset-test-registry").is_none());
    }
}

#[test]
fn unique_repo_names_differ_and_keep_the_prefix() {
    let a = unique_repo("store");
    let b = unique_repo("store");

    assert_ne!(a, b);
    assert!(a.starts_with("store-"), "{a}");
    assert!(
        a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{a}"
    );
}

#[test]
#[should_panic(expected = "not found")]
fn a_missing_binary_fails_the_start() {
    Registry::start_with_binary(
        OsStr::new("/nonexistent/kloset-no-such-registry"),
        RegistryOptions::default(),
    );
}

#[test]
#[should_panic(expected = "exited early")]
fn a_registry_that_exits_fails_the_start() {
    // `false` ignores its arguments and exits 1 at once.
    Registry::start_with_binary(OsStr::new("false"), RegistryOptions::default());
}

#[test]
fn a_lost_port_race_is_retried_on_another_port() {
    // A stand-in that fails the first start the way distribution does when
    // the port was taken after the harness chose it, then runs the real one.
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("first-start-done");
    let script = scratch.path().join("registry-losing-once");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             if [ ! -e '{marker}' ]; then\n\
             \x20 touch '{marker}'\n\
             \x20 echo 'level=fatal msg=\"listen tcp: bind: address already in use\"' >&2\n\
             \x20 exit 1\n\
             fi\n\
             exec '{real}' \"$@\"\n",
            marker = marker.display(),
            real = registry_binary().to_string_lossy(),
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();

    let registry = Registry::start_with_binary(script.as_os_str(), RegistryOptions::default());

    assert!(marker.exists(), "the first start did not run");
    assert_eq!(registry.status_of("GET", "/v2/"), 200);
}

#[test]
fn skopeo_reads_back_a_pushed_manifest() {
    let registry = Registry::start(RegistryOptions::default());
    let repo = unique_repo("harness");

    // The OCI empty config, pushed as a blob with a monolithic upload.
    let start = registry.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(start.status, 202, "{start:?}");
    let location = start.header("location").expect("upload Location");
    let location = strip_origin(location, &registry.authority());
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = registry.send(
        "PUT",
        &format!("{location}{sep}digest={EMPTY_DIGEST}"),
        &[],
        b"{}",
    );
    assert_eq!(put.status, 201, "{put:?}");

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": "application/vnd.kloset.test",
        "config": {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2}],
        "annotations": {"test": repo},
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let put = registry.send(
        "PUT",
        &format!("/v2/{repo}/manifests/t1"),
        &[("Content-Type", MANIFEST_TYPE)],
        &body,
    );
    assert_eq!(put.status, 201, "{put:?}");

    let seen = skopeo_inspect_raw(&format!("{}/{repo}:t1", registry.authority()));
    assert_eq!(seen, manifest);
}

#[test]
#[should_panic(expected = "skopeo inspect --raw")]
fn skopeo_of_a_missing_tag_panics() {
    let registry = Registry::start(RegistryOptions::default());
    skopeo_inspect_raw(&format!(
        "{}/{}:nope",
        registry.authority(),
        unique_repo("harness")
    ));
}

const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Upload locations may be absolute (distribution 2.8 makes them so) or
/// relative; the hand-written client needs the path.
fn strip_origin<'a>(location: &'a str, authority: &str) -> &'a str {
    location
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_prefix(authority))
        .unwrap_or(location)
}

fn port_of(registry: &Registry) -> u16 {
    authority_port(&registry.authority())
}

fn authority_port(authority: &str) -> u16 {
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("HOST:PORT")
}

/// Pushes a blob (monolithic upload) and a manifest naming it under tag
/// `t1` into a fresh repository with the raw HTTP helpers, reads both back
/// (the manifest by tag and by digest) and returns the repository, the
/// blob's digest and the manifest's.
fn push_and_pull(registry: &Registry) -> (String, String, String) {
    let repo = unique_repo("harness");
    let blob = format!("kloset harness blob {}", random_digest()).into_bytes();
    let blob_digest = digest_of(&blob);

    let start = registry.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(start.status, 202, "{start:?}");
    let location = start.header("location").expect("upload Location");
    let location = strip_origin(location, &registry.authority());
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = registry.send(
        "PUT",
        &format!("{location}{sep}digest={blob_digest}"),
        &[("Content-Type", "application/octet-stream")],
        &blob,
    );
    assert_eq!(put.status, 201, "{put:?}");
    let got = registry.send("GET", &format!("/v2/{repo}/blobs/{blob_digest}"), &[], &[]);
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, blob, "the blob reads back exactly");

    // The manifest's config is the blob itself; no layers need uploading.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": "application/vnd.kloset.test",
        "config": {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": blob_digest, "size": blob.len()}],
    });
    // The OCI empty config is a blob the manifest names, so it goes first.
    let start = registry.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(start.status, 202, "{start:?}");
    let location = start.header("location").expect("upload Location");
    let location = strip_origin(location, &registry.authority());
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = registry.send(
        "PUT",
        &format!("{location}{sep}digest={EMPTY_DIGEST}"),
        &[],
        b"{}",
    );
    assert_eq!(put.status, 201, "{put:?}");

    let body = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = digest_of(&body);
    let put = registry.send(
        "PUT",
        &format!("/v2/{repo}/manifests/t1"),
        &[("Content-Type", MANIFEST_TYPE)],
        &body,
    );
    assert_eq!(put.status, 201, "{put:?}");
    for reference in ["t1", manifest_digest.as_str()] {
        let got = registry.send(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", MANIFEST_TYPE)],
            &[],
        );
        assert_eq!(got.status, 200, "GET manifest {reference}: {got:?}");
        assert_eq!(got.body, body, "manifest {reference} reads back exactly");
    }
    (repo, blob_digest, manifest_digest)
}

fn start(implementation: Implementation) -> Registry {
    Registry::start(RegistryOptions {
        implementation,
        ..Default::default()
    })
}

#[test]
fn olareg_starts_and_takes_a_push_and_a_pull() {
    let registry = start(Implementation::Olareg);
    assert_eq!(registry.status_of("GET", "/v2/"), 200);
    let (repo, _, _) = push_and_pull(&registry);
    // Each repository is an OCI layout in the temporary storage root.
    let index = registry.root_dir().join(&repo).join("index.json");
    assert!(index.is_file(), "{} missing", index.display());
}

#[test]
fn crane_registry_starts_and_takes_a_push_and_a_pull() {
    let registry = start(Implementation::Crane);
    assert_eq!(registry.status_of("GET", "/v2/"), 200);
    push_and_pull(&registry);
}

#[test]
fn olareg_keeps_blobs_where_blob_path_says() {
    let registry = start(Implementation::Olareg);
    let (repo, digest, _) = push_and_pull(&registry);
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = registry.blob_path(hex);
    assert!(
        path.starts_with(registry.root_dir().join(&repo)),
        "{}",
        path.display()
    );
    assert_eq!(digest_of(&fs::read(&path).unwrap()), digest);
}

#[test]
fn crane_keeps_blobs_where_blob_path_says() {
    let registry = start(Implementation::Crane);
    let (_, digest, _) = push_and_pull(&registry);
    let path = registry.blob_path(digest.strip_prefix("sha256:").unwrap());
    assert_eq!(digest_of(&fs::read(&path).unwrap()), digest);
}

#[test]
fn olareg_without_deletes_answers_405() {
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Olareg,
        delete_enabled: false,
        ..Default::default()
    });
    let (repo, _, digest) = push_and_pull(&registry);
    let path = format!("/v2/{repo}/manifests/{digest}");
    assert_eq!(registry.status_of("DELETE", &path), 405);
    assert_eq!(
        registry.status_of("GET", &format!("/v2/{repo}/manifests/t1")),
        200
    );
}

/// What a store's delete by digest does on olareg: the manifest and the tag
/// naming it both go.
#[test]
fn olareg_delete_by_digest_removes_the_tag() {
    let registry = start(Implementation::Olareg);
    let (repo, _, digest) = push_and_pull(&registry);
    let path = format!("/v2/{repo}/manifests/{digest}");
    assert_eq!(registry.status_of("DELETE", &path), 202);
    assert_eq!(registry.status_of("GET", &path), 404);
    assert_eq!(
        registry.status_of("GET", &format!("/v2/{repo}/manifests/t1")),
        404
    );
}

/// go-containerregistry's registry lies about deletes: DELETE by digest
/// answers 202 and removes only the digest's own entry, and the tag goes on
/// serving the manifest (pkg/registry/manifest.go keeps one map entry per
/// reference). The store must find this out and keep tombstones instead.
#[test]
fn crane_delete_by_digest_answers_202_and_keeps_serving_the_tag() {
    let registry = start(Implementation::Crane);
    let (repo, _, digest) = push_and_pull(&registry);
    let path = format!("/v2/{repo}/manifests/{digest}");
    assert_eq!(registry.status_of("DELETE", &path), 202);
    assert_eq!(registry.status_of("GET", &path), 404, "the digest is gone");
    let tag = registry.send(
        "GET",
        &format!("/v2/{repo}/manifests/t1"),
        &[("Accept", MANIFEST_TYPE)],
        &[],
    );
    assert_eq!(tag.status, 200, "the tag still answers: {tag:?}");
    assert_eq!(digest_of(&tag.body), digest, "with the deleted manifest");
    let tags = registry.send("GET", &format!("/v2/{repo}/tags/list"), &[], &[]);
    let tags: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(
        tags["tags"],
        serde_json::json!(["t1"]),
        "and is still listed"
    );
}

#[test]
fn olareg_serves_tls_under_the_test_ca() {
    let pki = TestPki::new();
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Olareg,
        tls: Some(pki.server_files()),
        ..Default::default()
    });
    // The start itself probed over TLS trusting only the test CA.
    assert!(registry.is_tls());
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    push_and_pull(&registry);
}

#[test]
#[should_panic(expected = "always answers DELETE")]
fn crane_registry_refuses_deletes_off() {
    Registry::start(RegistryOptions {
        implementation: Implementation::Crane,
        delete_enabled: false,
        ..Default::default()
    });
}

#[test]
#[should_panic(expected = "plain HTTP without auth only")]
fn crane_registry_refuses_auth() {
    Registry::start(RegistryOptions {
        implementation: Implementation::Crane,
        auth: RegistryAuth::htpasswd(&[("u", "p")]),
        ..Default::default()
    });
}

#[test]
#[should_panic(expected = "olareg is run without auth")]
fn olareg_refuses_auth() {
    Registry::start(RegistryOptions {
        implementation: Implementation::Olareg,
        auth: RegistryAuth::htpasswd(&[("u", "p")]),
        ..Default::default()
    });
}

#[test]
#[should_panic(expected = "not found")]
fn a_missing_olareg_binary_fails_the_start() {
    Registry::start_with_binary(
        OsStr::new("/nonexistent/kloset-no-such-olareg"),
        RegistryOptions {
            implementation: Implementation::Olareg,
            ..Default::default()
        },
    );
}

#[test]
#[should_panic(expected = "not found")]
fn a_missing_crane_binary_fails_the_start() {
    Registry::start_with_binary(
        OsStr::new("/nonexistent/kloset-no-such-crane"),
        RegistryOptions {
            implementation: Implementation::Crane,
            ..Default::default()
        },
    );
}
