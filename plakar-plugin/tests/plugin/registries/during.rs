//! A copy taken while plakar is backing up: what it holds is an older state
//! of the repository, read cleanly (the snapshots finished before it restore
//! exactly, nothing reads wrong bytes), and copying again over it afterwards
//! catches up with everything.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::v3;
use crate::cli::{plain_repo, restore_and_compare, Repo};
use crate::support::package::WithPackage;
use kloset_testkit::clients::{Client, Tool};
use kloset_testkit::isolated_test;
use kloset_testkit::plakar::Plakar;
use kloset_testkit::tree::{self, TreeSpec};
use kloset_testkit::unique_repo;

/// Copies the whole repository with regctl (the tags listed by oras at
/// this moment), as a user's copy job would.
fn copy(client: &Client, from: &str, repo: &str, to: &str, to_repo: &str) -> usize {
    let tags = Client::new(Tool::Oras).list_tags(from, repo);
    client
        .copy_repository(from, repo, to, to_repo, &tags)
        .unwrap_or_else(|e| panic!("{e}"));
    tags.len()
}

isolated_test! {
    /// regctl copies the repository while `plakar backup` writes to it,
    /// then again after the backup ends.
    fn a_copy_made_during_a_backup_reads_cleanly_and_a_later_copy_catches_up() {
        let source = v3(false);
        let target = v3(true);
        let plakar = Plakar::with_package();
        let repo = plain_repo(&source, &unique_repo("plakar-during"));
        let scratch = tempfile::tempdir().expect("scratch");
        let small = scratch.path().join("small");
        tree::generate(&small, TreeSpec::SMALL);
        plakar.at_ok(&repo.at, &["create"]);
        plakar.at_ok(&repo.at, &["backup", small.to_str().unwrap()]);
        let before = plakar.snapshot_ids(&repo.at);
        assert_eq!(before.len(), 1, "{before:?}");

        // A backup of about 200 MiB, several packfiles: copied from once it
        // has stored its first and while it writes the next ones.
        let big = scratch.path().join("big");
        tree::generate(&big, TreeSpec::FULL);
        let mut command = plakar.command();
        command.args(["at", &repo.at, "backup", big.to_str().unwrap()]);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let mut backup = command.spawn().expect("plakar backup starts");
        let packfiles = repo.packfiles();
        let started = Instant::now();
        while repo.packfiles() == packfiles {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the backup stored no packfile in 120 s"
            );
            assert!(
                backup.try_wait().expect("the backup's status").is_none(),
                "the backup ended before the copy could be made during it"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let regctl = Client::new(Tool::Regctl);
        let copied_repo = unique_repo("plakar-during-copy");
        let (from, to) = (source.authority(), target.authority());
        let mid_tags = copy(&regctl, &from, &repo_name(&repo), &to, &copied_repo);
        // The whole copy happened while the backup ran: it is a copy of a
        // repository being written, not of its final state.
        let still_running = backup.try_wait().expect("the backup's status").is_none();
        assert!(still_running, "the backup ended before the copy did");
        let status = backup.wait().expect("the backup ends");
        assert!(status.success(), "the backup failed: {status:?}");
        eprintln!("copied the repository ({mid_tags} tags listed) while the backup ran");

        // The copy made during the backup: a fresh plakar sees the earlier
        // snapshot, restores it exactly, and `check` passes on what it lists.
        let reader = Plakar::with_package();
        let copy_at = target.location(&copied_repo);
        let listed = reader.snapshot_ids(&copy_at);
        assert!(
            listed.contains(&before[0]),
            "the snapshot finished before the copy is in it: {listed:?}"
        );
        let copy_repo = Repo { at: copy_at.clone(), config: Vec::new() };
        restore_and_compare(&reader, &copy_repo, &before[0], &small, scratch.path());
        if listed.len() == 1 {
            reader.at_ok(&copy_at, &["check"]);
        } else {
            // The copy passed the new snapshot's state: every byte it reads
            // is checked, so it either restores exactly or fails, never
            // yields other bytes.
            let newest = listed.iter().find(|id| **id != before[0]).unwrap();
            let out = scratch.path().join("mid-restore");
            let run = reader.at(&copy_at, &["restore", "-to", out.to_str().unwrap(), newest]);
            if run.ok {
                tree::assert_same_tree(&big, &out);
            } else {
                eprintln!("the half-copied snapshot is refused: {}", run.text());
            }
        }

        // Copying again over the first copy catches up: both snapshots,
        // `check`, exact restores.
        copy(&regctl, &from, &repo_name(&repo), &to, &copied_repo);
        let catcher = Plakar::with_package();
        let mut now = catcher.snapshot_ids(&copy_at);
        let mut want = plakar.snapshot_ids(&repo.at);
        now.sort();
        want.sort();
        assert_eq!(now, want, "the second copy holds every snapshot");
        assert_eq!(now.len(), 2, "{now:?}");
        catcher.at_ok(&copy_at, &["check"]);
        let newest = now.iter().find(|id| **id != before[0]).unwrap().clone();
        restore_and_compare(&catcher, &copy_repo, &before[0], &small, scratch.path());
        restore_and_compare(&catcher, &copy_repo, &newest, &big, scratch.path());
    }
}

/// The repository's name in its registry (`oci://HOST/NAME`).
fn repo_name(repo: &Repo) -> String {
    repo.at
        .strip_prefix("oci://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, name)| name.to_string())
        .expect("an oci:// location")
}
