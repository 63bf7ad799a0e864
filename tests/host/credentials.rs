//! Credentials the way users already keep them, against registries that
//! demand them: Docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`), identity tokens, the store's own options, and, through the
//! `kloset-host` CLI as a user runs it, the `OCI_REGISTRY_*` variables.
//!
//! Process-wide state is handled with care, since the tests of this binary
//! run on parallel threads:
//! - the host looks credential helpers up on `PATH`, so every case that needs
//!   one runs inside one test (`credential_helpers_...`), which puts its
//!   helpers' directory first on `PATH`; no other test here touches the
//!   environment;
//! - the host hands `OCI_REGISTRY_*` from its own environment to every store,
//!   so this process never sets them: the variables are tested on the CLI's
//!   child process, whose environment is spelled out (its `HOME` is a
//!   temporary directory, so a real `~/.docker` is never read).
//!
//! Each "works" case would fail if the credentials it names were ignored: the
//! registries refuse anonymous clients, and where a second source is present
//! it holds wrong credentials.

use crate::cli_binary;
use kloset_testkit::component::plugin;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kloset_host::{ContractError, Error, Mac, Resource, StoreHandle};
use kloset_testkit::token_server::TokenRequest;
use kloset_testkit::{
    unique_repo, Registry, RegistryAuth, RegistryOptions, TestPki, TokenAuth, TokenServer,
    TokenUser,
};
use serde_json::{json, Value};
use tempfile::TempDir;

const USER: &str = "alice";
const PASSWORD: &str = "alice-pw-3141";
/// Never accepted anywhere; every refusal is checked not to quote it.
const WRONG_PASSWORD: &str = "wrong-pw-2718";
/// Alice's identity (refresh) token on token registries.
const REFRESH_TOKEN: &str = "rt-alice-1618";

/// The variables the host passes from its environment to the component.
const CREDENTIAL_ENV: [&str; 3] = [
    "OCI_REGISTRY_USERNAME",
    "OCI_REGISTRY_PASSWORD",
    "OCI_REGISTRY_TOKEN",
];

// ---------------------------------------------------------------- helpers

/// A plain-HTTP registry with one htpasswd user, alice.
fn htpasswd_registry() -> Registry {
    Registry::start(RegistryOptions {
        auth: RegistryAuth::htpasswd(&[(USER, PASSWORD)]),
        ..Default::default()
    })
}

/// A plain-HTTP token registry whose token server knows alice (password and
/// refresh token) and answers nobody anonymously.
fn token_registry(post_supported: bool) -> Registry {
    let user = TokenUser::new(USER, PASSWORD, &["*"]).with_refresh_token(REFRESH_TOKEN);
    Registry::start(RegistryOptions {
        auth: RegistryAuth::Token(TokenAuth {
            post_supported,
            ..TokenAuth::with_users(vec![user])
        }),
        ..Default::default()
    })
}

fn token_server(registry: &Registry) -> &TokenServer {
    registry
        .token_server()
        .expect("a token registry has a token server")
}

/// A `config.json` `auths` value: base64 of `user:password`.
fn docker_auth(user: &str, password: &str) -> String {
    STANDARD.encode(format!("{user}:{password}"))
}

/// A fresh directory holding `config.json` with `content`.
fn docker_config(content: &Value) -> TempDir {
    let dir = empty_dir();
    fs::write(dir.path().join("config.json"), content.to_string())
        .unwrap_or_else(|e| panic!("cannot write config.json: {e}"));
    dir
}

/// A `config.json` whose only login for `registry` is alice's wrong one.
fn wrong_docker_config(registry: &Registry) -> TempDir {
    docker_config(&json!({
        "auths": { registry.authority(): { "auth": docker_auth(USER, WRONG_PASSWORD) } }
    }))
}

