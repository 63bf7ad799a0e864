//! The real plakar's whole life (`cli::lifecycle`: create, backup,
//! restore, check, an incremental backup, rm, maintenance, check and
//! restore again, every restore compared byte for byte) through each
//! registry personality (`kloset_testkit::personality`: one hosted
//! registry's documented rules in front of a real distribution registry),
//! with default options, as a user of that registry would run it (issue 20).
//! The store contract through every personality is the exerciser's
//! (`exerciser::exerciser_through_*`, no plakar CLI); plakar's whole life
//! runs here through GHCR's, the one whose rules change most what plakar's
//! maintenance goes through (no DELETE: tombstones; 4 MiB request bodies).
//!
//! The personality proxy is a thread of the test process listening on
//! loopback: it is started in the body of the test, inside the test's
//! network namespace, as the registry is, so the plugin plakar starts
//! reaches it there.
//!
//! Docker Hub has two more: a second restore of a snapshot sends no
//! manifest GET for packfiles (the plugin keeps their manifest-to-blob
//! mapping on disk across commands, `blob_map`), and pulls past the budget
//! are named by plakar as the registry's rate limit.

use std::path::Path;
use std::time::Instant;

use crate::cli::{lifecycle, restore_and_compare, Repo};
use crate::support::package::WithPackage;
use kloset_testkit::isolated_test;
use kloset_testkit::personality::hosted::Hosted;
use kloset_testkit::personality::{DockerHub, Exchange, PersonalityProxy};
use kloset_testkit::plakar::Plakar;
use kloset_testkit::tree::{self, TreeSpec};
use kloset_testkit::{unique_repo, Registry, RegistryOptions};

/// About 20 MiB: 100 small files and two random files of 9 MiB, so that
/// packfiles go over the store's 8 MiB chunk size (chunked uploads, ECR's
/// part sizes, GHCR's 4 MiB request bodies) while nine lifecycles still
/// take a few minutes on two cores.
pub const SPEC: TreeSpec = TreeSpec {
    seed: 20,
    small_files: 100,
    large_files: 2,
    large_size: 9 << 20,
    text_files: 0,
    text_size: 0,
};

/// Manifest tags of packfiles (`layout`): what a pull of a packfile asks for.
const PACKFILE_TAGS: &str = "packfile-";

/// The repository at `repo` through the personality at `authority`, given
/// to plakar by its location alone (default options; a loopback address is
/// spoken to in plain HTTP).
fn through(authority: &str, repo: &str) -> Repo {
    let location = format!("oci://{authority}/{repo}");
    Repo {
        at: location.clone(),
        config: vec![("location".to_string(), location)],
    }
}

/// The registry a personality stands in front of, DELETE enabled.
fn registry_for(hosted: Hosted) -> Registry {
    Registry::start(RegistryOptions {
        implementation: hosted.implementation(),
        ..RegistryOptions::default()
    })
}

/// One line on what went through a proxy: requests, manifest GETs (Docker
/// Hub's pulls), refusals by status, the largest upload request body.
fn summary(log: &[Exchange]) -> String {
    let mut refused = std::collections::BTreeMap::<(u16, &str), usize>::new();
    for exchange in log.iter().filter(|e| e.status >= 400) {
        *refused
            .entry((exchange.status, exchange.method.as_str()))
            .or_default() += 1;
    }
    let uploads = log
        .iter()
        .filter(|e| matches!(e.method.as_str(), "PATCH" | "PUT") && e.target.contains("/uploads/"));
    let largest = uploads.clone().map(|e| e.body_len).max().unwrap_or(0);
    let manifest_gets = log
        .iter()
        .filter(|e| e.method == "GET" && e.target.contains("/manifests/"))
        .count();
    format!(
        "{} requests, {manifest_gets} manifest GETs, {} upload requests (largest body {:.1} MiB), refused: {:?}",
        log.len(),
        uploads.count(),
        largest as f64 / (1 << 20) as f64,
        refused
    )
}

fn lifecycle_through(hosted: Hosted) {
    let registry = registry_for(hosted);
    let name = hosted.repository(&unique_repo("hosted"));
    let proxy = hosted.start(&registry, &name);
    let plakar = Plakar::with_package();
    let repo = through(&proxy.authority(), &name);
    let started = Instant::now();
    lifecycle(&plakar, &repo, SPEC, hosted.deletes());
    eprintln!(
        "{hosted:?}: plakar's whole life in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        summary(&proxy.log())
    );
}

macro_rules! lifecycles {
    ($($name:ident: $hosted:expr;)*) => {
        $(
            isolated_test! {
                fn $name() {
                    lifecycle_through($hosted);
                }
            }
        )*
    };
}

lifecycles! {
    plakar_lifecycle_through_ghcr: Hosted::Ghcr;
}

/// Manifest GETs one restore sent: of packfiles, and in all.
#[derive(Debug, Clone, Copy)]
struct Pulls {
    packfiles: usize,
    all: usize,
}

/// Restores `id` in a new plakar process and compares it with `original`;
/// what it cost in pulls.
fn counted_restore(
    hub: &DockerHub,
    plakar: &Plakar,
    repo: &Repo,
    id: &str,
    original: &Path,
    scratch: &Path,
) -> Pulls {
    let (packfiles, all) = (hub.manifest_gets_of(PACKFILE_TAGS), hub.manifest_gets());
    restore_and_compare(plakar, repo, id, original, scratch);
    Pulls {
        packfiles: hub.manifest_gets_of(PACKFILE_TAGS) - packfiles,
        all: hub.manifest_gets() - all,
    }
}

/// A plakar home whose plugin keeps its blob map in the home's own cache
/// directory, whatever `KLOSET_HOST_CACHE` the tests run with: two homes
/// learn nothing from each other.
fn plakar_of_its_own() -> Plakar {
    Plakar::with_package().env("KLOSET_HOST_CACHE", "")
}

