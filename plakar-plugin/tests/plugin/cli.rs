//! The real plakar CLI backing up through our plugin, installed from our
//! package, against real registries: what a user does, checked by effects
//! (restores compared byte for byte, `check`, listings), never by exit
//! codes alone. Every test runs in a loopback-only network namespace.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kloset_host::{Resource, StoreHandle};

use crate::support::package::WithPackage;
use kloset_testkit::component::plugin;
use kloset_testkit::isolated_test;
use kloset_testkit::plakar::{Plakar, Run, PASSPHRASE};
use kloset_testkit::tls::TestPki;
use kloset_testkit::tree::{self, TreeSpec};
use kloset_testkit::{unique_repo, Registry, RegistryAuth, RegistryOptions, TokenAuth, TokenUser};

/// A repository a test works on: where plakar finds it (a location, or
/// `@name` of a store added with options) and the same store for our own
/// host, to look at what is stored.
pub(crate) struct Repo {
    pub(crate) at: String,
    pub(crate) config: Vec<(String, String)>,
}

impl Repo {
    pub(crate) fn packfiles(&self) -> usize {
        let store =
            StoreHandle::new(plugin(), &self.config).expect("a store on the test repository");
        store
            .list(Resource::Packfile)
            .expect("listing packfiles")
            .len()
    }
}

/// A plain repository: plakar given just its location.
pub(crate) fn plain_repo(registry: &Registry, repo: &str) -> Repo {
    Repo {
        at: registry.location(repo),
        config: registry.config(repo),
    }
}

/// A repository with options: `plakar store add NAME LOCATION key=value...`.
fn added_repo(
    plakar: &Plakar,
    name: &str,
    registry: &Registry,
    repo: &str,
    options: &[(&str, &str)],
) -> Repo {
    let location = registry.location(repo);
    let mut args = vec![
        "store".to_string(),
        "add".into(),
        name.into(),
        location.clone(),
    ];
    args.extend(options.iter().map(|(k, v)| format!("{k}={v}")));
    plakar.ok(&args);
    let mut config = vec![("location".to_string(), location)];
    config.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Repo {
        at: format!("@{name}"),
        config,
    }
}

pub(crate) fn assert_says(run: &Run, words: &[&str]) {
    let text = run.text().to_lowercase();
    assert!(
        words.iter().any(|w| text.contains(&w.to_lowercase())),
        "expected one of {words:?} in plakar's output (exit {:?}):\n{}",
        run.code,
        run.text()
    );
}

pub(crate) fn restore_and_compare(
    plakar: &Plakar,
    repo: &Repo,
    id: &str,
    original: &Path,
    scratch: &Path,
) {
    let out = scratch.join(format!("restore-{id}-{}", rand::random::<u32>()));
    plakar.at_ok(&repo.at, &["restore", "-to", out.to_str().unwrap(), id]);
    tree::assert_same_tree(original, &out);
    std::fs::remove_dir_all(&out).expect("removing a restore");
}

