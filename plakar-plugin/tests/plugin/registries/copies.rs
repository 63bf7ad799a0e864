//! A repository plakar filled, copied whole to another registry with each
//! standard tool the way its documentation copies a repository; then a
//! plakar with a fresh home (nothing cached) lists, checks and restores from
//! the copy, byte for byte. Half of the sources allow DELETE and half do
//! not, so tombstones and their markers travel too: the removed snapshot
//! stays removed in the copy and `check` passes there.

use std::time::Instant;

use super::fill::PlakarFill;
use super::{v3, MAX_TAGS};
use crate::support::package::WithPackage;
use kloset_testkit::artifacts;
use kloset_testkit::clients::{Client, Tool};
use kloset_testkit::isolated_test;
use kloset_testkit::plakar::Plakar;

fn a_copy_restores_and_checks_exactly(tool: Tool, source_deletes: bool) {
    let source = v3(source_deletes);
    let target = v3(true);
    let started = Instant::now();
    let fill = PlakarFill::new(&Plakar::with_package(), &source);
    eprintln!(
        "plakar fill (deletes {source_deletes}): {:?}, {} packfiles collected",
        started.elapsed(),
        fill.packfiles_deleted
    );
    // The tags as the registry lists them, read straight from it: what
    // every copy must hold, no more, no less. More than a page of them, so
    // the plugin's own listings (`n=1000`) paged through `Link` while plakar
    // wrote and read. oras copies one reference at a time: these.
    let (tags, _) = source.tags(&fill.repo, &[]);
    assert!(
        tags.len() > MAX_TAGS as usize,
        "{} tags: more than a page of {MAX_TAGS}",
        tags.len()
    );
    assert_eq!(
        !source_deletes,
        tags.iter().any(|t| t.ends_with(".d")),
        "tombstone markers exactly when the source refuses DELETE: {tags:?}"
    );

    let client = Client::new(tool);
    every_tag_reads_as_an_artifact_through(&client, &source.authority(), &fill.repo, &tags);

    let copied = client.copy_whole(&source, &fill.repo, &target, &tags);
    let (mut copied_tags, _) = target.tags(&copied, &[]);
    let mut want = tags.clone();
    copied_tags.sort();
    want.sort();
    assert_eq!(
        copied_tags,
        want,
        "{}: every tag, nothing else",
        tool.name()
    );

    let started = Instant::now();
    fill.assert_restores_exactly(
        &Plakar::with_package(),
        &target.location(&copied),
        &format!("the {} copy", tool.name()),
    );
    eprintln!(
        "{}: ls, check and two restores from the copy in {:?}",
        tool.name(),
        started.elapsed()
    );
}

/// What plakar wrote, as `client` sees it: it lists exactly `tags` (paging
/// through `Link` where the tool asks `n`), every manifest it fetches is an
/// OCI 1.1 artifact of the store's layout, and every layer it pulls has the
/// bytes its digest names.
fn every_tag_reads_as_an_artifact_through(
    client: &Client,
    host: &str,
    repo: &str,
    tags: &[String],
) {
    let mut listed = client.list_tags(host, repo);
    let mut want = tags.to_vec();
    listed.sort();
    want.sort();
    assert_eq!(listed, want, "{} lists every tag", client.tool.name());
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let out = scratch.path().join("layer");
    let mut layers = 0;
    for tag in tags {
        let raw = client.manifest(host, repo, tag);
        for layer in artifacts::validate(tag, &raw) {
            client.blob(host, repo, tag, &layer.digest, &out);
            let bytes = std::fs::read(&out).expect("the pulled layer");
            assert_eq!(bytes.len() as u64, layer.size, "{tag}: layer size");
            assert_eq!(
                artifacts::digest_of(&bytes),
                layer.digest,
                "{tag}: layer bytes"
            );
            layers += 1;
        }
    }
    eprintln!(
        "{}: {} tags listed, their manifests valid, {layers} layers pulled exact",
        client.tool.name(),
        tags.len()
    );
}

isolated_test! {
    /// `regctl repo copy`, from a registry with DELETE.
    fn regctl_repo_copy_of_a_plakar_repository_restores_and_checks_exactly() {
        a_copy_restores_and_checks_exactly(Tool::Regctl, true);
    }
}

isolated_test! {
    /// `crane copy --all-tags`, from a registry without DELETE.
    fn crane_copy_all_tags_of_a_plakar_repository_restores_and_checks_exactly() {
        a_copy_restores_and_checks_exactly(Tool::Crane, false);
    }
}

isolated_test! {
    /// `skopeo sync --all --preserve-digests`, from a registry with DELETE.
    fn skopeo_sync_of_a_plakar_repository_restores_and_checks_exactly() {
        a_copy_restores_and_checks_exactly(Tool::Skopeo, true);
    }
}

isolated_test! {
    /// `oras cp` of every tag the registry lists, from a registry
    /// without DELETE.
    fn oras_cp_per_tag_of_a_plakar_repository_restores_and_checks_exactly() {
        a_copy_restores_and_checks_exactly(Tool::Oras, false);
    }
}
