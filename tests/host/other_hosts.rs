//! The same component in hosts other than ours: Node.js through jco
//! (`tests/hosts/js`) and Python through the `wasmtime` package
//! (`tests/hosts/python`). Each test starts a real registry, runs one host's
//! script against its own repository there, and checks that the script ran
//! every core conformance case and each one passed, then that the registry
//! really holds what the script wrote.
//!
//! The same scripts also run a hostile case set (`KLOSET_HOST_CASES=hostile`)
//! against a scripted registry that sends the store to another loopback port:
//! these hosts have no egress allow-list, so the component's own origin rules
//! are all that keeps the store on its registry.
//!
//! The scripts' dependencies are installed by `scripts/setup` (`npm ci` or
//! its fallback in `tests/hosts/js`, a virtual environment with
//! `tests/hosts/python/requirements.txt`). A missing one fails the test with
//! the command that installs it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kloset_testkit::component::component_file;
use kloset_testkit::fake::{Answer, FakeServer};
use kloset_testkit::{unique_repo, Registry, RegistryOptions};

/// The cases every host script runs, in order (`CASES` in
/// tests/hosts/python/cases.py, `cases` in tests/hosts/js/cases.mjs).
const CASES: &[&str] = &[
    "invalid-config",
    "open-before-create-is-not-found",
    "create",
    "open-returns-the-config",
    "ping-and-identity",
    "put-small",
    "put-large-streamed",
    "list-per-kind",
    "get-whole",
    "get-range",
    "put-overwrites",
    "get-missing-is-not-found",
    "delete",
    "invalid-argument",
    "close",
];

/// The hostile cases every host script runs with `KLOSET_HOST_CASES=hostile`
/// (`HOSTILE` in tests/hosts/python/hostile.py, `hostile` in
/// tests/hosts/js/hostile.mjs).
const HOSTILE_CASES: &[&str] = &[
    "upload-location-elsewhere-is-refused",
    "tag-link-elsewhere-is-refused",
];

/// A script that has not finished by then is killed and the test fails:
/// wasmtime-py moves `list<u8>` a byte at a time, so its run takes about
/// 30 s here; a hang must not stall the suite.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn hosts_dir() -> PathBuf {
    kloset_testkit::workspace_root().join("tests/hosts")
}

#[test]
fn jco_in_node_passes_the_core_cases() {
    run_host("jco", jco_command(), "host-js");
}

#[test]
fn wasmtime_py_passes_the_core_cases() {
    run_host("wasmtime-py", python_command(), "host-python");
}

#[test]
fn jco_in_node_never_leaves_the_registry_origin() {
    run_hostile("jco", jco_command());
}

#[test]
fn wasmtime_py_never_leaves_the_registry_origin() {
    run_hostile("wasmtime-py", python_command());
}

/// `node run.mjs`, once Node.js, jco and preview2-shim are there.
fn jco_command() -> Command {
    let js = hosts_dir().join("js");
    require(
        Command::new("node").arg("--version"),
        "Node.js is missing: bash scripts/setup (or apt-get install -y nodejs npm)",
    );
    assert!(
        js.join("node_modules/@bytecodealliance/jco/package.json")
            .is_file()
            && js
                .join("node_modules/@bytecodealliance/preview2-shim/package.json")
                .is_file(),
        "jco and preview2-shim are not installed in {}\ninstall them: bash scripts/setup \
         (or: cd tests/hosts/js && npm ci, or npm install --no-save where npm ci refuses \
         the lock file)",
        js.display()
    );
    let mut command = Command::new("node");
    command.arg(js.join("run.mjs"));
    command
}

/// `python run.py`, once the interpreter can import wasmtime.
fn python_command() -> Command {
    let python_dir = hosts_dir().join("python");
    let python = python_interpreter(&python_dir);
    require(
        Command::new(&python).args(["-c", "import wasmtime"]),
        &format!(
            "the wasmtime package is not importable by {}\ninstall it: bash scripts/setup \
             (or: python3 -m venv tests/hosts/python/.venv && \
             tests/hosts/python/.venv/bin/pip install -r tests/hosts/python/requirements.txt)",
            python.display()
        ),
    );
    let mut command = Command::new(&python);
    command.arg(python_dir.join("run.py"));
    command
}

