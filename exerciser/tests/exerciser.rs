//! The exerciser against plugins whose behaviour is known: the fake
//! plugin right, then made wrong on purpose one way at a time (each
//! failure named, with the exchange that proves it), plakar's own fs
//! store behind its plugin SDK, a package unpacked by plakar, and the
//! command line's report and exit status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kloset_exerciser::{Options, PluginCommand, Report, Verdict};

const FAKE: &str = env!("CARGO_BIN_EXE_exerciser-fake-plugin");
const EXERCISER: &str = env!("CARGO_BIN_EXE_plakar-store-exerciser");

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin")
}

/// A tool of the project's (.tools/bin, or the variable named), or a
/// loud failure: a test that cannot get its plugin never passes.
fn tool(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| tools().join(name));
    assert!(
        path.is_file(),
        "{name} is not at {}: run scripts/setup (or set {var})",
        path.display()
    );
    path
}

fn options(program: &Path, proto: &str, location: String, extra: &[(&str, &str)]) -> Options {
    let mut config = BTreeMap::new();
    config.insert("location".to_string(), location);
    for (k, v) in extra {
        config.insert(k.to_string(), v.to_string());
    }
    Options {
        plugin: PluginCommand {
            program: program.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
        },
        proto: proto.into(),
        config,
        large: 24 << 20,
        timeout: Duration::from_secs(30),
        only: Vec::new(),
        skip: Vec::new(),
        progress: None,
        echo_stderr: false,
    }
}

fn fake(dir: &Path, flaw: Option<&str>) -> Report {
    let flaw: Vec<(&str, &str)> = flaw.map(|f| ("flaw", f)).into_iter().collect();
    let location = format!("fake://{}", dir.join("repo").display());
    kloset_exerciser::run(options(Path::new(FAKE), "fake", location, &flaw))
}

/// The fake plugin with a flaw, on some checks only, with a call timeout.
fn fake_only(dir: &Path, flaw: &str, only: &[&str], timeout: u64) -> Report {
    let location = format!("fake://{}", dir.join("repo").display());
    let mut opts = options(Path::new(FAKE), "fake", location, &[("flaw", flaw)]);
    opts.only = only.iter().map(|s| s.to_string()).collect();
    opts.timeout = Duration::from_secs(timeout);
    kloset_exerciser::run(opts)
}

/// The failed checks, sorted.
fn failed(report: &Report) -> Vec<&'static str> {
    let mut names = report.failures();
    names.sort();
    names
}

/// The report's text, printed so a failing test shows it.
fn shown(report: &Report) -> String {
    let text = report.text();
    println!("{text}");
    text
}

#[test]
fn the_fake_plugin_holds_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake(dir.path(), None);
    let text = shown(&report);
    assert!(report.holds, "{text}");
    assert_eq!(report.failed, 0);
    assert_eq!(report.checks.len(), kloset_exerciser::CHECKS.len());
    assert!(
        report.checks.iter().all(|c| c.result == Verdict::Pass),
        "{text}"
    );
}

#[test]
fn a_range_answered_with_the_wrong_bytes_fails_ranges_and_shows_the_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake(dir.path(), Some("wrong-range"));
    let text = shown(&report);
    assert!(!report.holds);
    let ranges = report.check("ranges").expect("the ranges check");
    assert_eq!(ranges.result, Verdict::Fail, "{text}");
    assert!(
        ranges.detail.contains("the range 0+1 (the first byte)"),
        "{}",
        ranges.detail
    );
    let last = ranges.exchanges.last().expect("the exchange");
    assert!(last.call.contains("range offset=0 length=1"), "{last:?}");
    assert!(last.answer.contains("byte 0 is"), "{last:?}");
    assert!(last.answer.contains("was expected"), "{last:?}");
    assert!(text.contains("FAIL ranges"), "{text}");
    assert!(text.contains("sent: Get packfile"), "{text}");
    // Exactly the checks making ranged Gets fail; whole Gets are right.
    assert_eq!(
        failed(&report),
        vec!["absurd-ranges", "concurrent", "large-streamed", "ranges"],
        "{text}"
    );
    assert_eq!(report.check("round-trips").unwrap().result, Verdict::Pass);
}

