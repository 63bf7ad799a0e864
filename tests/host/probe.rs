//! `kloset-host probe` against real registries: each finding compared with
//! what the registry was started to do, and nothing left behind where the
//! registry deletes. The personalities' rules (tests/store/personalities.rs)
//! are probed there.

use kloset_host::probe::{probe, ProbeReport};
use kloset_testkit::tags::tags_of_page;
use kloset_testkit::{unique_repo, Implementation, Registry, RegistryOptions};

/// Probes a fresh repository's location on `registry`.
fn probed(registry: &Registry) -> (ProbeReport, String) {
    let repo = unique_repo("probe");
    let report = probe(&registry.config(&repo)).expect("a valid configuration");
    println!("{}", kloset_host::probe::render(&report));
    assert_eq!(report.stopped, None, "the probe ran to its end");
    (report, repo)
}

fn finding<'a>(report: &'a ProbeReport, feature: &str) -> &'a str {
    report
        .finding(feature)
        .unwrap_or_else(|| panic!("no finding for {feature}: {report:?}"))
}

/// What every registry here does alike: the API, our artifact type, a
/// mount, exact ranges and listings through the store, a round trip.
fn common(report: &ProbeReport) {
    assert_eq!(
        finding(report, "api"),
        "OCI distribution API, anonymous access"
    );
    assert!(finding(report, "media types").starts_with("OCI 1.1 artifacts"));
    assert!(finding(report, "range").ends_with("through the store: exact"));
    assert!(finding(report, "tag lists").ends_with("through the store: exact"));
    assert!(finding(report, "round trip").starts_with("the object read back whole is the one"));
    assert!(finding(report, "uploads").contains("taken"));
    assert_eq!(
        finding(report, "redirects"),
        "blob reads are served by the registry itself"
    );
    assert_eq!(finding(report, "rate limits"), "no ratelimit headers seen");
    assert!(report.advice.is_empty(), "{:?}", report.advice);
}

#[test]
fn distribution_with_deletes_is_probed_and_left_clean() {
    let registry = Registry::start(RegistryOptions::default());
    let (report, repo) = probed(&registry);
    common(&report);
    assert_eq!(
        finding(&report, "delete"),
        "DELETE by digest removes the manifest and its tags"
    );
    assert!(finding(&report, "range").starts_with("closed ranges answered 206"));
    // distribution 2.8 ignores `n` and answers every tag at once.
    assert!(finding(&report, "tag lists").starts_with("n ignored"));
    assert!(finding(&report, "mount").starts_with("a blob the repository has is found"));
    assert!(finding(&report, "repository creation").starts_with("a new repository is made"));
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
    let scratch = format!("{repo}-kloset-probe");
    let listing = registry.send("GET", &format!("/v2/{scratch}/tags/list"), &[], &[]);
    let left = match listing.status {
        404 => Vec::new(),
        200 => tags_of_page(&listing.body),
        other => panic!("tag list answered {other}"),
    };
    assert_eq!(
        left,
        Vec::<String>::new(),
        "every tag the probe wrote is gone"
    );
}

#[test]
fn distribution_without_deletes_is_probed_and_says_what_stays() {
    let registry = Registry::start(RegistryOptions {
        delete_enabled: false,
        ..RegistryOptions::default()
    });
    let (report, _) = probed(&registry);
    common(&report);
    assert!(
        finding(&report, "delete").starts_with("DELETE refused (405 UNSUPPORTED)"),
        "{report:?}"
    );
    assert!(finding(&report, "delete by tag").starts_with("not supported"));
    assert!(!report.left_behind.is_empty(), "what stays is named");
}

#[test]
fn distribution_v3_pages_tags_and_untags() {
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Distribution3,
        max_tags: Some(2),
        ..RegistryOptions::default()
    });
    let (report, _) = probed(&registry);
    common(&report);
    assert!(
        finding(&report, "tag lists").starts_with("n honoured, further pages through Link"),
        "{report:?}"
    );
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
}

#[test]
fn the_cli_prints_the_table() {
    let registry = Registry::start(RegistryOptions::default());
    let output = std::process::Command::new(crate::cli_binary())
        .arg("--store")
        .arg(registry.location(&unique_repo("probe-cli")))
        .arg("probe")
        .output()
        .expect("run kloset-host");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "api ",
        "media types ",
        "delete ",
        "uploads ",
        "range ",
        "tag lists ",
        "options: the defaults fit this registry",
        "cleaned up: every tag the probe wrote is gone",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
}

/// Probes a fresh repository's location through a personality in front of
/// `registry`: its table, and the repository name it probed beside.
fn probed_via<R: kloset_testkit::personality::Rules>(
    registry: &Registry,
    rules: R,
    repo: &str,
) -> (
    ProbeReport,
    kloset_testkit::personality::PersonalityProxy<R>,
) {
    let proxy = kloset_testkit::personality::PersonalityProxy::start(&registry.authority(), rules);
    let config = vec![
        (
            "location".to_string(),
            format!("oci://{}/{repo}", proxy.authority()),
        ),
        ("use_tls".to_string(), "false".to_string()),
    ];
    let report = probe(&config).expect("a valid configuration");
    println!("{}", kloset_host::probe::render(&report));
    (report, proxy)
}