/// `$KLOSET_TEST_PYTHON`, else the virtual environment `scripts/setup`
/// makes, else `python3` from `PATH`.
fn python_interpreter(python_dir: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("KLOSET_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = python_dir.join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Runs `command` and panics with `hint` unless it exits 0.
fn require(command: &mut Command, hint: &str) {
    let ok = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{hint}");
}

/// Runs one host's script against a fresh registry and checks its report.
fn run_host(host: &str, mut command: Command, repo_prefix: &str) {
    let registry = Registry::start(RegistryOptions::default());
    let repo = unique_repo(repo_prefix);
    command.arg(registry.location(&repo));
    for (key, value) in registry.config(&repo).into_iter().skip(1) {
        command.arg(format!("{key}={value}"));
    }
    let (status, stdout, transcript) = run_script(host, command);
    check_report(host, &stdout, &transcript, status, CASES);

    // What the script left must really be in this registry: the config tag
    // and the objects it did not delete.
    let response = registry.send("GET", &format!("/v2/{repo}/tags/list"), &[], &[]);
    assert_eq!(response.status, 200, "{host}: tags/list of {repo}");
    let listing: serde_json::Value =
        serde_json::from_slice(&response.body).expect("tags/list JSON");
    let tags = listing["tags"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        tags >= 10,
        "{host}: the registry holds only {tags} tags in {repo}: {listing}"
    );
}

/// Runs one host's hostile cases against a scripted registry that answers
/// every upload POST with 202 and a `Location` on another loopback port, and
/// every tag list with a `Link` to its next page on that port. The host has
/// no egress of its own: the component must refuse both with a `registry`
/// error (the scripts check the case and the reason) and never send a
/// request there.
fn run_hostile(host: &str, mut command: Command) {
    // Records whatever reaches it and answers nothing: one request there
    // fails the test.
    let elsewhere = FakeServer::start([]);
    let repo = unique_repo("hostile");
    let upload = format!("http://{}/v2/{repo}/blobs/uploads/1", elsewhere.authority());
    let link = format!(
        "<http://{}/v2/{repo}/tags/list?last=config>; rel=\"next\"",
        elsewhere.authority()
    );
    let page = format!(r#"{{"name":"{repo}","tags":["config"]}}"#);
    let tag_list = format!("/v2/{repo}/tags/list");
    // A repository is there (its config manifest, as `create` writes it), so
    // a put goes as far as its upload POST whatever it reads first.
    let config_path = format!("/v2/{repo}/manifests/config");
    let config = kloset_oci::manifest::config_manifest(
        &kloset_oci::manifest::Media::artifact(kloset_oci::config::DEFAULT_MEDIA_TYPE),
        None,
        &kloset_oci::manifest::BlobRef {
            digest: kloset_oci::digest::sha256_digest(b"config"),
            size: 6,
        },
        kloset_oci::manifest::Deletion::Registry,
        None,
    );
    // The script runs its cases in its own order: each answer may come
    // any number of times. Neither case reads the configuration today (a
    // put's first request is its upload POST), so its manifest is marked
    // spare: there in case a put comes to ask whether the repository is.
    let config_answer = |method: &str| {
        Answer::new(200, &config)
            .to(&format!("{method} {config_path}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .repeats()
            .spare()
    };
    let registry = FakeServer::start([
        config_answer("HEAD"),
        config_answer("GET"),
        Answer::new(202, b"")
            .to(&format!("POST /v2/{repo}/blobs/uploads/*"))
            .header("Location", &upload)
            .repeats(),
        Answer::new(200, page.as_bytes())
            .to(&format!("GET {tag_list}"))
            .header("Content-Type", "application/json")
            .header("Link", &link)
            .repeats(),
    ]);
    command
        .arg(format!("oci://{}/{repo}", registry.authority()))
        .arg("use_tls=false")
        .env("KLOSET_HOST_CASES", "hostile");

    let (status, stdout, transcript) = run_script(host, command);
    check_report(host, &stdout, &transcript, status, HOSTILE_CASES);

    // The hostile answers were really given: the cases reached the POST and
    // the tag list, so their refusals are the origin rule's, not a 404's.
    let seen = registry.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "POST" && s.uri.contains("/blobs/uploads/")),
        "{host}: no upload POST reached the fake registry: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.method == "GET" && s.uri.contains("/tags/list")),
        "{host}: no tag list reached the fake registry: {seen:?}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "{host}: the other origin was reached: {:?}\n{transcript}",
        elsewhere.seen()
    );
}

/// Runs a host script with the built component; returns its exit status,
/// its stdout and a transcript of both streams for failure messages.
fn run_script(host: &str, mut command: Command) -> (ExitStatus, String, String) {
    command.env("KLOSET_COMPONENT", component_file());
    let started = Instant::now();
    let (status, stdout, stderr) = run_with_timeout(command, SCRIPT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{host}: cannot run the script: {e}"));
    let took = started.elapsed();
    let transcript = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    println!("{host}: script ran in {took:.2?}\n{transcript}");
    (status, stdout, transcript)
}

/// Checks that the script reported exactly `cases` as passed, in order,
/// with a summary line, and exited 0.
fn check_report(host: &str, stdout: &str, transcript: &str, status: ExitStatus, cases: &[&str]) {
    let report = Report::parse(stdout);
    assert!(
        report.failed.is_empty(),
        "{host}: failed cases {:?}\n{transcript}",
        report.failed
    );
    assert_eq!(
        report.passed, cases,
        "{host}: the script must report every case as passed, in order\n{transcript}"
    );
    assert!(
        report
            .summary
            .as_deref()
            .is_some_and(|s| s.starts_with(&format!(
                "summary: {n} of {n} cases passed",
                n = cases.len()
            ))),
        "{host}: no summary line\n{transcript}"
    );
    assert!(
        status.success(),
        "{host}: the script exited with {status}\n{transcript}"
    );
}

/// What a host script printed: `ok   NAME (MS ms)`, `FAIL NAME: why`, and
/// one `summary: ...` line.
#[derive(Debug, Default)]
struct Report {
    passed: Vec<String>,
    failed: Vec<String>,
    summary: Option<String>,
}

impl Report {
    fn parse(stdout: &str) -> Report {
        let mut report = Report::default();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("ok   ") {
                let name = rest.split(" (").next().unwrap_or(rest);
                report.passed.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("FAIL ") {
                report.failed.push(rest.to_string());
            } else if line.starts_with("summary: ") {
                report.summary = Some(line.to_string());
            }
        }
        report
    }
}

/// Runs a command to its end, or kills it after `limit`; returns its exit
/// status and its output as text.
fn run_with_timeout(
    mut command: Command,
    limit: Duration,
) -> std::io::Result<(ExitStatus, String, String)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Read both pipes on their own threads, so a chatty script never blocks
    // on a full pipe while we wait for it.
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            panic!(
                "the script did not finish within {limit:?}; its output so far:\n{}",
                stdout.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    Ok((
        status,
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    ))
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn reports_are_parsed_line_by_line() {
    let report = Report::parse(
        "host: x\nok   create (12 ms)\nFAIL delete: not-found: gone\nok   close (0 ms)\n\
         summary: 2 of 3 cases passed in 20 ms\n",
    );
    assert_eq!(report.passed, ["create", "close"]);
    assert_eq!(report.failed, ["delete: not-found: gone"]);
    assert_eq!(
        report.summary.as_deref(),
        Some("summary: 2 of 3 cases passed in 20 ms")
    );
}