#[test]
fn a_deleted_key_still_listed_fails_the_listings_and_shows_the_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake(dir.path(), Some("lists-deleted"));
    let text = shown(&report);
    assert!(!report.holds);
    for name in ["resource-kinds", "delete-and-reput"] {
        let check = report.check(name).unwrap();
        assert_eq!(check.result, Verdict::Fail, "{name}: {text}");
        assert!(check.detail.contains("is not exact"), "{}", check.detail);
        assert!(
            check.detail.contains("listed (deleted)"),
            "{}",
            check.detail
        );
        assert!(
            check
                .exchanges
                .iter()
                .any(|e| e.call.starts_with("Delete ")),
            "{name}: the Delete is shown"
        );
        assert!(check.exchanges.last().unwrap().call.starts_with("List "));
    }
    // Exactly the checks that list after a Delete (ECC ones included).
    assert_eq!(
        failed(&report),
        vec![
            "delete-and-reput",
            "ecc-resources",
            "resource-kinds",
            "same-bytes-two-keys"
        ],
        "{text}"
    );
    // One lingering key fails the check that finds it, not every later one.
    assert_eq!(
        report.check("concurrent").unwrap().result,
        Verdict::Pass,
        "{text}"
    );
    // Gets of deleted keys are refused: the flaw is the listing's alone.
    assert!(!report.failures().contains(&"missing-object"), "{text}");
}

#[test]
fn a_second_create_accepted_fails_and_shows_the_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake(dir.path(), Some("second-create"));
    let text = shown(&report);
    assert_eq!(report.failures(), vec!["create-again-refused"], "{text}");
    let check = report.check("create-again-refused").unwrap();
    assert!(check
        .detail
        .contains("a second Create on an existing repository succeeded"));
    assert!(check.detail.contains("overwritten"), "{}", check.detail);
    let calls: Vec<(&str, &str)> = check
        .exchanges
        .iter()
        .map(|e| (e.call.as_str(), e.answer.as_str()))
        .collect();
    assert!(calls[0].0.starts_with("Create config="), "{calls:?}");
    assert_eq!(calls[0].1, "ok", "{calls:?}");
    assert_eq!(calls[1].0, "Open", "{calls:?}");
}

#[test]
fn plakar_fs_store_behind_its_own_sdk_holds_the_contract() {
    let plugin = tool("KLOSET_TEST_FS_PLUGIN_BIN", "plakar-fs-plugin");
    let dir = tempfile::tempdir().unwrap();
    let location = format!("fs://{}", dir.path().join("repo").display());
    let report = kloset_exerciser::run(options(&plugin, "fs", location, &[]));
    let text = shown(&report);
    assert!(report.holds, "{text}");
    // What the fs store does not do, said as such.
    assert_eq!(
        report.check("ecc-resources").unwrap().result,
        Verdict::Unsupported
    );
    // go-kloset-sdk v1.1.0 converts the MAC to [32]byte unchecked: the
    // plugin dies on a 31-byte MAC (plakar never sends one).
    let malformed = report.check("malformed-requests").unwrap();
    assert_eq!(malformed.result, Verdict::Warn, "{text}");
    assert!(
        malformed.detail.contains("31-byte MAC"),
        "{}",
        malformed.detail
    );
    assert!(
        malformed.detail.contains("the plugin exited"),
        "{}",
        malformed.detail
    );
}