fn empty_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("kloset-test-credentials-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// A store configuration for a fresh repository of `registry`, taking Docker
/// logins from `docker_dir`, plus `extra`.
fn store_config(
    registry: &Registry,
    docker_dir: &Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut config = registry.config(&unique_repo("credentials"));
    config.push((
        "docker_config".to_string(),
        path_str(docker_dir).to_string(),
    ));
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    config
}

fn open_store(config: &[(String, String)]) -> StoreHandle {
    StoreHandle::new(plugin(), config).unwrap_or_else(|e| panic!("a valid configuration: {e}"))
}

fn random_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// Create, put, list, get, delete: every kind of request the store makes
/// (and so every token scope) must be let through.
fn exercise(store: &StoreHandle) {
    store.create(b"kloset configuration").expect("create");
    let mac = Mac(rand::random());
    let data = random_bytes(4096);
    let stored = store
        .put_bytes(Resource::Packfile, &mac, &data)
        .expect("put");
    assert_eq!(stored, data.len() as u64);
    assert_eq!(store.list(Resource::Packfile).expect("list"), vec![mac]);
    let got = store.get(Resource::Packfile, &mac, None).expect("get");
    assert!(got == data, "the object read back differs");
    store.delete(Resource::Packfile, &mac).expect("delete");
    assert_eq!(
        store.list(Resource::Packfile).expect("list"),
        Vec::<Mac>::new()
    );
    assert_eq!(store.open().expect("open"), b"kloset configuration");
}

/// The store's first request fails with `unauthorized`, and neither the
/// message nor `Debug` quotes any of `secrets`.
fn assert_unauthorized(store: &StoreHandle, secrets: &[&str]) {
    match store.create(b"kloset configuration") {
        Err(err @ Error::Contract(ContractError::Unauthorized(_))) => {
            let shown = format!("{err} {err:?}");
            for secret in secrets {
                assert!(!shown.contains(secret), "a secret in the error: {shown}");
            }
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

/// How many failed logins of `user` the htpasswd registry logged (what
/// distribution 2.8's htpasswd controller logs when a client sent Basic
/// credentials with a wrong password; an anonymous request names no user).
fn refused_logins(registry: &Registry, user: &str) -> usize {
    let log = fs::read_to_string(registry.dir().join("registry.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("error authenticating user") && l.contains(user))
        .count()
}

// ---------------------------------------------------------------- auths

#[test]
fn an_auths_entry_logs_in_to_an_htpasswd_registry() {
    let registry = htpasswd_registry();
    let authority = registry.authority();
    // The forms `docker login` writes keys in: `host:port`, and an URL.
    for key in [authority.clone(), format!("https://{authority}")] {
        let dir = docker_config(&json!({
            "auths": { key.as_str(): { "auth": docker_auth(USER, PASSWORD) } }
        }));
        let store = open_store(&store_config(&registry, dir.path(), &[]));
        exercise(&store);
    }
}

#[test]
fn a_wrong_password_in_auths_is_unauthorized_and_not_quoted() {
    let registry = htpasswd_registry();
    let dir = wrong_docker_config(&registry);
    let store = open_store(&store_config(&registry, dir.path(), &[]));
    assert_unauthorized(&store, &[WRONG_PASSWORD]);
    // The refusal is of alice's password, not of an anonymous client: the
    // entry was read and sent.
    assert_eq!(
        refused_logins(&registry, USER),
        1,
        "logins of {USER} refused"
    );
}

#[test]
fn an_auths_entry_of_another_port_is_another_registry() {
    let registry = htpasswd_registry();
    let dir = docker_config(&json!({
        "auths": { "127.0.0.1:1": { "auth": docker_auth(USER, PASSWORD) } }
    }));
    let store = open_store(&store_config(&registry, dir.path(), &[]));
    assert_unauthorized(&store, &[PASSWORD]);
    assert_eq!(refused_logins(&registry, USER), 0);
}

#[test]
fn a_broken_config_json_fails_the_configuration_without_quoting_it() {
    // No registry is needed: the host reads config.json before any request.
    let dir = docker_config(&json!({
        "auths": { "127.0.0.1:9": { "auth": "not base64 at all, hunter2!" } }
    }));
    let config = vec![
        ("location".to_string(), "oci://127.0.0.1:9/repo".to_string()),
        ("use_tls".to_string(), "false".to_string()),
        (
            "docker_config".to_string(),
            path_str(dir.path()).to_string(),
        ),
    ];
    match StoreHandle::new(plugin(), &config) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => {
            assert!(msg.contains("config.json"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn a_config_json_of_the_wrong_shape_is_refused_without_quoting_it() {
    // serde_json's own messages quote the value they trip on.
    let dir = empty_dir();
    fs::write(
        dir.path().join("config.json"),
        r#"{"auths": {"127.0.0.1:9": "hunter2-secret"}}"#,
    )
    .unwrap();
    let config = vec![
        ("location".to_string(), "oci://127.0.0.1:9/repo".to_string()),
        ("use_tls".to_string(), "false".to_string()),
        (
            "docker_config".to_string(),
            path_str(dir.path()).to_string(),
        ),
    ];
    match StoreHandle::new(plugin(), &config) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => {
            assert!(
                msg.contains("config.json") && msg.contains("line 1"),
                "{msg}"
            );
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn a_password_file_logs_in_and_mixes_with_no_password_option() {
    let registry = htpasswd_registry();
    let empty = empty_dir();
    let file = empty.path().join("password");
    fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    // Private to its owner, as ssh asks of a key; else it is refused.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let config = store_config(
        &registry,
        empty.path(),
        &[("username", USER), ("password_file", path_str(&file))],
    );
    exercise(&open_store(&config));

    let both = store_config(
        &registry,
        empty.path(),
        &[
            ("username", USER),
            ("password", PASSWORD),
            ("password_file", path_str(&file)),
        ],
    );
    match StoreHandle::new(plugin(), &both) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => {
            assert!(msg.contains("both"), "{msg}")
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

// ---------------------------------------------------------------- precedence

#[test]
fn the_stores_own_credentials_win_over_config_json() {
    let registry = htpasswd_registry();
    let dir = wrong_docker_config(&registry);
    let config = store_config(
        &registry,
        dir.path(),
        &[("username", USER), ("password", PASSWORD)],
    );
    exercise(&open_store(&config));
    // config.json's password was never tried.
    assert_eq!(refused_logins(&registry, USER), 0);
}

#[test]
fn a_docker_config_directory_without_config_json_means_anonymous() {
    let registry = htpasswd_registry();
    let dir = empty_dir();
    // Not an error: most machines have no Docker login at all.
    let store = open_store(&store_config(&registry, dir.path(), &[]));
    assert_unauthorized(&store, &[]);
    assert_eq!(refused_logins(&registry, USER), 0);
}

// ---------------------------------------------------------------- identity tokens

#[test]
fn an_identity_token_in_auths_is_redeemed_with_the_oauth2_post() {
    let registry = token_registry(true);
    let dir = docker_config(&json!({
        "auths": { registry.authority(): { "identitytoken": REFRESH_TOKEN } }
    }));
    exercise(&open_store(&store_config(&registry, dir.path(), &[])));

    let requests = token_server(&registry).requests();
    assert!(
        requests.iter().any(|r| r.method == "POST"
            && r.grant_type.as_deref() == Some("refresh_token")
            && r.status == 200),
        "no refresh-token grant: {requests:#?}"
    );
    // Every token came from the grant: no GET, no Basic credentials.
    assert!(requests.iter().all(|r| r.method == "POST"), "{requests:#?}");
}

#[test]
fn an_identity_token_cannot_log_in_where_post_is_unsupported() {
    // The component redeems an identity token only with the OAuth2 POST form.
    // On a 404 it falls back to GET as the token spec says, but a GET carries
    // Basic credentials, and an identity token is not a password: the GET
    // goes without `Authorization`, asks as an anonymous client would, and
    // this token server (no anonymous access) refuses it. The component then
    // asks once more per operation (a narrower scope) and gives up with
    // `unauthorized`.
    let registry = token_registry(false);
    let dir = docker_config(&json!({
        "auths": { registry.authority(): { "identitytoken": REFRESH_TOKEN } }
    }));
    let store = open_store(&store_config(&registry, dir.path(), &[]));
    assert_unauthorized(&store, &[REFRESH_TOKEN]);

    let requests = token_server(&registry).requests();
    let (first, rest) = requests.split_first().expect("the token server was asked");
    assert_eq!(
        (
            first.method.as_str(),
            first.grant_type.as_deref(),
            first.status
        ),
        ("POST", Some("refresh_token"), 404),
        "{requests:#?}"
    );
    assert!(!rest.is_empty(), "no GET fallback: {requests:#?}");
    assert!(
        rest.iter()
            .all(|r: &TokenRequest| r.method == "GET" && !r.authorization && r.status == 401),
        "{requests:#?}"
    );
}

// ---------------------------------------------------------------- helpers on PATH

/// A `docker-credential-NAME` script that appends how it was called
/// (`argc=N argv=[..] stdin=[..]`) to a record file, then prints `answer`
/// on stdout and exits with `status`, as Docker's helpers do.
struct CredentialHelper {
    record: PathBuf,
}

impl CredentialHelper {
    fn install(bin: &Path, name: &str, answer: &str, status: u8) -> CredentialHelper {
        let record = bin.join(format!("{name}.calls"));
        assert!(
            !answer.contains('\'') && !path_str(&record).contains('\''),
            "the script quotes these in single quotes"
        );
        // `probe` (this harness's own first run, below) is not recorded.
        let script = format!(
            "#!/bin/sh\n\
             [ \"$1\" = probe ] && exit 0\n\
             server=$(cat)\n\
             printf 'argc=%s argv=[%s] stdin=[%s]\\n' \"$#\" \"$*\" \"$server\" >> '{record}'\n\
             printf '%s\\n' '{answer}'\n\
             exit {status}\n",
            record = path_str(&record),
        );
        let path = bin.join(format!("docker-credential-{name}"));
        fs::write(&path, script).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("cannot make {name} executable: {e}"));
        wait_until_executable(&path);
        CredentialHelper { record }
    }

    /// The helper's calls so far, one line each; forgets them.
    fn take_calls(&self) -> Vec<String> {
        let calls = fs::read_to_string(&self.record).unwrap_or_default();
        let _ = fs::remove_file(&self.record);
        calls.lines().map(str::to_string).collect()
    }
}

/// Runs a freshly written script once. Another thread of this process may
/// have forked (to start a registry, say) while the script was open for
/// writing; until that child execs, it holds the descriptor and executing
/// the script fails with ETXTBSY. The host would then report the helper
/// broken, so wait until it runs.
fn wait_until_executable(path: &Path) {
    const ETXTBSY: i32 = 26;
    for _ in 0..200 {
        match Command::new(path).arg("probe").status() {
            Ok(status) if status.success() => return,
            Ok(status) => panic!("{} probe: {status}", path.display()),
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy", path.display());
}

fn helper_answer(server: &str, username: &str, secret: &str) -> String {
    json!({ "ServerURL": server, "Username": username, "Secret": secret }).to_string()
}

#[test]
fn credential_helpers_are_asked_first_and_their_answers_used() {
    // PATH is process-wide; only this test needs it (see the module docs).
    // Other tests' children may find these helpers first on PATH, which
    // changes nothing for them: they run no docker-credential-* program.
    let bin = empty_dir();
    let old_path = std::env::var_os("PATH").unwrap_or_default();
    let new_path: OsString = std::env::join_paths(
        std::iter::once(bin.path().to_path_buf()).chain(std::env::split_paths(&old_path)),
    )
    .expect("a PATH of plain directories");
    std::env::set_var("PATH", new_path);

    let registry = htpasswd_registry();
    let server = registry.authority();
    let expected_call = format!("argc=1 argv=[get] stdin=[{server}]");
    let helper = CredentialHelper::install(
        bin.path(),
        "kloset-test",
        &helper_answer(&server, USER, PASSWORD),
        0,
    );
    let missing = CredentialHelper::install(
        bin.path(),
        "kloset-test-missing",
        "credentials not found in native keychain",
        1,
    );
    let wrong_auths = json!({ server.as_str(): { "auth": docker_auth(USER, WRONG_PASSWORD) } });

    // credHelpers[host] wins over credsStore and over auths.
    let dir = docker_config(&json!({
        "credHelpers": { server.as_str(): "kloset-test" },
        "credsStore": "kloset-test-missing",
        "auths": wrong_auths,
    }));
    exercise(&open_store(&store_config(&registry, dir.path(), &[])));
    assert_eq!(helper.take_calls(), vec![expected_call.clone()]);
    assert_eq!(missing.take_calls(), Vec::<String>::new());

    // credsStore wins over auths.
    let dir = docker_config(&json!({ "credsStore": "kloset-test", "auths": wrong_auths }));
    exercise(&open_store(&store_config(&registry, dir.path(), &[])));
    assert_eq!(helper.take_calls(), vec![expected_call.clone()]);

    // A helper for another registry is not asked.
    let dir = docker_config(&json!({
        "credHelpers": { "127.0.0.1:1": "kloset-test-missing" },
        "credsStore": "kloset-test",
    }));
    exercise(&open_store(&store_config(&registry, dir.path(), &[])));
    assert_eq!(helper.take_calls(), vec![expected_call.clone()]);
    assert_eq!(missing.take_calls(), Vec::<String>::new());

    // "Not found" (exit 1, the message on stdout) is no login, not an error:
    // the store is made and the registry refuses it as anonymous.
    let dir = docker_config(&json!({ "credsStore": "kloset-test-missing" }));
    let store = open_store(&store_config(&registry, dir.path(), &[]));
    assert_unauthorized(&store, &[]);
    assert_eq!(missing.take_calls(), vec![expected_call.clone()]);
    assert_eq!(
        refused_logins(&registry, USER),
        0,
        "a login was tried, yet neither a helper nor config.json holds one"
    );

    // A configuration the component refuses fails before any helper runs.
    let dir = docker_config(&json!({ "credsStore": "kloset-test" }));
    let bad = store_config(&registry, dir.path(), &[("retries", "many")]);
    match StoreHandle::new(plugin(), &bad) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => {
            assert!(msg.contains("retries"), "{msg}")
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
    assert_eq!(
        helper.take_calls(),
        Vec::<String>::new(),
        "a helper ran for a configuration that was refused"
    );

    // Username `<token>`: the secret is an identity token, redeemed with the
    // OAuth2 refresh grant (the password is never sent).
    let tokens = token_registry(true);
    let token_authority = tokens.authority();
    let token_helper = CredentialHelper::install(
        bin.path(),
        "kloset-test-token",
        &helper_answer(&token_authority, "<token>", REFRESH_TOKEN),
        0,
    );
    let dir = docker_config(&json!({
        "credHelpers": { token_authority.as_str(): "kloset-test-token" }
    }));
    exercise(&open_store(&store_config(&tokens, dir.path(), &[])));
    assert_eq!(
        token_helper.take_calls(),
        vec![format!("argc=1 argv=[get] stdin=[{token_authority}]")]
    );
    let requests = token_server(&tokens).requests();
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| r.method == "POST"
                && r.grant_type.as_deref() == Some("refresh_token")
                && r.status == 200),
        "{requests:#?}"
    );

    // A helper reached only through a relative PATH entry (here `bin` as
    // seen from the current directory; `.` or an empty entry alike) is
    // never run: such an entry names the folder the command runs in.
    let cwd = std::env::current_dir().unwrap();
    let relative = PathBuf::from("../".repeat(cwd.components().count() - 1))
        .join(bin.path().strip_prefix("/").unwrap());
    assert!(relative.join("docker-credential-kloset-test").is_file());
    let relative_path: OsString = std::env::join_paths(
        [PathBuf::from(""), relative]
            .into_iter()
            .chain(std::env::split_paths(&old_path)),
    )
    .expect("a PATH of plain directories");
    std::env::set_var("PATH", relative_path);
    let dir = docker_config(&json!({ "credsStore": "kloset-test" }));
    match StoreHandle::new(plugin(), &store_config(&registry, dir.path(), &[])) {
        Err(Error::Contract(ContractError::InvalidConfig(msg))) => assert_eq!(
            msg,
            "credential helper docker-credential-kloset-test: it is not in any absolute directory of PATH"
        ),
        other => panic!("expected invalid-config, got {other:?}"),
    }
    assert_eq!(
        helper.take_calls(),
        Vec::<String>::new(),
        "a helper ran through a relative PATH entry"
    );
    std::env::set_var("PATH", old_path);
}

// ---------------------------------------------------------------- the CLI

/// A TLS registry with alice as its htpasswd user, and its PKI.
fn tls_htpasswd_registry() -> (TestPki, Registry) {
    let pki = TestPki::new();
    let registry = Registry::start(RegistryOptions {
        tls: Some(pki.server_files()),
        auth: RegistryAuth::htpasswd(&[(USER, PASSWORD)]),
        ..Default::default()
    });
    (pki, registry)
}

/// `kloset-host` runs on one fresh repository, as a user would type them.
/// The child's environment: this process's, without anything that could
/// change whose credentials or which component it uses, with `HOME` a
/// temporary directory, plus `env`.
struct Cli {
    bin: PathBuf,
    home: TempDir,
    location: String,
    options: Vec<String>,
    env: Vec<(String, String)>,
}

impl Cli {
    fn new(registry: &Registry, pki: &TestPki, options: &[(&str, &str)]) -> Cli {
        let mut all = vec![format!("tls_ca_file={}", path_str(pki.ca_pem()))];
        all.extend(options.iter().map(|(k, v)| format!("{k}={v}")));
        Cli {
            bin: cli_binary(),
            home: empty_dir(),
            location: registry.location(&unique_repo("cli")),
            options: all,
            env: Vec::new(),
        }
    }

    fn env(mut self, name: &str, value: &str) -> Cli {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    /// Runs `args` with `stdin` as standard input.
    fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write as _;
        let mut command = Command::new(&self.bin);
        command
            .arg("--component")
            .arg(kloset_testkit::component::component_file())
            .args(["--store", &self.location]);
        for option in &self.options {
            command.args(["-o", option]);
        }
        command.args(args);
        for name in CREDENTIAL_ENV
            .iter()
            .chain(&["DOCKER_CONFIG", kloset_host::COMPONENT_ENV])
        {
            command.env_remove(name);
        }
        command
            .env("HOME", self.home.path())
            // One compilation of the component serves this Cli's runs.
            .env(kloset_host::CACHE_ENV, self.home.path().join("cache"));
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let mut input = child.stdin.take().expect("piped stdin");
        let stdin = stdin.to_vec();
        let writer = thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", self.bin.display()));
        let _ = writer.join();
        output
    }

    /// Runs `args`, which must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kloset-host {args:?}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// create, put, ls, get, rm, ls: each a process of its own, so each logs
    /// in afresh.
    fn round_trip(&self) {
        self.ok(&["create"]);
        let data = random_bytes(100_000);
        let file = self.home.path().join("object");
        fs::write(&file, &data).expect("write the object");
        let mac = Mac(rand::random()).to_hex();

        let stored = self.ok(&["put", "packfile", &mac, path_str(&file)]);
        assert_eq!(
            String::from_utf8_lossy(&stored),
            format!("{}\n", data.len())
        );
        let listed = self.ok(&["ls", "packfile"]);
        assert_eq!(String::from_utf8_lossy(&listed), format!("{mac}\n"));
        let got = self.ok(&["get", "packfile", &mac]);
        assert!(got == data, "get: {} bytes, not the object", got.len());
        self.ok(&["rm", "packfile", &mac]);
        assert_eq!(self.ok(&["ls", "packfile"]), b"");
    }

    /// Runs `args`, which must fail the way the CLI promises: exit status 1,
    /// one line `kloset-host: <error>` on stderr, quoting no secret.
    fn fails(&self, args: &[&str], secret: &str) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("kloset-host: "), "{stderr}");
        assert!(!stderr.contains(secret), "a secret on stderr: {stderr}");
        lines[0].to_string()
    }
}

#[test]
fn the_cli_logs_in_with_config_json() {
    let (pki, registry) = tls_htpasswd_registry();
    let dir = docker_config(&json!({
        "auths": { registry.authority(): { "auth": docker_auth(USER, PASSWORD) } }
    }));
    Cli::new(&registry, &pki, &[("docker_config", path_str(dir.path()))]).round_trip();
}

#[test]
fn the_cli_reads_the_password_from_stdin() {
    let (pki, registry) = tls_htpasswd_registry();
    let empty = empty_dir();
    let cli = Cli::new(
        &registry,
        &pki,
        &[
            ("docker_config", path_str(empty.path())),
            ("username", USER),
        ],
    );
    let stdin = format!("{PASSWORD}\n");
    let create = cli.run_with_stdin(&["--password-stdin", "create"], stdin.as_bytes());
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let opened = cli.run_with_stdin(&["--password-stdin", "open"], stdin.as_bytes());
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert!(opened.stdout.starts_with(b"{\"tool\":\"kloset-host\""));

    // A wrong one is refused like any other, and not quoted.
    let wrong = cli.run_with_stdin(&["--password-stdin", "open"], WRONG_PASSWORD.as_bytes());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.starts_with("kloset-host: unauthorized"), "{stderr}");
    assert!(!stderr.contains(WRONG_PASSWORD), "{stderr}");

    // Standard input cannot carry both the password and the object.
    let mac = Mac(rand::random()).to_hex();
    let put = cli.run_with_stdin(
        &["--password-stdin", "put", "packfile", &mac],
        stdin.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&put.stderr);
    assert!(
        stderr.starts_with("kloset-host: --password-stdin"),
        "{stderr}"
    );
}

#[test]
fn the_cli_reads_oci_registry_variables() {
    let (pki, registry) = tls_htpasswd_registry();
    let empty = empty_dir();
    Cli::new(
        &registry,
        &pki,
        &[("docker_config", path_str(empty.path()))],
    )
    .env("OCI_REGISTRY_USERNAME", USER)
    .env("OCI_REGISTRY_PASSWORD", PASSWORD)
    .round_trip();

    // The variables win over config.json (the host looks no login up when
    // they are set).
    let wrong = wrong_docker_config(&registry);
    Cli::new(
        &registry,
        &pki,
        &[("docker_config", path_str(wrong.path()))],
    )
    .env("OCI_REGISTRY_USERNAME", USER)
    .env("OCI_REGISTRY_PASSWORD", PASSWORD)
    .round_trip();
}

#[test]
fn the_cli_options_win_over_variables_and_config_json() {
    let (pki, registry) = tls_htpasswd_registry();
    let wrong = wrong_docker_config(&registry);
    let options = [
        ("docker_config", path_str(wrong.path())),
        ("username", USER),
        ("password", PASSWORD),
    ];
    Cli::new(&registry, &pki, &options)
        .env("OCI_REGISTRY_USERNAME", USER)
        .env("OCI_REGISTRY_PASSWORD", WRONG_PASSWORD)
        .round_trip();
}

#[test]
fn the_cli_reports_a_wrong_password_in_one_line_without_it() {
    let (pki, registry) = tls_htpasswd_registry();
    let wrong = wrong_docker_config(&registry);
    let empty = empty_dir();
    let cases = [
        (
            "config.json",
            Cli::new(
                &registry,
                &pki,
                &[("docker_config", path_str(wrong.path()))],
            ),
        ),
        (
            "variables",
            Cli::new(
                &registry,
                &pki,
                &[("docker_config", path_str(empty.path()))],
            )
            .env("OCI_REGISTRY_USERNAME", USER)
            .env("OCI_REGISTRY_PASSWORD", WRONG_PASSWORD),
        ),
        (
            "options",
            Cli::new(
                &registry,
                &pki,
                &[
                    ("docker_config", path_str(empty.path())),
                    ("username", USER),
                    ("password", WRONG_PASSWORD),
                ],
            ),
        ),
    ];
    for (source, cli) in &cases {
        let refused = refused_logins(&registry, USER);
        let line = cli.fails(&["create"], WRONG_PASSWORD);
        assert!(
            line.starts_with("kloset-host: unauthorized"),
            "{source}: {line}"
        );
        // The wrong password was sent, not nothing.
        assert!(
            refused_logins(&registry, USER) > refused,
            "{source}: no login tried"
        );
    }
}
