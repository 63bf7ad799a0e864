//! The whole plakar life of a repository (`cli::lifecycle`: create, two
//! backups, restores, check, rm, maintenance, check and restore again) on
//! distribution v3 with `tags.maxtags` 7: every listing the plugin makes
//! pages through `Link`, which distribution 2.8 (the rest of the suite)
//! never does. With DELETE allowed and refused.

use super::{v3, MAX_TAGS};
use crate::cli::{lifecycle, plain_repo};
use crate::support::package::WithPackage;
use kloset_testkit::isolated_test;
use kloset_testkit::plakar::Plakar;
use kloset_testkit::tree::TreeSpec;
use kloset_testkit::unique_repo;

fn lifecycle_on_v3(deletes: bool) {
    let registry = v3(deletes);
    let plakar = Plakar::with_package();
    let name = unique_repo("v3-lifecycle");
    let repo = plain_repo(&registry, &name);
    lifecycle(&plakar, &repo, TreeSpec::SMALL, deletes);
    let requests = registry.tag_list_requests(&name);
    let paged = requests.iter().filter(|r| r.contains("last=")).count();
    // The lifecycle also lists through the tests' own store handle: judge
    // the plugin by a listing plakar alone makes.
    let before = requests.len();
    let snapshots = plakar.snapshot_ids(&repo.at);
    assert!(!snapshots.is_empty(), "plakar ls lists the snapshots");
    let by_plakar = registry.tag_list_requests(&name).split_off(before);
    assert!(
        by_plakar.iter().any(|r| r.contains("last=")),
        "plakar's own listing (through the plugin) followed `Link` past the first page of {MAX_TAGS}: {by_plakar:?}"
    );
    eprintln!(
        "deletes {deletes}: {} tag-list requests, {paged} of them later pages",
        requests.len()
    );
}

isolated_test! {
    fn plakar_lifecycle_on_distribution_v3_paging_by_7_with_deletes() {
        lifecycle_on_v3(true);
    }
}

isolated_test! {
    fn plakar_lifecycle_on_distribution_v3_paging_by_7_without_deletes() {
        lifecycle_on_v3(false);
    }
}
