//! The registry personalities themselves (`kloset_testkit::personality`),
//! by raw HTTP through each proxy in front of a real registry: every rule
//! fires exactly as the sources document it, and a compliant request
//! passes. What the store makes of them is the conformance suite's
//! `conformance::hosted` flavours.

use kloset_testkit::http::{http_send, RawResponse};
use kloset_testkit::personality::{
    Acr, ArtifactRegistry, DockerHub, Ecr, Ghcr, GitLab, Harbor, PersonalityProxy, Quay, Rules,
};
use kloset_testkit::tags::{link_target, tags_of_page};
use kloset_testkit::{Implementation, Registry, RegistryOptions};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCTET: &str = "application/octet-stream";
const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A registry (distribution 2.8, DELETE on) and a personality in front.
struct Setup<R: Rules> {
    registry: Registry,
    proxy: PersonalityProxy<R>,
}

impl<R: Rules> Setup<R> {
    fn new(rules: R) -> Setup<R> {
        Setup::on(Implementation::Distribution2, rules)
    }

    fn on(implementation: Implementation, rules: R) -> Setup<R> {
        let registry = Registry::start(RegistryOptions {
            implementation,
            ..Default::default()
        });
        let proxy = PersonalityProxy::start(&registry.authority(), rules);
        Setup { registry, proxy }
    }

    /// One request through the personality (accepting OCI manifests, which
    /// distribution answers 404 to a manifest request that does not).
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
        let mut headers = headers.to_vec();
        headers.push(("Accept", MANIFEST));
        http_send(self.proxy.port(), method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} through the personality: {e}"))
    }

    fn rules(&self) -> &R {
        self.proxy.rules()
    }

    /// The status of `METHOD PATH` asked straight of the registry, past
    /// the rules (accepting OCI manifests).
    fn behind(&self, method: &str, path: &str) -> u16 {
        self.registry
            .send(method, path, &[("Accept", MANIFEST)], &[])
            .status
    }

    /// Opens an upload session through the personality: the path of its
    /// `Location`.
    fn open_upload(&self, repo: &str) -> String {
        let r = self.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
        assert_eq!(r.status, 202, "POST upload: {}", text(&r));
        path_of(r.header("location").expect("Location"))
    }
}

fn text(r: &RawResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The path and query of a `Location` (absolute or not).
fn path_of(location: &str) -> String {
    let at = location.find("/v2/").expect("a /v2/ Location");
    location[at..].to_string()
}

/// `path` with one more query parameter.
fn with_query(path: &str, pair: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{pair}")
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The first error of an error body: code, message, detail.
fn error_of(r: &RawResponse) -> (String, String, String) {
    let doc: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("error body {:?}: {e}", text(r)));
    let e = &doc["errors"][0];
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (s(&e["code"]), s(&e["message"]), s(&e["detail"]))
}

/// Pushes a blob straight into the registry (setting up, past the rules).
fn seed_blob(registry: &Registry, repo: &str, data: &[u8]) -> String {
    let r = registry.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(r.status, 202, "seed POST");
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(data)),
    );
    let r = registry.send("PUT", &put, &[], data);
    assert_eq!(r.status, 201, "seed PUT: {}", text(&r));
    digest(data)
}

/// An OCI image manifest with this config type, artifact type and layers
/// (each a media type and a blob's bytes), the empty config `{}`.
fn manifest(config: &str, artifact_type: Option<&str>, layers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": config, "digest": digest(b"{}"), "size": 2},
        "layers": layers.iter().map(|(t, data)| serde_json::json!({
            "mediaType": t, "digest": digest(data), "size": data.len(),
        })).collect::<Vec<_>>(),
    });
    if let Some(t) = artifact_type {
        m["artifactType"] = t.into();
    }
    serde_json::to_vec(&m).unwrap()
}

/// Seeds the blobs a [`manifest`] of `layers` needs.
fn seed_manifest_blobs(registry: &Registry, repo: &str, layers: &[&[u8]]) {
    seed_blob(registry, repo, b"{}");
    for data in layers {
        seed_blob(registry, repo, data);
    }
}

fn put_manifest<R: Rules>(s: &Setup<R>, repo: &str, reference: &str, body: &[u8]) -> RawResponse {
    s.send(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", MANIFEST)],
        body,
    )
}

