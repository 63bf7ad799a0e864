//! The `kloset-host` CLI as a user types it, where the library's tests
//! cannot see: what `ls` says of a repository that is not there, and what
//! a usage error shows of what was typed.

use std::process::{Command, Output};

use crate::cli_binary;
use kloset_testkit::component::component_file;
use kloset_testkit::{unique_repo, Registry, RegistryOptions};
use tempfile::TempDir;

/// `kloset-host` with the workspace's component, its own compiled-code
/// cache and an empty HOME (no Docker logins).
struct Cli {
    cache: TempDir,
    home: TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            cache: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(cli_binary())
            .args(args)
            .env("KLOSET_COMPONENT", component_file())
            .env("KLOSET_HOST_CACHE", self.cache.path())
            .env("HOME", self.home.path())
            .env_remove("DOCKER_CONFIG")
            .env_remove("OCI_REGISTRY_USERNAME")
            .env_remove("OCI_REGISTRY_PASSWORD")
            .env_remove("OCI_REGISTRY_TOKEN")
            .output()
            .expect("run kloset-host")
    }

    /// Runs, expects the exit code `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "kloset-host {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{:?}", out.stdout);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn ls_of_a_repository_never_created_fails_as_open_does() {
    let registry = Registry::start(RegistryOptions::default());
    let location = registry.location(&unique_repo("never-made"));
    let cli = Cli::new();
    let open = cli.fails(&["--store", &location, "open"], 1);
    assert_eq!(
        open,
        format!("kloset-host: not found: no Kloset repository at {location}\n")
    );
    for resource in ["packfile", "state", "lock"] {
        let ls = cli.fails(&["--store", &location, "ls", resource], 1);
        assert_eq!(ls, open, "ls {resource}");
    }
    // Made, and still empty: ls lists nothing, and succeeds.
    let out = cli.run(&["--store", &location, "create"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli.run(&["--store", &location, "ls", "packfile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// `-o s3cret` (a password whose `password=` was forgotten) is refused
/// without quoting it: clap's own message quoted it twice.
#[test]
fn an_option_without_a_key_is_refused_without_being_shown() {
    let cli = Cli::new();
    for (flag, value) in [
        ("-o", "hunter2-s3cret"),
        ("--option", "=hunter2-s3cret"),
        ("--component-option", "hunter2-s3cret"),
    ] {
        let err = cli.fails(&["--store", "oci://127.0.0.1:1/r", flag, value, "ping"], 2);
        assert!(!err.contains("hunter2"), "{flag} {value}: {err}");
        assert!(err.contains("takes KEY=VALUE"), "{flag} {value}: {err}");
    }
}

/// What the CLI quotes back of its input (a refused argument, an unknown
/// option key the component names, a path) reaches the terminal with its
/// escape sequences escaped and cut short, never as typed.
#[test]
fn echoed_input_is_escaped_and_cut() {
    let cli = Cli::new();
    let hostile = format!("\u{1b}]0;pwned\u{7}\u{1b}[2J{}", "x".repeat(5_000));
    let key = format!("{hostile}=1");
    let ca_file = format!("tls_ca_file=/nonexistent/{hostile}");
    // (arguments, exit code, whether the sequence is shown escaped: clap
    // drops the escape sequences of what it quotes, the rest escape them.)
    let cases: [(Vec<&str>, i32, bool); 3] = [
        // clap refuses the MAC, quoting it.
        (
            vec!["--store", "oci://127.0.0.1:1/r", "rm", "packfile", &hostile],
            2,
            false,
        ),
        // The component refuses the key, quoting it.
        (
            vec!["--store", "oci://127.0.0.1:1/r", "-o", &key, "ping"],
            1,
            true,
        ),
        // The host cannot read the file, naming it.
        (
            vec!["--store", "oci://127.0.0.1:1/r", "-o", &ca_file, "ping"],
            1,
            true,
        ),
    ];
    for (args, code, escaped) in cases {
        let err = cli.fails(&args, code);
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n'),
            "{args:.40?}: {err:?}"
        );
        // Shown escaped by the host, or blanked already by the component
        // (which cleans what it quotes back, for every host).
        assert!(
            !escaped
                || err.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2J")
                || err.contains(" ]0;pwned  [2J"),
            "{err:.300}"
        );
        assert!(
            err.lines().all(|line| line.chars().count() <= 2_100),
            "{err:.300}"
        );
        assert!(err.len() < 3_000, "{} bytes: {err:.300}", err.len());
    }
}
