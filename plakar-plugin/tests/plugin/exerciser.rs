//! Our plugin binary under the store exerciser (`kloset-exerciser`): the
//! Kloset store contract over plakar's own protocol, without the plakar
//! CLI, on every registry flavour the plakar tests use: distribution with
//! and without DELETE, htpasswd over TLS, token auth, distribution v3
//! paging by 7 with and without DELETE, and each hosted registry's
//! personality. What only plakar does (its state, locks, maintenance,
//! processes) stays with the plakar tests (`cli`, `registries`, `hosted`).

use std::collections::BTreeMap;
use std::time::Duration;

use kloset_exerciser::{Options, PluginCommand, Report, Verdict};
use kloset_testkit::personality::hosted::Hosted;
use kloset_testkit::personality::{DockerHub, PersonalityProxy, Rules};
use kloset_testkit::tls::TestPki;
use kloset_testkit::{unique_repo, Registry, RegistryAuth, RegistryOptions, TokenAuth, TokenUser};

use crate::registries::v3;

/// The large object of the runs beside the first (which streams 256 MiB).
const LARGE: u64 = 24 << 20;

/// Runs the exerciser against this build's plugin and component.
fn exercise(config: Vec<(String, String)>, large: u64) -> Report {
    let config: BTreeMap<String, String> = config.into_iter().collect();
    let (proto, location) = kloset_exerciser::location(&config["location"]).expect("a location");
    let mut config = config;
    config.insert("location".into(), location);
    let report = kloset_exerciser::run(Options {
        plugin: PluginCommand {
            program: env!("CARGO_BIN_EXE_kloset-oci-plakar").into(),
            args: Vec::new(),
            env: vec![(
                "KLOSET_COMPONENT".into(),
                kloset_testkit::component::component_file()
                    .to_string_lossy()
                    .into_owned(),
            )],
        },
        proto,
        config,
        large,
        timeout: Duration::from_secs(120),
        only: Vec::new(),
        skip: Vec::new(),
        progress: None,
        echo_stderr: false,
    });
    println!("{}", report.text());
    report
}

fn assert_holds(report: &Report) {
    assert!(
        report.holds,
        "the contract does not hold:\n{}",
        report.text()
    );
    assert_eq!(report.warned, 0, "{}", report.text());
    // Ours supports every resource, ECC ones included.
    assert_eq!(report.unsupported, 0, "{}", report.text());
    // Every check ran (none skipped for want of a plugin) and passed.
    assert_eq!(report.skipped, 0, "{}", report.text());
    assert_eq!(
        report.checks.len(),
        kloset_exerciser::CHECKS.len(),
        "{}",
        report.text()
    );
    assert!(
        report.checks.iter().all(|c| c.result == Verdict::Pass),
        "{}",
        report.text()
    );
}

fn detail<'a>(report: &'a Report, check: &str) -> &'a str {
    &report.check(check).expect("the check ran").detail
}

#[test]
fn exerciser_on_distribution_with_deletes_and_256_mib_streamed() {
    let registry = Registry::start(RegistryOptions {
        delete_enabled: true,
        ..RegistryOptions::default()
    });
    let report = exercise(registry.config(&unique_repo("exerciser")), 256 << 20);
    assert_holds(&report);
    // What plakar prints comes from the status message alone: it names
    // the problem in words (plakar's own checks of these are `cli`'s).
    let missing = detail(&report, "open-before-create");
    assert!(
        missing.contains("NotFound") && missing.contains("not found"),
        "{missing}"
    );
    let again = detail(&report, "create-again-refused");
    assert!(
        again.contains("AlreadyExists") && again.contains("already exists"),
        "{again}"
    );
    assert!(detail(&report, "missing-object").contains("NotFound"));
    assert!(detail(&report, "delete-and-reput").contains("a second Delete succeeds"));
    assert!(detail(&report, "mode").starts_with("mode=6"));
    let malformed = detail(&report, "malformed-requests");
    assert_eq!(malformed.matches("refused").count(), 4, "{malformed}");
    assert!(
        malformed.contains("InvalidArgument") && malformed.contains("32 bytes"),
        "{malformed}"
    );
    assert_eq!(
        report.check("large-streamed").unwrap().result,
        Verdict::Pass
    );
}