/// Tags `count` tags `t000`, `t001`, ... straight in the registry, all on
/// one manifest.
fn seed_tags(registry: &Registry, repo: &str, count: usize) -> Vec<String> {
    seed_manifest_blobs(registry, repo, &[b"layer"]);
    let body = manifest(EMPTY, None, &[(OCTET, b"layer")]);
    (0..count)
        .map(|i| {
            let tag = format!("t{i:03}");
            let r = registry.send(
                "PUT",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("Content-Type", MANIFEST)],
                &body,
            );
            assert_eq!(r.status, 201, "seed tag {tag}");
            tag
        })
        .collect()
}

/// Walks the tag list through the personality from `first`, following
/// `Link`: every page's tags and the `Link` of each page.
fn walk_tags<R: Rules>(s: &Setup<R>, first: &str) -> Vec<(Vec<String>, Option<String>)> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next.take() {
        let r = s.send("GET", &path, &[], &[]);
        assert_eq!(r.status, 200, "GET {path}: {}", text(&r));
        let link = r.header("link").map(String::from);
        next = link.as_deref().map(link_target);
        pages.push((tags_of_page(&r.body), link));
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

fn sizes(pages: &[(Vec<String>, Option<String>)]) -> Vec<usize> {
    pages.iter().map(|(t, _)| t.len()).collect()
}

fn all_of(pages: &[(Vec<String>, Option<String>)]) -> Vec<String> {
    let mut all: Vec<String> = pages.iter().flat_map(|(t, _)| t.clone()).collect();
    all.sort();
    all
}

// ---------------------------------------------------------------- GitLab

#[test]
fn gitlab_refuses_media_types_outside_its_list_with_a_detail_naming_the_field() {
    let s = Setup::new(GitLab::new());
    let repo = "group/project/store";
    seed_manifest_blobs(&s.registry, repo, &[b"data"]);
    let cases: &[(Vec<u8>, &str)] = &[
        (
            manifest(
                EMPTY,
                Some("application/vnd.plakar.kloset.v1.probe"),
                &[(OCTET, b"data")],
            ),
            "unknown media type: application/vnd.plakar.kloset.v1.probe (artifactType)",
        ),
        (
            manifest(
                "application/vnd.plakar.kloset.v1.config",
                None,
                &[(OCTET, b"data")],
            ),
            "unknown media type: application/vnd.plakar.kloset.v1.config (config.mediaType)",
        ),
        (
            manifest(
                EMPTY,
                None,
                &[(OCTET, b"data"), ("application/x-kloset", b"data")],
            ),
            "unknown media type: application/x-kloset (layers[1].mediaType)",
        ),
    ];
    for (i, (body, detail)) in cases.iter().enumerate() {
        let tag = format!("refused{i}");
        let r = put_manifest(&s, repo, &tag, body);
        assert_eq!(r.status, 400, "{detail}");
        assert_eq!(
            error_of(&r),
            (
                "MANIFEST_INVALID".into(),
                "manifest invalid".into(),
                detail.to_string()
            )
        );
        let behind = s.behind("GET", &format!("/v2/{repo}/manifests/{tag}"));
        assert_eq!(behind, 404, "a refused manifest never reaches the registry");
    }
    // Listed types everywhere: the empty config, an allow-listed
    // artifactType, the OCI layer types, octet-stream.
    let fine = manifest(
        EMPTY,
        Some(EMPTY),
        &[
            (OCTET, b"data"),
            (TAR_GZIP, b"data"),
            ("application/vnd.oci.image.layer.v1.tar+zstd", b"data"),
        ],
    );
    let r = put_manifest(&s, repo, "fine", &fine);
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(s.behind("GET", &format!("/v2/{repo}/manifests/fine")), 200);
    let helm = manifest(
        "application/vnd.cncf.helm.config.v1+json",
        None,
        &[(OCTET, b"data")],
    );
    assert_eq!(put_manifest(&s, repo, "helm", &helm).status, 201);
}

#[test]
fn gitlab_pages_tags_by_100_when_n_is_absent_and_honours_n() {
    let s = Setup::new(GitLab::new());
    let repo = "group/tags";
    let tags = seed_tags(&s.registry, repo, 250);
    let pages = walk_tags(&s, &format!("/v2/{repo}/tags/list"));
    assert_eq!(sizes(&pages), [100, 100, 50]);
    assert_eq!(pages[0].0, tags[..100], "in lexical order");
    assert!(
        pages[0].1.as_deref().unwrap().contains("last=t099"),
        "{:?}",
        pages[0].1
    );
    assert_eq!(all_of(&pages), tags);
    let asked = walk_tags(&s, &format!("/v2/{repo}/tags/list?n=1000"));
    assert_eq!(sizes(&asked), [250]);
}

// ------------------------------------------------------------------ GHCR

#[test]
fn ghcr_refuses_upload_bodies_over_4_mib_with_416_and_takes_4_mib() {
    let s = Setup::new(Ghcr::new());
    let repo = "owner/store";
    let limit = 4 << 20;
    let over = vec![7u8; limit + 1];
    let exactly = vec![7u8; limit];
    let message =
        "the request body is too large and exceeds the maximum permissible limit of 4.00MiB";

    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{limit}"))],
        &over,
    );
    assert_eq!(r.status, 416);
    assert_eq!(
        error_of(&r),
        (
            "REQUESTED_RANGE_NOT_SATISFIABLE".into(),
            message.into(),
            String::new()
        )
    );
    let status = s.send("GET", &session, &[], &[]);
    assert_eq!(status.status, 204);
    assert_eq!(
        status.header("range"),
        Some("0-0"),
        "nothing of it reached the registry"
    );

    let r = s.send(
        "PUT",
        &with_query(&session, &format!("digest={}", digest(&over))),
        &[],
        &over,
    );
    assert_eq!(r.status, 416, "a monolithic PUT over 4 MiB");
    let r = s.send(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={}", digest(&over)),
        &[],
        &over,
    );
    assert_eq!(r.status, 416, "a POST with a body over 4 MiB");

    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", limit - 1))],
        &exactly,
    );
    assert_eq!(r.status, 202, "4 MiB exactly: {}", text(&r));
    assert_eq!(r.header("range"), Some(format!("0-{}", limit - 1).as_str()));
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&exactly)),
    );
    assert_eq!(s.send("PUT", &put, &[], &[]).status, 201);
}

