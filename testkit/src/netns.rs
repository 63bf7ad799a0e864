//! Running a test where nothing can leave the machine.
//!
//! plakar tries to reach its website (a release feed, `pkg add NAME`,
//! `login`) in some situations; the tests must never let it. Each plakar
//! test runs in a network namespace of its own with only loopback up: the
//! test process re-runs itself, that one test, under `unshare --net`, and
//! the registries, the plugin and plakar all live in there. Inside, the
//! namespace is checked (only `lo` exists), so isolation is a fact the test
//! asserts, not a hope.
//!
//! The bench runs its plakar part in such a namespace with
//! [`unshare_command`].

use std::process::Command;

/// Set in the re-run child; its value is the test's name.
const ISOLATED_ENV: &str = "KLOSET_PLAKAR_TEST_ISOLATED";

/// Runs test `name` in a fresh network namespace and asserts it passed;
/// returns `false` when already inside one (the caller then runs the body).
pub fn run_isolated(name: &str) -> bool {
    if std::env::var(ISOLATED_ENV).is_ok_and(|v| v == name) {
        assert_only_loopback();
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = unshare_command(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ISOLATED_ENV, name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare (util-linux) for test {name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        output.status.success(),
        "test {name} failed in its network namespace ({})",
        output.status
    );
    // libtest exits 0 when the filter matched nothing: make sure it ran.
    assert!(
        stdout.contains("1 passed"),
        "test {name} did not run in its network namespace:\n{stdout}"
    );
    true
}

/// `program` (arguments to be added by the caller) to run in a new network
/// namespace whose loopback is up and which has nothing else.
pub fn unshare_command(program: &std::path::Path) -> Command {
    // As root a network namespace is ours to make; otherwise a user
    // namespace mapping us to root comes with it.
    let mut unshare = vec!["--net"];
    if !is_root() {
        unshare.push("--map-root-user");
    }
    let mut command = Command::new("unshare");
    command
        .args(&unshare)
        .args(["--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(program);
    command
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// The interfaces of this process's network namespace, from
/// `/proc/self/net/dev` (per namespace, unlike `/sys/class/net`, which
/// shows the namespace sysfs was mounted in).
fn interfaces() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/net/dev").expect("/proc/self/net/dev");
    table
        .lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

pub fn assert_only_loopback() {
    assert_eq!(
        interfaces(),
        ["lo"],
        "a plakar test must run in a network namespace with only loopback"
    );
}

/// A test that runs in its own loopback-only network namespace.
#[macro_export]
macro_rules! isolated_test {
    ($(#[$attr:meta])* fn $name:ident() $body:block) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            let full = concat!(module_path!(), "::", stringify!($name));
            // libtest names tests without the crate's own name.
            let full = full.split_once("::").map_or(full, |(_, rest)| rest);
            if $crate::netns::run_isolated(full) {
                return;
            }
            $body
        }
    };
}