isolated_test! {
    /// Docker Hub counts every manifest GET as a pull. A restore, then the
    /// same snapshot restored again by a new plakar process: the second
    /// sends no manifest GET for packfiles. The same from a second plakar
    /// home that learnt nothing at backup time, whose first restore pays
    /// one pull per packfile it reads (what every restore paid before the
    /// mappings were kept on disk).
    fn docker_hub_second_restore_sends_no_manifest_get_for_packfiles() {
        let registry = Registry::start(RegistryOptions::default());
        let name = unique_repo("hub-pulls");
        let proxy = PersonalityProxy::start(&registry.authority(), DockerHub::new());
        let hub = proxy.rules();
        let repo = through(&proxy.authority(), &name);
        let scratch = tempfile::tempdir().expect("scratch");
        let source = scratch.path().join("source");
        tree::generate(&source, SPEC);

        let plakar = plakar_of_its_own();
        plakar.at_ok(&repo.at, &["create"]);
        plakar.at_ok(&repo.at, &["backup", source.to_str().unwrap()]);
        let ids = plakar.snapshot_ids(&repo.at);
        assert_eq!(ids.len(), 1, "{ids:?}");
        let id = &ids[0];
        let packfiles = repo.packfiles();

        let first = counted_restore(hub, &plakar, &repo, id, &source, scratch.path());
        let second = counted_restore(hub, &plakar, &repo, id, &source, scratch.path());
        let elsewhere = plakar_of_its_own();
        let fresh_first = counted_restore(hub, &elsewhere, &repo, id, &source, scratch.path());
        let fresh_second = counted_restore(hub, &elsewhere, &repo, id, &source, scratch.path());
        eprintln!(
            "Docker Hub manifest GETs per restore ({packfiles} packfiles in the repository), \
             packfiles / all: \
             backup's home: first restore {} / {}, second restore {} / {}; \
             a home that learnt nothing: first restore {} / {}, second restore {} / {}",
            first.packfiles, first.all, second.packfiles, second.all,
            fresh_first.packfiles, fresh_first.all, fresh_second.packfiles, fresh_second.all,
        );
        assert_eq!(
            second.packfiles, 0,
            "the second restore of the snapshot pulled packfile manifests: {:?}",
            hub.manifest_get_log()
        );
        assert_eq!(
            fresh_second.packfiles, 0,
            "the second restore from another home pulled packfile manifests: {:?}",
            hub.manifest_get_log()
        );
        assert!(
            fresh_first.packfiles > 0,
            "a home that never saw the packfiles restored without reading one manifest: \
             the counts above prove nothing"
        );
        assert!(
            hub.manifest_get_log().iter().all(|(_, within)| *within),
            "the default budget ran out"
        );
    }
}

/// Pulls the stingy personality allows: fewer than one restore needs from a
/// home whose plugin has not seen the repository through it.
const SMALL_BUDGET: usize = 3;

isolated_test! {
    /// Past the pull budget Docker Hub answers manifest GETs 429
    /// `TOOMANYREQUESTS` with `ratelimit-remaining: 0`: plakar's output
    /// says `rate limited`. A 429 without `Retry-After` is waited out for
    /// `retry_budget` (120 s by default, per request); the store is added
    /// with 5 s to keep the test short.
    fn docker_hub_pulls_past_the_budget_are_named_rate_limited() {
        let registry = Registry::start(RegistryOptions::default());
        let name = unique_repo("hub-budget");
        let scratch = tempfile::tempdir().expect("scratch");
        let source = scratch.path().join("source");
        tree::generate(&source, TreeSpec::SMALL);
        let plakar = plakar_of_its_own();

        // Filled through a personality with the default budget.
        let generous = PersonalityProxy::start(&registry.authority(), DockerHub::new());
        let filled = through(&generous.authority(), &name);
        plakar.at_ok(&filled.at, &["create"]);
        plakar.at_ok(&filled.at, &["backup", source.to_str().unwrap()]);
        let id = plakar.snapshot_ids(&filled.at)[0].clone();

        // Read through one whose budget is nearly spent.
        let stingy = PersonalityProxy::start(
            &registry.authority(),
            DockerHub::with_budget(SMALL_BUDGET),
        );
        let location = format!("oci://{}/{name}", stingy.authority());
        plakar.ok(["store", "add", "stingy", &location, "retry_budget=5"]);
        let mut refused = None;
        for attempt in 1..=6 {
            let out = scratch.path().join(format!("restore-{attempt}"));
            let run = plakar.at("@stingy", &["restore", "-to", out.to_str().unwrap(), &id]);
            if run.text().to_lowercase().contains("rate limit") || !run.ok {
                refused = Some((attempt, run));
                break;
            }
            tree::assert_same_tree(&source, &out);
        }
        let (attempt, run) = refused.unwrap_or_else(|| {
            panic!(
                "six restores within a budget of {SMALL_BUDGET} pulls were never refused: {:?}",
                stingy.rules().manifest_get_log()
            )
        });
        let line = run
            .text()
            .lines()
            .find(|l| l.to_lowercase().contains("rate limit"))
            .map(str::to_string);
        eprintln!(
            "restore {attempt} past a budget of {SMALL_BUDGET} pulls (exit {:?}): {}",
            run.code,
            line.as_deref().unwrap_or("(no line names the rate limit)")
        );
        assert!(
            run.text().to_lowercase().contains("rate limited"),
            "plakar's output does not say `rate limited`:\n{}",
            run.text()
        );
        assert!(
            stingy
                .rules()
                .manifest_get_log()
                .iter()
                .any(|(_, within)| !within),
            "no pull went past the budget"
        );
    }
}