#[test]
fn ghcr_answers_delete_with_405_unsupported() {
    let s = Setup::new(Ghcr::new());
    let repo = "owner/deletes";
    seed_manifest_blobs(&s.registry, repo, &[b"x"]);
    let body = manifest(EMPTY, Some("application/vnd.example"), &[(OCTET, b"x")]);
    assert_eq!(
        put_manifest(&s, repo, "kept", &body).status,
        201,
        "GHCR takes a custom artifactType"
    );
    for path in [
        format!("/v2/{repo}/manifests/{}", digest(&body)),
        format!("/v2/{repo}/manifests/kept"),
        format!("/v2/{repo}/blobs/{}", digest(b"x")),
    ] {
        let r = s.send("DELETE", &path, &[], &[]);
        assert_eq!(r.status, 405, "DELETE {path}");
        assert_eq!(error_of(&r).0, "UNSUPPORTED");
    }
    assert_eq!(s.behind("GET", &format!("/v2/{repo}/manifests/kept")), 200);
}

#[test]
fn ghcr_pages_tags_by_100_with_link_whatever_n_asks() {
    let s = Setup::new(Ghcr::new());
    let repo = "owner/tags";
    let tags = seed_tags(&s.registry, repo, 250);
    let pages = walk_tags(&s, &format!("/v2/{repo}/tags/list?n=1000"));
    assert_eq!(sizes(&pages), [100, 100, 50]);
    assert_eq!(all_of(&pages), tags);
    assert_eq!(
        sizes(&walk_tags(&s, &format!("/v2/{repo}/tags/list?n=30"))),
        [30, 30, 30, 30, 30, 30, 30, 30, 10]
    );
}

// ------------------------------------------------------------------- ECR

#[test]
fn ecr_answers_name_unknown_until_the_repository_is_created() {
    let s = Setup::new(Ecr::new());
    let repo = "team/store";
    let message = "The repository with name 'team/store' does not exist in the registry with id '123456789012'";
    for (method, path) in [
        ("POST", format!("/v2/{repo}/blobs/uploads/")),
        ("GET", format!("/v2/{repo}/tags/list")),
        ("GET", format!("/v2/{repo}/manifests/config")),
        ("PUT", format!("/v2/{repo}/manifests/config")),
    ] {
        let r = s.send(method, &path, &[], &[]);
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(
            error_of(&r),
            ("NAME_UNKNOWN".into(), message.into(), String::new())
        );
    }
    let head = s.send("HEAD", &format!("/v2/{repo}/manifests/config"), &[], &[]);
    assert_eq!(head.status, 404);
    assert_eq!(
        s.send("GET", "/v2/", &[], &[]).status,
        200,
        "the base answers"
    );
    s.rules().create_repository(repo);
    s.open_upload(repo);
    assert_eq!(
        s.send("GET", &format!("/v2/{repo}/manifests/config"), &[], &[])
            .status,
        404
    );
    let other = s.send("POST", "/v2/team/other/blobs/uploads/", &[], &[]);
    assert_eq!(other.status, 404, "only the created repository");
}

