use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

/// A helper script in `dir` running `body` (sh), recording each run in
/// `ran`.
fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("docker-credential-fake");
    let ran = dir.join("ran");
    let text = format!("#!/bin/sh\necho run >> '{}'\n{body}\n", ran.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn limits(timeout_ms: u64, max_output: usize) -> HelperLimits {
    HelperLimits {
        timeout: Duration::from_millis(timeout_ms),
        max_output,
    }
}

/// Runs a freshly written script, retrying while another thread's fork
/// still holds it open for writing (ETXTBSY).
fn run(path: &Path, limits: HelperLimits) -> Result<Option<Login>, Error> {
    for _ in 0..200 {
        match run_program(path.as_os_str(), "fake", "reg.example", &limits) {
            Err(e) if e.to_string().contains("Text file busy") => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other,
        }
    }
    panic!("{} stayed busy", path.display());
}

/// What a failed helper must be: `invalid-config` naming the helper, then
/// why. Returns the why.
fn helper_failure(result: Result<Option<Login>, Error>) -> String {
    let message = match result {
        Err(Error::Contract(crate::ContractError::InvalidConfig(message))) => message,
        other => panic!("expected invalid-config, got {other:?}"),
    };
    message
        .strip_prefix("credential helper docker-credential-fake: ")
        .unwrap_or_else(|| panic!("the helper is not named first: {message}"))
        .to_string()
}

#[test]
fn a_helper_answer_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(
        dir.path(),
        r#"cat >/dev/null; echo '{"Username":"u","Secret":"s3cret"}'"#,
    );
    let login = run(&path, HelperLimits::default()).unwrap().unwrap();
    assert_eq!(login.username, "u");
    assert_eq!(login.password, "s3cret");
}

#[test]
fn a_helper_that_hangs_is_killed_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "exec sleep 30");
    let started = Instant::now();
    let err = helper_failure(run(&path, limits(300, 1 << 20)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err, "it did not answer within 0 s");
}

#[test]
fn a_helper_that_prints_endlessly_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "exec yes s3cret-s3cret");
    let started = Instant::now();
    let err = helper_failure(run(&path, limits(10_000, 64 << 10)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err, "it printed more than 65536 bytes",
        "never what it printed"
    );
}

#[test]
fn a_helper_leaving_a_child_behind_with_stdout_does_not_hang_us() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "sleep 30 &\nexit 0");
    let started = Instant::now();
    let err = helper_failure(run(&path, limits(300, 1 << 20)));
    assert_eq!(err, "it did not answer within 0 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A `PATH` entry that is empty, `.` or any relative path names the
/// directory plakar runs in: a helper there is never found, never run,
/// while the same directory given absolutely is searched.
#[test]
fn a_helper_is_found_only_through_absolute_path_entries() {
    let dir = tempfile::tempdir().unwrap();
    let found = script(dir.path(), "echo '{}'");
    // The temporary directory as a relative entry, from wherever tests run.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count().saturating_sub(1));
    let relative = format!("{up}{}", dir.path().strip_prefix("/").unwrap().display());
    assert!(Path::new(&relative)
        .join("docker-credential-fake")
        .is_file());
    for path in ["", ":", ".", ":/nonexistent", "./", relative.as_str()] {
        assert_eq!(
            find_on_path("docker-credential-fake", Some(OsStr::new(path))),
            None,
            "{path:?}"
        );
    }
    let absolute = format!("/nonexistent::{}", dir.path().display());
    assert_eq!(
        find_on_path("docker-credential-fake", Some(OsStr::new(&absolute))),
        Some(found.clone())
    );
    // Not executable: not a helper.
    std::fs::set_permissions(&found, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        find_on_path("docker-credential-fake", Some(OsStr::new(&absolute))),
        None
    );
    assert_eq!(find_on_path("docker-credential-fake", None), None);
}