/// The whole life of a repository: create (twice), backup, ls, restore,
/// check, an incremental backup, removing the first snapshot and running
/// maintenance, then check and restore again.
pub(crate) fn lifecycle(plakar: &Plakar, repo: &Repo, spec: TreeSpec, deletes: bool) {
    let scratch = tempfile::tempdir().expect("scratch");
    let source = scratch.path().join("source");
    tree::generate(&source, spec);

    plakar.at_ok(&repo.at, &["create"]);
    let again = plakar.at(&repo.at, &["create"]);
    assert!(!again.ok, "a second create succeeded:\n{}", again.text());
    assert_says(&again, &["already exists"]);

    plakar.at_ok(&repo.at, &["backup", source.to_str().unwrap()]);
    let first = plakar.snapshot_ids(&repo.at);
    assert_eq!(first.len(), 1, "one snapshot after one backup: {first:?}");
    restore_and_compare(plakar, repo, &first[0], &source, scratch.path());
    plakar.at_ok(&repo.at, &["check"]);

    // The first backup, kept aside to compare with after the changes.
    let before = scratch.path().join("before");
    copy_tree(&source, &before);
    tree::mutate(&source, 99);
    plakar.at_ok(&repo.at, &["backup", source.to_str().unwrap()]);
    let both = plakar.snapshot_ids(&repo.at);
    assert_eq!(both.len(), 2, "two snapshots: {both:?}");
    let second = both
        .iter()
        .find(|id| **id != first[0])
        .expect("the new snapshot")
        .clone();
    restore_and_compare(plakar, repo, &second, &source, scratch.path());
    restore_and_compare(plakar, repo, &first[0], &before, scratch.path());

    // A third snapshot of other data, whose packfiles hold nothing the
    // second one uses: once it and the first are removed, maintenance has
    // whole packfiles to delete (a 5% change alone rarely frees one, as
    // plakar packs chunks of many files together).
    let other = scratch.path().join("other");
    tree::generate(
        &other,
        TreeSpec {
            seed: spec.seed + 1000,
            ..TreeSpec::SMALL
        },
    );
    plakar.at_ok(&repo.at, &["backup", other.to_str().unwrap()]);
    let third: Vec<String> = plakar
        .snapshot_ids(&repo.at)
        .into_iter()
        .filter(|id| *id != first[0] && *id != second)
        .collect();
    assert_eq!(third.len(), 1, "{third:?}");
    let packfiles_before = repo.packfiles();
    plakar.at_ok(&repo.at, &["rm", "-apply", &first[0]]);
    plakar.at_ok(&repo.at, &["rm", "-apply", &third[0]]);
    assert_eq!(plakar.snapshot_ids(&repo.at), vec![second.clone()]);
    maintenance(plakar, repo);
    let packfiles_after = repo.packfiles();
    assert!(
        packfiles_after < packfiles_before,
        "maintenance deleted no packfile ({packfiles_before} before, {packfiles_after} after; deletes {})",
        if deletes { "enabled" } else { "disabled" }
    );
    plakar.at_ok(&repo.at, &["check"]);
    restore_and_compare(plakar, repo, &second, &source, scratch.path());
}

