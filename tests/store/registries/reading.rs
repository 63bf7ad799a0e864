//! oras, regctl, crane and skopeo against a repository the store filled on
//! distribution v3 with `tags.maxtags` 7: each lists every tag, fetches every
//! manifest (a valid OCI 1.1 artifact) and pulls every object's layer, whose
//! bytes match its digest and what the store reads.
//!
//! Only crane asks for `n` (1000, clamped to 7: it follows `Link` through
//! every page); oras, regctl and skopeo ask without `n`, and distribution v3
//! then answers every tag at once whatever `maxtags` says. The test asserts
//! each client's requests as the registry logged them.

use crate::registries::repo::{raw_tags, v3, Fill, HostFill};
use kloset_host::Resource;
use kloset_testkit::artifacts::{digest_of, validate};
use kloset_testkit::clients::{Client, Tool};

fn reads_every_tag_manifest_and_layer(tool: Tool) {
    // Deletes off: tombstones and markers are among the tags too.
    let registry = v3(false);
    let filled = HostFill::standard().fill(&registry);
    let host = registry.authority();
    let (mut want, _) = raw_tags(&registry, &filled.repo);
    want.sort();
    assert!(want.len() > 40, "{} tags", want.len());
    let client = Client::new(tool);

    let before = registry.tag_list_requests(&filled.repo).len();
    let mut tags = client.list_tags(&host, &filled.repo);
    let requests = registry.tag_list_requests(&filled.repo)[before..].to_vec();
    tags.sort();
    assert_eq!(tags, want, "{} lists every tag", tool.name());
    if tool == Tool::Crane {
        assert!(
            requests.len() >= want.len().div_ceil(7),
            "crane asks n=1000 and follows Link through pages of 7: {requests:?}"
        );
    } else {
        // Without `n`, v3 answers every tag at once: one request, no page.
        assert!(
            requests.len() == 1 && !requests[0].contains("n="),
            "{} lists with one request without `n`: {requests:?}",
            tool.name()
        );
    }
    eprintln!(
        "{}: {} tag-list requests: {requests:?}",
        tool.name(),
        requests.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut pulled = 0u64;
    for tag in &want {
        let raw = client.manifest(&host, &filled.repo, tag);
        let layers = validate(tag, &raw);
        // Pull the layer of every live object (tombstones and markers hold
        // the empty descriptor only).
        let Some((kind, key)) = live_object(&filled, tag) else {
            continue;
        };
        let seen = filled.expected.objects[&(kind, key)];
        let layer = &layers[0];
        assert_eq!(layer.size, seen.len, "{tag}: layer size");
        assert_eq!(
            layer.digest,
            format!("sha256:{}", hex::encode(seen.sha256)),
            "{tag}: the layer is the object's bytes"
        );
        let out = dir.path().join("blob");
        client.blob(&host, &filled.repo, tag, &layer.digest, &out);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.len() as u64, seen.len, "{tag}: pulled length");
        assert_eq!(
            digest_of(&bytes),
            layer.digest,
            "{tag}: pulled bytes match the digest"
        );
        pulled += bytes.len() as u64;
    }
    assert_eq!(pulled, filled.expected.total_bytes(), "every object pulled");
}

/// The live object a tag names, if it names one.
fn live_object(
    filled: &crate::registries::repo::Filled,
    tag: &str,
) -> Option<(Resource, kloset_host::Mac)> {
    let (kind, mac) = tag.rsplit_once('-')?;
    let kind: Resource = kind.parse().ok()?;
    let mac: kloset_host::Mac = mac.parse().ok()?;
    filled
        .expected
        .objects
        .contains_key(&(kind, mac))
        .then_some((kind, mac))
}

#[test]
fn oras_reads_every_tag_manifest_and_layer() {
    reads_every_tag_manifest_and_layer(Tool::Oras);
}

#[test]
fn regctl_reads_every_tag_manifest_and_layer() {
    reads_every_tag_manifest_and_layer(Tool::Regctl);
}

#[test]
fn crane_reads_every_tag_manifest_and_layer() {
    reads_every_tag_manifest_and_layer(Tool::Crane);
}

#[test]
fn skopeo_reads_every_tag_manifest_and_layer() {
    reads_every_tag_manifest_and_layer(Tool::Skopeo);
}