#[test]
fn exerciser_on_distribution_without_deletes() {
    let registry = Registry::start(RegistryOptions {
        delete_enabled: false,
        ..RegistryOptions::default()
    });
    assert_holds(&exercise(
        registry.config(&unique_repo("exerciser-nodel")),
        LARGE,
    ));
}

#[test]
fn exerciser_on_htpasswd_over_tls() {
    let pki = TestPki::new();
    let registry = Registry::start(RegistryOptions {
        tls: Some(pki.server_files()),
        auth: RegistryAuth::htpasswd(&[("alice", "alice-secret")]),
        delete_enabled: true,
        ..RegistryOptions::default()
    });
    let mut config = registry.config(&unique_repo("exerciser-tls"));
    config.push((
        "tls_ca_file".into(),
        pki.ca_pem().to_string_lossy().into_owned(),
    ));
    config.push(("username".into(), "alice".into()));
    config.push(("password".into(), "alice-secret".into()));
    let report = exercise(config, LARGE);
    assert_holds(&report);
    // Option values (a password among them) never reach the report.
    assert!(!report.json().contains("alice-secret"));
}

#[test]
fn exerciser_on_token_auth() {
    let user = TokenUser::new("bob", "bob-secret", &["pull", "push", "delete"]);
    let registry = Registry::start(RegistryOptions {
        auth: RegistryAuth::Token(TokenAuth::with_users(vec![user])),
        delete_enabled: true,
        ..RegistryOptions::default()
    });
    let mut config = registry.config(&unique_repo("exerciser-token"));
    config.push(("username".into(), "bob".into()));
    config.push(("password".into(), "bob-secret".into()));
    assert_holds(&exercise(config, LARGE));
}

#[test]
fn exerciser_on_distribution_v3_paging_by_7_with_deletes() {
    let registry = v3(true);
    assert_holds(&exercise(
        registry.config(&unique_repo("exerciser-v3")),
        LARGE,
    ));
}

#[test]
fn exerciser_on_distribution_v3_paging_by_7_without_deletes() {
    let registry = v3(false);
    assert_holds(&exercise(
        registry.config(&unique_repo("exerciser-v3-nodel")),
        LARGE,
    ));
}

/// Through a hosted registry's personality, default options, DELETE
/// enabled behind it (as `hosted::plakar_lifecycle_through_*`).
fn through(hosted: Hosted) {
    let registry = Registry::start(RegistryOptions {
        implementation: hosted.implementation(),
        delete_enabled: true,
        ..RegistryOptions::default()
    });
    let name = hosted.repository(&unique_repo("exerciser-hosted"));
    let proxy = match hosted {
        // The exerciser pulls far more than Docker Hub's 200 a window
        // (the budget's own tests are `hosted::docker_hub_*`).
        Hosted::DockerHub => PersonalityProxy::start(
            &registry.authority(),
            Box::new(DockerHub::with_budget(100_000)) as Box<dyn Rules>,
        ),
        _ => hosted.start(&registry, &name),
    };
    let location = format!("oci://{}/{name}", proxy.authority());
    let report = exercise(vec![("location".into(), location)], LARGE);
    eprintln!(
        "{hosted:?}: {} requests through the personality",
        proxy.log().len()
    );
    assert_holds(&report);
}

macro_rules! through {
    ($($name:ident: $hosted:expr;)*) => {
        $(
            #[test]
            fn $name() {
                through($hosted);
            }
        )*
    };
}

through! {
    exerciser_through_gitlab: Hosted::GitLab;
    exerciser_through_ghcr: Hosted::Ghcr;
    exerciser_through_ecr: Hosted::Ecr;
    exerciser_through_ecr_with_its_patch_bug: Hosted::EcrPatchBug;
    exerciser_through_artifact_registry: Hosted::ArtifactRegistry;
    exerciser_through_docker_hub: Hosted::DockerHub;
    exerciser_through_quay: Hosted::Quay;
    exerciser_through_harbor: Hosted::Harbor;
    exerciser_through_acr: Hosted::Acr;
}
