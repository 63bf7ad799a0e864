//! A repository filled by the real plakar: the `PlakarFill` beside
//! `tests/store/registries`' `HostFill`. Two snapshots of a small tree of many
//! kinds of file (the second an incremental of a changed copy), and a third
//! one removed with `rm` and collected by `maintenance`, so that the
//! repository also holds deleted objects (tombstones and their markers on a
//! registry without DELETE). What a copy or a mirror must give back is the
//! two trees, byte for byte, and a clean `check`.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::cli::{copy_tree, maintenance, plain_repo, restore_and_compare, Repo};
use kloset_testkit::plakar::Plakar;
use kloset_testkit::tree::{self, TreeSpec};
use kloset_testkit::{unique_repo, Registry};

/// About 4 MiB: 200 small files (text and random), a 3 MiB random file,
/// empty files and folders, names with spaces, symlinks.
pub const SPEC: TreeSpec = TreeSpec::SMALL;

/// A repository plakar filled, and the trees its snapshots must restore to.
pub struct PlakarFill {
    pub repo: String,
    /// Each live snapshot's short id and the tree it was taken of.
    pub snapshots: Vec<(String, PathBuf)>,
    /// The snapshot removed (and collected) before the fill returned.
    pub removed: String,
    /// Packfiles maintenance deleted.
    pub packfiles_deleted: usize,
    scratch: TempDir,
}

impl PlakarFill {
    /// Fills a fresh repository of `registry` with `plakar`.
    pub fn new(plakar: &Plakar, registry: &Registry) -> PlakarFill {
        let scratch = tempfile::tempdir().expect("scratch");
        let repo_name = unique_repo("plakar-fill");
        let repo = plain_repo(registry, &repo_name);
        let first = scratch.path().join("first");
        tree::generate(&first, SPEC);
        plakar.at_ok(&repo.at, &["create"]);
        plakar.at_ok(&repo.at, &["backup", first.to_str().unwrap()]);
        let ids = plakar.snapshot_ids(&repo.at);
        assert_eq!(ids.len(), 1, "{ids:?}");
        let first_id = ids[0].clone();

        let second = scratch.path().join("second");
        copy_tree(&first, &second);
        tree::mutate(&second, 41);
        plakar.at_ok(&repo.at, &["backup", second.to_str().unwrap()]);
        let second_id = new_id(plakar, &repo, &[&first_id]);

        // Other data, in packfiles of its own: removing it leaves whole
        // packfiles for maintenance to delete.
        let third = scratch.path().join("third");
        tree::generate(
            &third,
            TreeSpec {
                seed: 4242,
                ..TreeSpec::SMALL
            },
        );
        plakar.at_ok(&repo.at, &["backup", third.to_str().unwrap()]);
        let third_id = new_id(plakar, &repo, &[&first_id, &second_id]);
        let packfiles_before = repo.packfiles();
        plakar.at_ok(&repo.at, &["rm", "-apply", &third_id]);
        maintenance(plakar, &repo);
        let packfiles_deleted = packfiles_before - repo.packfiles();
        assert!(
            packfiles_deleted > 0,
            "maintenance deleted no packfile of the removed snapshot"
        );
        plakar.at_ok(&repo.at, &["check"]);
        let fill = PlakarFill {
            repo: repo_name,
            snapshots: vec![(first_id, first), (second_id, second)],
            removed: third_id,
            packfiles_deleted,
            scratch,
        };
        fill.assert_restores_exactly(plakar, &repo.at, "the source");
        fill
    }

    /// Through `plakar` (best a fresh home, so nothing comes from its
    /// cache) at `location`: `ls` lists exactly the live snapshots, `check`
    /// passes, every snapshot restores to its tree byte for byte.
    pub fn assert_restores_exactly(&self, plakar: &Plakar, location: &str, what: &str) {
        let mut listed = plakar.snapshot_ids(location);
        listed.sort();
        let mut want: Vec<String> = self.snapshots.iter().map(|(id, _)| id.clone()).collect();
        want.sort();
        assert_eq!(listed, want, "{what}: plakar ls lists the live snapshots");
        assert!(
            !listed.contains(&self.removed),
            "{what}: the removed snapshot stays removed"
        );
        let check = plakar.at(location, &["check"]);
        assert!(
            check.ok,
            "{what}: plakar check exited {:?}:\n{}",
            check.code,
            check.text()
        );
        let repo = Repo {
            at: location.to_string(),
            config: Vec::new(),
        };
        for (id, tree) in &self.snapshots {
            restore_and_compare(plakar, &repo, id, tree, self.scratch.path());
        }
    }
}

/// The one snapshot not in `known`.
fn new_id(plakar: &Plakar, repo: &Repo, known: &[&str]) -> String {
    let fresh: Vec<String> = plakar
        .snapshot_ids(&repo.at)
        .into_iter()
        .filter(|id| !known.contains(&id.as_str()))
        .collect();
    assert_eq!(fresh.len(), 1, "one new snapshot: {fresh:?}");
    fresh[0].clone()
}
