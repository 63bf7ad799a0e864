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
    let output = std::process::Command::new(kloset_testkit::component::cli_binary())
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
        "cleaned up: everything the probe wrote is gone",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
}