#[test]
fn ecr_bounds_every_part_and_checks_small_parts_at_the_closing_put() {
    let s = Setup::new(Ecr::new());
    let repo = "parts";
    s.rules().create_repository(repo);
    let max = 20_971_520;
    let mib = 1 << 20;

    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{max}"))],
        &vec![1u8; max + 1],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        error_of(&r),
        (
            "BLOB_UPLOAD_INVALID".into(),
            "layer part size exceeds the maximum of 20971520 bytes".into(),
            String::new()
        )
    );
    let whole = vec![2u8; max];
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", max - 1))],
        &whole,
    );
    assert_eq!(r.status, 202, "20,971,520 bytes exactly: {}", text(&r));
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&whole)),
    );
    assert_eq!(s.send("PUT", &put, &[], &[]).status, 201);

    // Two parts of 1 MiB then the close: the first is under 5 MiB.
    let data: Vec<u8> = (0..2 * mib).map(|i| i as u8).collect();
    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", mib - 1))],
        &data[..mib],
    );
    assert_eq!(r.status, 202);
    let next = path_of(r.header("location").unwrap());
    let r = s.send(
        "PATCH",
        &next,
        &[("Content-Range", &format!("{mib}-{}", 2 * mib - 1))],
        &data[mib..],
    );
    assert_eq!(r.status, 202);
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&data)),
    );
    let r = s.send("PUT", &put, &[], &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        error_of(&r).1,
        "LayerPartTooSmallException: All layer parts except the last part should be at least 5MB"
    );
    assert_eq!(
        s.behind("HEAD", &format!("/v2/{repo}/blobs/{}", digest(&data))),
        404
    );

    // 5 MiB then 1 MiB: every part but the last is large enough.
    let data: Vec<u8> = (0..6 * mib).map(|i| (i / 7) as u8).collect();
    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", 5 * mib - 1))],
        &data[..5 * mib],
    );
    assert_eq!(r.status, 202);
    let next = path_of(r.header("location").unwrap());
    let r = s.send(
        "PATCH",
        &next,
        &[("Content-Range", &format!("{}-{}", 5 * mib, 6 * mib - 1))],
        &data[5 * mib..],
    );
    assert_eq!(r.status, 202);
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&data)),
    );
    assert_eq!(s.send("PUT", &put, &[], &[]).status, 201);
}

#[test]
fn ecr_takes_10_manifest_puts_a_second() {
    let s = Setup::new(Ecr::new());
    let repo = "burst";
    s.rules().create_repository(repo);
    seed_manifest_blobs(&s.registry, repo, &[b"m"]);
    let body = manifest(EMPTY, None, &[(OCTET, b"m")]);
    let started = Instant::now();
    let statuses: Vec<u16> = (0..14)
        .map(|i| put_manifest(&s, repo, &format!("burst{i}"), &body).status)
        .collect();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "14 PUTs took {took:?}: too slow to test a second's limit"
    );
    assert_eq!(statuses[..10], [201; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 4], "{statuses:?}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        put_manifest(&s, repo, "later", &body).status,
        201,
        "the next second"
    );
}

#[test]
fn ecr_refuses_n_over_1000_and_pages_unsorted_with_an_opaque_last() {
    let s = Setup::new(Ecr::new());
    let repo = "listing";
    s.rules().create_repository(repo);
    let tags = seed_tags(&s.registry, repo, 250);
    let r = s.send("GET", &format!("/v2/{repo}/tags/list?n=1001"), &[], &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        s.send("GET", &format!("/v2/{repo}/tags/list?n=1000"), &[], &[])
            .status,
        200
    );
    let pages = walk_tags(&s, &format!("/v2/{repo}/tags/list"));
    assert_eq!(sizes(&pages), [100, 100, 50]);
    assert_eq!(all_of(&pages), tags, "every tag once");
    let mut first = pages[0].0.clone();
    first.sort();
    assert_ne!(first, pages[0].0, "not in lexical order");
    let link = pages[0].1.clone().unwrap();
    let last = link
        .split("last=")
        .nth(1)
        .unwrap()
        .split(['&', '>'])
        .next()
        .unwrap();
    assert!(
        !tags.iter().any(|t| t == last),
        "`last` is opaque, not a tag: {last}"
    );
    assert_eq!(
        sizes(&walk_tags(&s, &format!("/v2/{repo}/tags/list?n=1000"))),
        [250]
    );
}