#[test]
fn a_ptar_is_unpacked_by_plakar_and_its_storage_connector_run() {
    let plakar = tool("PLAKAR", "plakar");
    let stage = tempfile::tempdir().unwrap();
    std::fs::copy(FAKE, stage.path().join("fakeStorage")).unwrap();
    // Flow style, args, and an importer beside: read as plakar reads it.
    std::fs::write(
        stage.path().join("manifest.yaml"),
        "name: exerciser-fake\ndisplay_name: fake\ndescription: the exerciser's fake plugin\nversion: v0.1.0\napi_version: v1.1.0\nconnectors:\n- type: storage\n  executable: fakeStorage\n  protocols: [fake]\n",
    )
    .unwrap();
    let made = Command::new(&plakar)
        .arg("-cachedir")
        .arg(stage.path().join(".cache"))
        .args(["pkg", "create", "manifest.yaml", "v0.1.0"])
        .current_dir(stage.path())
        .env("HOME", stage.path())
        .output()
        .unwrap();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let ptar = stage
        .path()
        .join(format!("exerciser-fake_v0.1.0_linux_{arch}.ptar"));
    assert!(
        ptar.is_file(),
        "plakar pkg create: {}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let repo = tempfile::tempdir().unwrap();
    let run = Command::new(EXERCISER)
        .arg("--ptar")
        .arg(&ptar)
        .arg("--plakar")
        .arg(&plakar)
        .args(["--quiet", "--only", "open,ranges,list-exact"])
        .arg(format!("fake://{}", repo.path().join("repo").display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    println!("{text}{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(
        text.contains("fakeStorage at fake://"),
        "the unpacked executable runs: {text}"
    );
    assert!(text.contains("the contract holds"), "{text}");
}

#[test]
fn the_command_line_exits_1_with_a_table_and_json_when_a_check_fails() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let run = Command::new(EXERCISER)
        .arg("--exec")
        .arg(FAKE)
        .args(["--quiet", "--only", "ranges", "--json"])
        .arg(&json)
        .arg(format!("fake://{}", dir.path().join("repo").display()))
        .arg("flaw=wrong-range")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the contract does not hold: ranges"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["holds"], false);
    // Option values are never shown; their names are.
    assert_eq!(report["options"], serde_json::json!(["flaw"]));
    let ranges = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ranges")
        .unwrap();
    assert_eq!(ranges["result"], "fail");
    assert!(!ranges["exchanges"].as_array().unwrap().is_empty());

    // A plugin that is not there: exit 2, one line.
    let missing = Command::new(EXERCISER)
        .args(["--exec", "/nonexistent/plugin", "--quiet", "fake:///tmp/x"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("cannot start /nonexistent/plugin"), "{said}");
}

#[test]
fn a_plugin_dying_on_a_missing_key_fails_missing_object() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake_only(dir.path(), "crash-missing", &["missing-object"], 30);
    let text = shown(&report);
    assert!(!report.holds, "{text}");
    assert_eq!(failed(&report), vec!["missing-object"], "{text}");
    let check = report.check("missing-object").unwrap();
    assert!(
        check.detail.contains("exited with status 3"),
        "{}",
        check.detail
    );
    assert!(check.detail.contains("never put"), "{}", check.detail);
}

#[test]
fn a_plugin_never_answering_a_missing_key_fails_missing_object() {
    let dir = tempfile::tempdir().unwrap();
    let report = fake_only(dir.path(), "hang-missing", &["missing-object"], 3);
    let text = shown(&report);
    assert!(!report.holds, "{text}");
    assert_eq!(failed(&report), vec!["missing-object"], "{text}");
    let check = report.check("missing-object").unwrap();
    assert!(
        check.detail.contains("no answer within 3 s"),
        "{}",
        check.detail
    );
}

#[test]
fn a_check_skipped_for_want_of_a_plugin_fails_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    // close-with-stream-open passes and ends the plugin; no second
    // plugin starts for after-close.
    let report = fake_only(
        dir.path(),
        "init-once",
        &["close-with-stream-open", "after-close"],
        30,
    );
    let text = shown(&report);
    assert_eq!(
        report.check("close-with-stream-open").unwrap().result,
        Verdict::Pass,
        "{text}"
    );
    let after = report.check("after-close").unwrap();
    assert_eq!(after.result, Verdict::Skipped, "{text}");
    assert!(
        after.detail.contains("no plugin to run it on"),
        "{}",
        after.detail
    );
    assert_eq!(report.skipped, 1);
    assert!(!report.holds, "{text}");
    assert!(
        text.contains("not run, no plugin to run on: after-close"),
        "{text}"
    );
}

#[test]
fn a_get_body_without_end_is_cut_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let report = fake_only(dir.path(), "endless-get", &["absurd-ranges"], 30);
    let text = shown(&report);
    assert_eq!(failed(&report), vec!["absurd-ranges"], "{text}");
    let check = report.check("absurd-ranges").unwrap();
    assert!(
        check.detail.contains("bytes go on past the expected end"),
        "{}",
        check.detail
    );
    // Cut at the first byte too many, not at the timeout.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );

    // Empty messages without end: the Get's overall deadline ends it.
    let dir = tempfile::tempdir().unwrap();
    let report = fake_only(dir.path(), "endless-empty-get", &["absurd-ranges"], 3);
    let text = shown(&report);
    assert_eq!(failed(&report), vec!["absurd-ranges"], "{text}");
    let check = report.check("absurd-ranges").unwrap();
    // Alone, the deadline ends it; on a loaded machine h2 has been seen
    // to end the connection under the flood first (ResourceExhausted, or
    // the Ping after failing): the range is named either way.
    assert!(
        check.detail.contains("1000+1 (at the end)"),
        "{}",
        check.detail
    );
}