/// Two maintenance runs with no grace period: the first marks unreferenced
/// packfiles, the second deletes them. Lockless: plakar v1.1.4 deletes a
/// command's lock in a goroutine that often loses the race with the
/// process's exit, so the lock of the `rm` or of the first maintenance is
/// still there for the next ten minutes and the exclusive lock is refused
/// ("repository is already locked"). Its own fs store does the same
/// (checked here); locking itself is exercised by `two_backups_at_once`.
pub(crate) fn maintenance(plakar: &Plakar, repo: &Repo) {
    for _ in 0..2 {
        let mut command = plakar.command();
        command
            .env("PLAKAR_GRACEPERIOD", "0s")
            .env("PLAKAR_LOCKLESS", "true")
            .args(["at", &repo.at, "maintenance"]);
        let output = command.output().expect("plakar maintenance runs");
        assert!(
            output.status.success(),
            "maintenance failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

isolated_test! {
    /// The README's commands as they are: a plain-HTTP registry on
    /// localhost:5000, no options.
    fn the_readme_commands_back_up_and_restore_exactly() {
        let registry = Registry::start(RegistryOptions {
            port: Some(5000),
            ..RegistryOptions::default()
        });
        let plakar = Plakar::with_package();
        let repo = Repo {
            at: "oci://localhost:5000/my-org/plakar-store".into(),
            config: vec![("location".into(), "oci://localhost:5000/my-org/plakar-store".into())],
        };
        lifecycle(&plakar, &repo, TreeSpec::FULL, true);
        drop(registry);
    }
}

isolated_test! {
    /// Deletes disabled, as on GHCR or a registry with immutable
    /// manifests: removal works through tombstones, and reads stay exact.
    fn a_registry_without_deletes_keeps_everything_exact() {
        let registry = Registry::start(RegistryOptions {
            delete_enabled: false,
            ..RegistryOptions::default()
        });
        let plakar = Plakar::with_package();
        let repo = plain_repo(&registry, &unique_repo("no-deletes"));
        lifecycle(&plakar, &repo, TreeSpec::FULL, false);
    }
}

isolated_test! {
    /// htpasswd over TLS with the test CA, the options given through
    /// `plakar store add`.
    fn htpasswd_over_tls_with_options_from_store_add() {
        let pki = TestPki::new();
        let registry = Registry::start(RegistryOptions {
            tls: Some(pki.server_files()),
            auth: RegistryAuth::htpasswd(&[("alice", "alice-secret")]),
            ..RegistryOptions::default()
        });
        let plakar = Plakar::with_package();
        let ca = pki.ca_pem().to_str().unwrap().to_string();
        let repo = added_repo(
            &plakar,
            "tls",
            &registry,
            &unique_repo("tls"),
            &[("tls_ca_file", &ca), ("username", "alice"), ("password", "alice-secret")],
        );
        lifecycle(&plakar, &repo, TreeSpec::FULL, true);
    }
}

isolated_test! {
    /// Token authentication: credentials from OCI_REGISTRY_* in plakar's
    /// environment, which the plugin inherits.
    fn token_auth_with_credentials_from_the_environment() {
        let user = TokenUser::new("bob", "bob-secret", &["pull", "push", "delete"]);
        let registry = Registry::start(RegistryOptions {
            auth: RegistryAuth::Token(TokenAuth::with_users(vec![user])),
            ..RegistryOptions::default()
        });
        let plakar = Plakar::with_package()
            .env("OCI_REGISTRY_USERNAME", "bob")
            .env("OCI_REGISTRY_PASSWORD", "bob-secret");
        let mut repo = plain_repo(&registry, &unique_repo("token"));
        repo.config.push(("username".into(), "bob".into()));
        repo.config.push(("password".into(), "bob-secret".into()));
        lifecycle(&plakar, &repo, TreeSpec::MEDIUM, true);
    }
}

isolated_test! {
    /// `sync` from our store to a plakar `fs` store and back into a second
    /// oci repository: every copy checks clean and restores exactly.
    fn sync_to_an_fs_store_and_back() {
        let registry = Registry::start(RegistryOptions::default());
        let plakar = Plakar::with_package();
        let scratch = tempfile::tempdir().unwrap();
        let source = scratch.path().join("source");
        tree::generate(&source, TreeSpec::SMALL);

        let first = added_repo(&plakar, "first", &registry, &unique_repo("sync-a"), &[("passphrase", PASSPHRASE)]);
        let second = added_repo(&plakar, "second", &registry, &unique_repo("sync-b"), &[("passphrase", PASSPHRASE)]);
        let fs_path = scratch.path().join("fs-store");
        plakar.ok(["store", "add", "local", &format!("fs://{}", fs_path.display()), &format!("passphrase={PASSPHRASE}")]);
        plakar.at_ok(&first.at, &["create"]);
        plakar.at_ok(&first.at, &["backup", source.to_str().unwrap()]);
        plakar.at_ok("@local", &["create"]);
        plakar.at_ok(&first.at, &["sync", "to", "@local"]);
        plakar.at_ok("@local", &["check"]);
        plakar.at_ok(&second.at, &["create"]);
        plakar.at_ok("@local", &["sync", "to", "@second"]);
        plakar.at_ok(&second.at, &["check"]);
        let ids = plakar.snapshot_ids(&second.at);
        assert_eq!(ids.len(), 1, "{ids:?}");
        restore_and_compare(&plakar, &second, &ids[0], &source, scratch.path());
    }
}

isolated_test! {
    /// Two backups into one repository at once: Kloset's locks go through
    /// list, get and delete. Both succeed, or one is refused cleanly;
    /// `check` is clean and every snapshot made restores exactly.
    fn two_backups_at_once() {
        let registry = Registry::start(RegistryOptions::default());
        let plakar = Plakar::with_package();
        let repo = plain_repo(&registry, &unique_repo("concurrent"));
        let scratch = tempfile::tempdir().unwrap();
        let a = scratch.path().join("a");
        let b = scratch.path().join("b");
        tree::generate(&a, TreeSpec::SMALL);
        tree::generate(&b, TreeSpec { seed: 77, ..TreeSpec::SMALL });
        plakar.at_ok(&repo.at, &["create"]);
        let spawn = |dir: &Path| {
            let mut command = plakar.command();
            command.args(["at", &repo.at, "backup", dir.to_str().unwrap()]);
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            command.spawn().expect("plakar backup starts")
        };
        let (first, second) = (spawn(&a), spawn(&b));
        let first = first.wait_with_output().unwrap();
        let second = second.wait_with_output().unwrap();
        let succeeded = [first.status.success(), second.status.success()];
        assert!(succeeded.iter().any(|ok| *ok), "both concurrent backups failed");
        for (output, ok) in [(&first, succeeded[0]), (&second, succeeded[1])] {
            if !ok {
                let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
                assert!(text.to_lowercase().contains("lock"), "a refused backup must say why:\n{text}");
            }
        }
        plakar.at_ok(&repo.at, &["check"]);
        let ids = plakar.snapshot_ids(&repo.at);
        assert_eq!(ids.len(), succeeded.iter().filter(|ok| **ok).count(), "{ids:?}");
        for id in &ids {
            let out = scratch.path().join(format!("r-{id}"));
            plakar.at_ok(&repo.at, &["restore", "-to", out.to_str().unwrap(), id]);
            let a_matches = tree::list(&a) == tree::list(&out);
            let b_matches = tree::list(&b) == tree::list(&out);
            assert!(a_matches || b_matches, "snapshot {id} restores to neither source");
        }
    }
}

isolated_test! {
    /// plakar killed (SIGKILL, with its background agent) in the middle of
    /// a backup: the next backup and `check` succeed and the earlier
    /// snapshot still restores exactly.
    fn a_backup_killed_midway_loses_nothing() {
        let registry = Registry::start(RegistryOptions::default());
        let plakar = Plakar::with_package();
        let repo = plain_repo(&registry, &unique_repo("killed"));
        let scratch = tempfile::tempdir().unwrap();
        let small = scratch.path().join("small");
        tree::generate(&small, TreeSpec::SMALL);
        plakar.at_ok(&repo.at, &["create"]);
        plakar.at_ok(&repo.at, &["backup", small.to_str().unwrap()]);
        let kept = plakar.snapshot_ids(&repo.at);

        let big = scratch.path().join("big");
        tree::generate(&big, TreeSpec::MEDIUM);
        let mut command = plakar.command();
        command.args(["at", &repo.at, "backup", big.to_str().unwrap()]);
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = command.spawn().expect("plakar backup starts");
        // Wait until the backup has stored something, then kill it all.
        let started = Instant::now();
        let before = repo.packfiles();
        while repo.packfiles() == before && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        let home = plakar.home().to_str().unwrap().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-f", &home]).status();
        std::thread::sleep(Duration::from_millis(500));

        plakar.at_ok(&repo.at, &["backup", big.to_str().unwrap()]);
        plakar.at_ok(&repo.at, &["check"]);
        let ids = plakar.snapshot_ids(&repo.at);
        assert!(ids.contains(&kept[0]), "the earlier snapshot is gone: {ids:?}");
        assert_eq!(ids.len(), 2, "{ids:?}");
        restore_and_compare(&plakar, &repo, &kept[0], &small, scratch.path());
        let newest = ids.iter().find(|id| **id != kept[0]).unwrap();
        restore_and_compare(&plakar, &repo, newest, &big, scratch.path());
    }
}

isolated_test! {
    /// A wrong password, a registry that is down, a repository that does
    /// not exist: plakar exits non-zero with a line naming the problem.
    fn failures_are_named() {
        let registry = Registry::start(RegistryOptions {
            auth: RegistryAuth::htpasswd(&[("alice", "right-secret")]),
            ..RegistryOptions::default()
        });
        let plakar = Plakar::with_package();
        let good = added_repo(&plakar, "good", &registry, &unique_repo("named"), &[("username", "alice"), ("password", "right-secret")]);
        plakar.at_ok(&good.at, &["create"]);

        let wrong = added_repo(&plakar, "wrong", &registry, &unique_repo("named"), &[("username", "alice"), ("password", "wrong-secret")]);
        let run = plakar.at(&wrong.at, &["ls"]);
        assert!(!run.ok, "ls with a wrong password succeeded:\n{}", run.text());
        assert_says(&run, &["unauthorized"]);
        assert!(!run.text().contains("wrong-secret"), "the password was echoed:\n{}", run.text());

        let missing = added_repo(&plakar, "missing", &registry, &unique_repo("never-created"), &[("username", "alice"), ("password", "right-secret")]);
        let run = plakar.at(&missing.at, &["ls"]);
        assert!(!run.ok, "ls of a repository never created succeeded:\n{}", run.text());
        assert_says(&run, &["not found"]);

        let port = registry.authority().rsplit_once(':').unwrap().1.to_string();
        drop(registry);
        let run = plakar.at(&format!("oci://127.0.0.1:{port}/gone"), &["ls"]);
        assert!(!run.ok, "ls against a registry that is down succeeded:\n{}", run.text());
        assert_says(&run, &["connection refused", "cannot connect", "transport"]);
    }
}