#[test]
fn ecr_with_its_patch_bug_answers_201_and_keeps_the_range_at_the_first_chunk() {
    let s = Setup::new(Ecr::with_patch_bug());
    let repo = "bug";
    s.rules().create_repository(repo);
    let part = 5 << 20;
    let data: Vec<u8> = (0..2 * part).map(|i| (i % 251) as u8).collect();
    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", part - 1))],
        &data[..part],
    );
    assert_eq!(r.status, 201, "an intermediate PATCH answered 201");
    let range = format!("0-{}", part - 1);
    assert_eq!(r.header("range"), Some(range.as_str()));
    let next = path_of(r.header("location").unwrap());
    let r = s.send(
        "PATCH",
        &next,
        &[("Content-Range", &format!("{part}-{}", 2 * part - 1))],
        &data[part..],
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("range"),
        Some(range.as_str()),
        "the Range does not advance"
    );
    // The bytes are stored all the same (the reporter's correction in
    // #2831): the registry behind holds both parts, and the close, which
    // checks the digest, takes them.
    let status = s
        .registry
        .send("GET", &path_of(r.header("location").unwrap()), &[], &[]);
    let whole = format!("0-{}", 2 * part - 1);
    assert_eq!(
        status.header("range"),
        Some(whole.as_str()),
        "the second body reached the registry"
    );
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&data)),
    );
    let r = s.send("PUT", &put, &[], &[]);
    assert_eq!(r.status, 201, "the close takes the bytes: {}", text(&r));
    assert_eq!(
        s.behind("HEAD", &format!("/v2/{repo}/blobs/{}", digest(&data))),
        200
    );

    // One streamed PATCH is the first of its session: it passes.
    let one = vec![9u8; 3 << 20];
    let session = s.open_upload(repo);
    let r = s.send("PATCH", &session, &[], &one);
    assert_eq!(r.status, 201);
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&one)),
    );
    assert_eq!(s.send("PUT", &put, &[], &[]).status, 201);
}

// ----------------------------------------------------- Artifact Registry

#[test]
fn artifact_registry_refuses_deleting_a_tagged_manifest_by_digest_and_untags_by_tag() {
    let s = Setup::on(Implementation::Distribution3, ArtifactRegistry::new());
    let repo = "project/store";
    seed_manifest_blobs(&s.registry, repo, &[b"a"]);
    let body = manifest(EMPTY, Some("application/vnd.example"), &[(OCTET, b"a")]);
    let d = digest(&body);
    // "b" made in the registry before the proxy saw anything, "a" through it.
    let r = s.registry.send(
        "PUT",
        &format!("/v2/{repo}/manifests/b"),
        &[("Content-Type", MANIFEST)],
        &body,
    );
    assert_eq!(r.status, 201);
    let by_digest = format!("/v2/{repo}/manifests/{d}");
    let r = s.send("DELETE", &by_digest, &[], &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        error_of(&r),
        (
            "GOOGLE_MANIFEST_DANGLING_TAG".into(),
            "Manifest is still referenced by tag: b".into(),
            String::new()
        )
    );
    assert_eq!(put_manifest(&s, repo, "a", &body).status, 201);
    let r = s.send("DELETE", &format!("/v2/{repo}/manifests/b"), &[], &[]);
    assert_eq!(r.status, 202, "DELETE by tag untags: {}", text(&r));
    assert_eq!(s.behind("GET", &format!("/v2/{repo}/manifests/b")), 404);
    let r = s.send("DELETE", &by_digest, &[], &[]);
    assert_eq!(
        error_of(&r).1,
        "Manifest is still referenced by tag: a",
        "a tag made through the proxy"
    );
    assert_eq!(s.behind("GET", &by_digest), 200, "the manifest stays");
    assert_eq!(
        s.send("DELETE", &format!("/v2/{repo}/manifests/a"), &[], &[])
            .status,
        202
    );
    assert_eq!(
        s.send("DELETE", &by_digest, &[], &[]).status,
        202,
        "untagged: deleted by digest"
    );
    assert_eq!(s.behind("GET", &by_digest), 404);
}