#[test]
fn a_plugin_writing_bytes_that_are_not_utf8_to_stderr_keeps_running() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("wrapper.sh");
    // After a byte that is not UTF-8, more stderr a moment later: a
    // reader that stopped at the first would leave the pipe closed and
    // the shell would die of SIGPIPE before starting the plugin.
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nprintf 'bad \\377 byte\\n' >&2\nsleep 1\nprintf 'more\\n' >&2\nexec '{FAKE}' \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let location = format!("fake://{}", dir.path().join("repo").display());
    let mut opts = options(&wrapper, "fake", location, &[]);
    opts.only = vec!["ping".into()];
    let report = kloset_exerciser::run(opts);
    let text = shown(&report);
    assert!(report.holds, "{text}");
    assert_eq!(
        report.check("init").unwrap().result,
        Verdict::Pass,
        "{text}"
    );
}

#[test]
fn the_command_line_prints_its_table_before_failing_on_json_and_checks_large_first() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("fake://{}", dir.path().join("repo").display());
    // The checks ran: the table is shown, then the JSON's failure.
    let run = Command::new(EXERCISER)
        .arg("--exec")
        .arg(FAKE)
        .args([
            "--quiet",
            "--only",
            "ping",
            "--json",
            "/nonexistent/dir/report.json",
        ])
        .arg(&location)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{text}{said}");
    assert!(text.contains("the contract holds"), "{text}");
    assert!(
        said.contains("cannot write /nonexistent/dir/report.json"),
        "{said}"
    );

    // --large is checked before anything is unpacked or started.
    for large in ["0", "18446744073709551615"] {
        let run = Command::new(EXERCISER)
            .args([
                "--ptar",
                "/nonexistent/package.ptar",
                "--large",
                large,
                "--quiet",
            ])
            .arg(&location)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{said}");
        assert!(said.contains("--large"), "{said}");
    }

    // A location's credentials are never shown.
    let run = Command::new(EXERCISER)
        .args([
            "--exec",
            "/nonexistent/plugin",
            "--quiet",
            "fake://user:secret@host/x",
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!all.contains("secret"), "{all}");
    assert!(all.contains("fake://host/x"), "{all}");
}

/// The children of a process, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    found
}

/// Alive and not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_ends_the_plugin_and_the_exerciser() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The plugin starts a process of its own, which ignores the end of
    // its input: only the group's end ends it.
    let wrapper = dir.path().join("wrapper.sh");
    let pidfile = dir.path().join("grandchild.pid");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nsleep 300 </dev/null >/dev/null 2>&1 &\necho $! > '{}'\nexec '{FAKE}' \"$@\"\n", pidfile.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A plugin that never answers a missing key: the run waits there.
    let mut run = Command::new(EXERCISER)
        .arg("--exec")
        .arg(&wrapper)
        .args(["--quiet", "--only", "missing-object", "--timeout", "120"])
        .arg(format!("fake://{}", dir.path().join("repo").display()))
        .arg("flaw=hang-missing")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut plugins = Vec::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        plugins = children(run.id());
        if !plugins.is_empty() {
            break;
        }
    }
    assert_eq!(plugins.len(), 1, "the plugin runs");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = run.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(run.stderr.as_mut().unwrap(), &mut said).unwrap();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert_eq!(status.code(), Some(143), "{status}: {said}");
    assert!(said.contains("interrupted"), "{said}");
    for _ in 0..50 {
        if !running(plugins[0]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !running(plugins[0]),
        "the plugin {} was left running",
        plugins[0]
    );
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for _ in 0..50 {
        if !running(grandchild) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = running(grandchild);
    if left {
        let _ = Command::new("kill")
            .args(["-KILL", &grandchild.to_string()])
            .status();
    }
    assert!(
        !left,
        "what the plugin started ({grandchild}) was left running"
    );
}

#[test]
fn a_localfs_connector_gets_a_relative_location_made_absolute() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("package");
    std::fs::create_dir(&package).unwrap();
    std::fs::copy(FAKE, package.join("fakeStorage")).unwrap();
    std::fs::set_permissions(
        package.join("fakeStorage"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        package.join("manifest.yaml"),
        "name: fake\nconnectors:\n- type: storage\n  executable: fakeStorage\n  protocols: [fake]\n  location_flags: [localfs]\n",
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let run = Command::new(EXERCISER)
        .arg("--package-dir")
        .arg(&package)
        .args(["--quiet", "--only", "ping", "fake:repo"])
        .current_dir(&work)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let cwd = std::fs::canonicalize(&work).unwrap();
    assert!(
        text.contains(&format!("at fake://{}/repo", cwd.display())),
        "{text}"
    );
    assert!(
        work.join("repo/CONFIG").is_file(),
        "the repository is where the location says"
    );
}