#[test]
fn cranes_registry_lies_about_deletes_and_the_probe_says_so() {
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Crane,
        ..RegistryOptions::default()
    });
    let (report, _) = probed(&registry);
    assert!(
        finding(&report, "delete").contains("answered 202 but the tag is still served"),
        "{report:?}"
    );
    assert!(finding(&report, "range").ends_with("through the store: exact"));
    assert!(finding(&report, "tag lists").ends_with("through the store: exact"));
    assert!(!report.left_behind.is_empty(), "what stays is named");
}

#[test]
fn olareg_is_probed_and_left_clean() {
    let registry = Registry::start(RegistryOptions {
        implementation: Implementation::Olareg,
        ..RegistryOptions::default()
    });
    let (report, _) = probed(&registry);
    common(&report);
    assert_eq!(
        finding(&report, "delete"),
        "DELETE by digest removes the manifest and its tags"
    );
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
}

#[test]
fn each_personality_s_rules_are_found() {
    use kloset_testkit::personality::{
        ArtifactRegistry, DockerHub, Ecr, Ghcr, GitLab, Harbor, Quay,
    };
    let registry = Registry::start(RegistryOptions::default());

    // GitLab and Quay: allow-listed media types.
    for (name, report) in [
        (
            "gitlab",
            probed_via(&registry, GitLab::new(), &unique_repo("gl")).0,
        ),
        (
            "quay",
            probed_via(&registry, Quay::new(), &unique_repo("quay")).0,
        ),
    ] {
        assert_eq!(report.stopped, None, "{name}");
        assert!(
            finding(&report, "media types").starts_with("our artifactType was refused"),
            "{name}: {report:?}"
        );
        assert!(finding(&report, "round trip").starts_with("the object read back whole"));
    }

    // GHCR: 4 MiB bodies, no DELETE.
    let (report, _) = probed_via(&registry, Ghcr::new(), &unique_repo("ghcr"));
    assert_eq!(report.stopped, None, "{report:?}");
    assert_eq!(
        finding(&report, "uploads"),
        "request bodies capped at 4194304 bytes (learnt from a refusal); chunks of that size"
    );
    assert!(finding(&report, "delete").starts_with("DELETE refused (405 UNSUPPORTED)"));
    assert_eq!(
        report.advice.len(),
        1,
        "chunk_size advised: {:?}",
        report.advice
    );
    assert_eq!(report.advice[0].option, "chunk_size");
    assert_eq!(report.advice[0].value, "4194304");

    // ECR: no repository made on push; the probe says how, then probes
    // inside the store's own repository, which exists; ECR's stale Range.
    let repo = unique_repo("ecr");
    let ecr = Ecr::with_patch_bug();
    ecr.create_repository(&repo);
    let (report, _) = probed_via(&registry, ecr, &repo);
    assert_eq!(report.stopped, None, "{report:?}");
    let creation = finding(&report, "repository creation");
    assert!(
        creation.contains("aws ecr create-repository --repository-name")
            && creation.contains("probing inside"),
        "{creation}"
    );
    assert!(
        finding(&report, "uploads").contains("Range stops moving"),
        "{report:?}"
    );
    assert!(finding(&report, "round trip").starts_with("the object read back whole"));

    // Artifact Registry: untag first; no chunked uploads.
    let v3 = Registry::start(RegistryOptions {
        implementation: Implementation::Distribution3,
        ..RegistryOptions::default()
    });
    let (report, _) = probed_via(&v3, ArtifactRegistry::new(), &unique_repo("ar"));
    assert_eq!(report.stopped, None, "{report:?}");
    assert!(
        finding(&report, "delete").starts_with(
            "DELETE by digest refused while tagged (400 GOOGLE_MANIFEST_DANGLING_TAG)"
        ),
        "{report:?}"
    );
    assert_eq!(
        finding(&report, "uploads"),
        "chunked PATCHes refused: objects go in one streamed PATCH"
    );
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);

    // Docker Hub: its rate-limit headers.
    let (report, _) = probed_via(&registry, DockerHub::new(), &unique_repo("hub"));
    assert_eq!(report.stopped, None, "{report:?}");
    assert!(
        finding(&report, "rate limits").starts_with("ratelimit-limit"),
        "{report:?}"
    );

    // Harbor without the project: the probe stops, naming what to create.
    let (report, _) = probed_via(&registry, Harbor::new(), "missing/store");
    let stopped = report.stopped.clone().expect("stopped");
    assert!(stopped.contains("project missing not found"), "{stopped}");
    assert!(
        stopped.contains("create the project missing in Harbor first"),
        "{stopped}"
    );
}