#[test]
fn artifact_registry_refuses_chunked_patches_and_takes_one_streamed() {
    let s = Setup::on(Implementation::Distribution3, ArtifactRegistry::new());
    let repo = "project/chunks";
    let data = vec![7u8; 1 << 20];
    let session = s.open_upload(repo);
    let r = s.send(
        "PATCH",
        &session,
        &[("Content-Range", &format!("0-{}", data.len() - 1))],
        &data,
    );
    assert_eq!(r.status, 405, "a chunk is refused: {}", text(&r));
    assert_eq!(error_of(&r).0, "UNSUPPORTED");
    // One PATCH without Content-Range (docker push's), then the close.
    let session = s.open_upload(repo);
    let r = s.send("PATCH", &session, &[], &data);
    assert_eq!(r.status, 202, "a streamed PATCH passes: {}", text(&r));
    let put = with_query(
        &path_of(r.header("location").unwrap()),
        &format!("digest={}", digest(&data)),
    );
    assert_eq!(s.send("PUT", &put, &[], &[]).status, 201);
}

// ------------------------------------------------------------ Docker Hub

#[test]
fn docker_hub_counts_manifest_gets_against_its_budget_and_heads_are_free() {
    let s = Setup::new(DockerHub::with_budget(3));
    let repo = "library/store";
    seed_manifest_blobs(&s.registry, repo, &[b"h"]);
    let body = manifest(EMPTY, None, &[(OCTET, b"h")]);
    assert_eq!(put_manifest(&s, repo, "packfile-1", &body).status, 201);
    let path = format!("/v2/{repo}/manifests/packfile-1");
    for _ in 0..5 {
        let r = s.send("HEAD", &path, &[], &[]);
        assert_eq!(r.status, 200, "HEAD is free");
        assert_eq!(r.header("ratelimit-remaining"), None);
    }
    for left in [2, 1, 0] {
        let r = s.send("GET", &path, &[], &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-limit"), Some("3;w=21600"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(format!("{left};w=21600").as_str())
        );
    }
    let r = s.send("GET", &format!("/v2/{repo}/manifests/config"), &[], &[]);
    assert_eq!(r.status, 429, "past the budget");
    assert_eq!(error_of(&r).0, "TOOMANYREQUESTS");
    assert_eq!(r.header("ratelimit-remaining"), Some("0;w=21600"));
    assert_eq!(
        s.send("HEAD", &path, &[], &[]).status,
        200,
        "HEAD still free"
    );
    assert_eq!(
        s.send(
            "GET",
            &format!("/v2/{repo}/blobs/{}", digest(b"h")),
            &[],
            &[]
        )
        .status,
        200,
        "blobs are not pulls"
    );
    assert_eq!(s.rules().manifest_gets(), 4);
    assert_eq!(s.rules().manifest_gets_of("packfile-"), 3);
    assert_eq!(
        s.rules().manifest_get_log().last(),
        Some(&("config".to_string(), false))
    );
}

#[test]
fn docker_hub_pages_tags_by_100_with_link() {
    let s = Setup::new(DockerHub::new());
    let repo = "library/tags";
    let tags = seed_tags(&s.registry, repo, 201);
    let pages = walk_tags(&s, &format!("/v2/{repo}/tags/list?n=1000"));
    assert_eq!(sizes(&pages), [100, 100, 1]);
    assert_eq!(all_of(&pages), tags);
}

// ------------------------------------------------------------------ Quay

#[test]
fn quay_allows_config_and_layer_types_from_its_default_table_only() {
    let s = Setup::new(Quay::new());
    let repo = "org/store";
    seed_manifest_blobs(&s.registry, repo, &[b"q"]);
    let refused = [
        (
            "empty config",
            manifest(EMPTY, Some("application/vnd.example"), &[(OCTET, b"q")]),
        ),
        (
            "empty config, no artifactType",
            manifest(EMPTY, None, &[(OCTET, b"q")]),
        ),
        (
            "unknown artifactType",
            manifest(
                IMAGE_CONFIG,
                Some("application/vnd.plakar.kloset.v1.lock"),
                &[(TAR_GZIP, b"q")],
            ),
        ),
        (
            "layer not with that config",
            manifest(
                "application/vnd.cncf.helm.config.v1+json",
                None,
                &[(OCTET, b"q")],
            ),
        ),
        (
            "octet-stream with the image config",
            manifest(IMAGE_CONFIG, None, &[(OCTET, b"q")]),
        ),
    ];
    for (what, body) in refused {
        let r = put_manifest(&s, repo, "refused", &body);
        assert_eq!(r.status, 400, "{what}");
        let (code, message, _) = error_of(&r);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("MANIFEST_INVALID", "manifest invalid"),
            "{what}"
        );
    }
    assert_eq!(
        s.behind("GET", &format!("/v2/{repo}/manifests/refused")),
        404
    );
    let allowed = [
        (
            "an image",
            manifest(IMAGE_CONFIG, None, &[(TAR_GZIP, b"q")]),
        ),
        (
            "an SBOM",
            manifest(
                IMAGE_CONFIG,
                Some("application/vnd.in-toto+json"),
                &[("application/vnd.in-toto+json", b"q")],
            ),
        ),
        (
            "a Helm chart",
            manifest(
                "application/vnd.cncf.helm.config.v1+json",
                None,
                &[("application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"q")],
            ),
        ),
    ];
    for (what, body) in allowed {
        let r = put_manifest(&s, repo, "allowed", &body);
        assert_eq!(r.status, 201, "{what}: {}", text(&r));
    }
    assert_eq!(
        s.behind("GET", &format!("/v2/{repo}/manifests/allowed")),
        200
    );
}

#[test]
fn quay_pages_tags_by_50_with_an_opaque_token() {
    let s = Setup::new(Quay::new());
    let repo = "org/tags";
    let tags = seed_tags(&s.registry, repo, 120);
    let pages = walk_tags(&s, &format!("/v2/{repo}/tags/list?n=1000"));
    assert_eq!(sizes(&pages), [50, 50, 20]);
    assert_eq!(all_of(&pages), tags);
    let link = pages[0].1.clone().unwrap();
    let token = link
        .split("next_page=")
        .nth(1)
        .unwrap()
        .split(['&', '>'])
        .next()
        .unwrap();
    assert!(
        !tags.iter().any(|t| t == token),
        "the token is not a tag: {token}"
    );
}

// ---------------------------------------------------------------- Harbor

#[test]
fn harbor_answers_401_project_not_found_until_the_project_exists() {
    let s = Setup::new(Harbor::new());
    let repo = "backups/store";
    for (method, path) in [
        ("GET", format!("/v2/{repo}/tags/list")),
        ("POST", format!("/v2/{repo}/blobs/uploads/")),
        ("GET", format!("/v2/{repo}/manifests/config")),
    ] {
        let r = s.send(method, &path, &[], &[]);
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(
            error_of(&r),
            (
                "UNAUTHORIZED".into(),
                "project backups not found".into(),
                String::new()
            )
        );
        assert_eq!(r.header("www-authenticate"), Some(""), "an empty challenge");
    }
    let head = s.send("HEAD", &format!("/v2/{repo}/manifests/config"), &[], &[]);
    assert_eq!(head.status, 401);
    assert!(
        head.body.is_empty(),
        "a HEAD carries no body to name the project"
    );
    assert_eq!(s.send("GET", "/v2/", &[], &[]).status, 200);
    s.rules().create_project("backups");
    s.open_upload(repo);
    s.open_upload("backups/another");
    assert_eq!(
        s.send("POST", "/v2/other/store/blobs/uploads/", &[], &[])
            .status,
        401
    );
}

// ------------------------------------------------------------------- ACR

#[test]
fn acr_limits_writes_a_minute_with_retry_after_and_leaves_reads_alone() {
    assert_eq!(Acr::new().writes_per_minute, 100, "Basic by default");
    let s = Setup::new(Acr::with_writes_per_minute(5));
    let repo = "store";
    for _ in 0..5 {
        s.open_upload(repo);
    }
    let r = s.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[]);
    assert_eq!(r.status, 429);
    assert_eq!(error_of(&r).0, "TOOMANYREQUESTS");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        s.send("GET", &format!("/v2/{repo}/tags/list"), &[], &[])
            .status,
        404,
        "reads are not limited"
    );
    assert_eq!(s.rules().refused(), 1);
}
