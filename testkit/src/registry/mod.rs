//! A real registry on a free loopback port, with its own temporary directory:
//! by default `docker-registry` (distribution 2.8, Debian's package); also
//! CNCF distribution v3 (`.tools/bin/registry`, from scripts/setup-go-tools),
//! which pages tag lists through `Link` when `tags.maxtags` is small, and can
//! be a pull-through cache (`proxy.remoteurl`); `ferro-oci-server`
//! (crates.io, `.tools/bin/ferro-oci-server`), a third implementation;
//! olareg (`.tools/bin/olareg`), which keeps each repository as an OCI
//! layout; and go-containerregistry's in-memory registry (`crane registry
//! serve`, `.tools/bin/crane`), whose DELETE by digest answers 202 and keeps
//! serving the tag.
//!
//! Tests run against the reference registry rather than a mock: a test that
//! cannot get its registry panics, it never passes without one.
//!
//! Design decisions:
//! - The port is found by binding `127.0.0.1:0` and handing the number to the
//!   registry. Another process can take it in between, so a start whose
//!   registry dies with "address already in use" is retried on a new port.
//! - Every registry answers with a header carrying a random nonce (the config's
//!   `http.headers`; olareg's `--warning`, a `Warning` header on every
//!   answer). The readiness probe checks it, so a registry that lost the
//!   port race is never mistaken for the one that won it. ferro-oci-server
//!   has no such setting. crane's registry takes no port: it listens on one
//!   the kernel picks (`--address 127.0.0.1:0`) and logs `serving on port N`,
//!   so there is no race to lose and no nonce is needed.
//! - The probe speaks HTTP/1.1 by hand (`super::http`): the harness needs no
//!   HTTP client crate, and the requests it makes are tiny. A TLS registry is
//!   probed over TLS trusting only the test CA, so a start also proves the
//!   certificate is served and valid for `127.0.0.1`.
//! - A registry that authenticates ([`RegistryAuth`]) is probed with
//!   credentials and must answer 200: an htpasswd registry with its first
//!   user's (with no users: a 401 `Basic` challenge is the readiness
//!   sign), a token registry with a token the harness signs itself, so a
//!   start also proves the registry trusts the token server's key. Probes
//!   never go through the token server, so its request log holds only the
//!   tests' requests.
//! - A token registry's token server is started first, on its own port
//!   (bound and kept, so it never races), and lives as long as the registry.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use tempfile::TempDir;

use super::auth::{
    basic_authorization, bearer_authorization, write_htpasswd, KeyRef, RegistryAuth,
};
use super::http::{send, RawResponse, Transport};
use super::token_server::TokenServer;

mod launch;
use launch::{
    free_loopback_port, prepare_auth, random_hex, read_log, render_config, spawn, spawn_crane,
    spawn_ferro, spawn_olareg, tail, wait_ready, StartFailure,
};

/// Overrides the registry binary (a path or a name looked up in `PATH`).
pub const REGISTRY_BIN_ENV: &str = "KLOSET_TEST_REGISTRY_BIN";
const DEFAULT_REGISTRY_BIN: &str = "docker-registry";

/// How long a started registry has to answer `GET /v2/` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const PROBE_INTERVAL: Duration = Duration::from_millis(25);
/// Starts tried before giving up on port races.
const PORT_ATTEMPTS: usize = 8;
/// Lines of the registry's log quoted in a start-up panic.
const LOG_TAIL_LINES: usize = 30;

/// The response header whose value identifies one registry instance.
const NONCE_HEADER: &str = "x-kloset-test-registry";

/// Which registry program a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Implementation {
    /// Debian's `docker-registry`, distribution 2.8: ignores `n` on tag lists.
    #[default]
    Distribution2,
    /// CNCF distribution v3.1.1 (`go install`, scripts/setup-go-tools): clamps
    /// `n` to `tags.maxtags` and pages the rest through `Link`.
    Distribution3,
    /// `ferro-oci-server` 1.0.0 (crates.io, `cargo install`): configured by
    /// environment only, so no TLS, no auth, no nonce header, deletes always on.
    Ferro,
    /// olareg v0.2.2 (built by scripts/setup-go-tools): each repository an OCI
    /// layout under the storage root; TLS, and deletes on or off (manifests
    /// and blobs, as distribution's `storage.delete.enabled`); no auth
    /// here (its own file format and token scheme). Pages tags by `n` with
    /// `Link`, with no page limit of its own.
    Olareg,
    /// go-containerregistry v0.22.1's `crane registry serve`: manifests in
    /// memory, blobs in the temporary directory (`--disk`); plain HTTP, no
    /// auth, DELETE always answered 202. A DELETE by digest removes only the
    /// digest's entry: the tag keeps serving the manifest. `n` cuts a tag
    /// list short with no `Link` to the rest; blob mounts are not done.
    Crane,
}

impl Implementation {
    /// A short name for messages and the README table.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Distribution2 => "distribution 2.8",
            Implementation::Distribution3 => "distribution v3.1.1",
            Implementation::Ferro => "ferro-oci-server 1.0.0",
            Implementation::Olareg => "olareg v0.2.2",
            Implementation::Crane => "crane registry v0.22.1",
        }
    }
}

/// How a test registry is configured.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Which program serves (distribution 2.8 by default).
    pub implementation: Implementation,
    /// distribution v3's `tags.maxtags`: a tag list asked for more than this
    /// (`n`) answers this many and a `Link` to the rest. Without `n` v3 still
    /// answers every tag at once. v3 only.
    pub max_tags: Option<u32>,
    /// `proxy.remoteurl`: serve as a pull-through cache (a read-only mirror)
    /// of this registry (`http://127.0.0.1:PORT`). distribution only.
    pub proxy_remote: Option<String>,
    /// `storage.delete.enabled`: whether `DELETE` of manifests and blobs is
    /// allowed. When off, distribution answers 405 `UNSUPPORTED`, as several
    /// public registries do.
    pub delete_enabled: bool,
    /// Serve HTTPS with these files (`http.tls`) instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How clients must authenticate (`auth`); none by default.
    pub auth: RegistryAuth,
    /// Listen on this loopback port instead of a free one (a test in a
    /// network namespace of its own can have the README's `localhost:5000`).
    pub port: Option<u16>,
    /// `http.host`: the base URL distribution writes into the URLs it
    /// generates (upload `Location`s) instead of the one it was asked at,
    /// as behind a TLS-terminating proxy. Set to another scheme or port, it
    /// is a registry misconfigured (or made hostile) to send clients
    /// elsewhere. distribution only.
    pub public_url: Option<String>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            implementation: Implementation::Distribution2,
            max_tags: None,
            proxy_remote: None,
            delete_enabled: true,
            tls: None,
            auth: RegistryAuth::None,
            port: None,
            public_url: None,
        }
    }
}

/// What a registry serving TLS needs (see `super::tls::TestPki::server_files`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate (PEM), valid for `127.0.0.1`.
    pub certificate: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA certificate (PEM) the harness trusts when it talks to the
    /// registry itself (readiness probe, [`Registry::send`]).
    pub ca: PathBuf,
}

/// A running registry. Dropping it kills the process, waits for it, then
/// removes its temporary directory and stops its token server, if any.
pub struct Registry {
    child: Child,
    implementation: Implementation,
    port: u16,
    transport: Transport,
    root: PathBuf,
    auth: RegistryAuth,
    token_server: Option<TokenServer>,
    // Dropped after `Drop::drop` has reaped the process, so nothing is still
    // writing into the directory when it is removed.
    dir: TempDir,
}

impl Registry {
    /// Starts a registry, or panics saying why it could not: the binary is
    /// missing, the process exited early (its log's tail is quoted), or
    /// `/v2/` did not answer 200 within 15 seconds (over TLS: with a
    /// certificate the test CA vouches for; with authentication: to the
    /// probe's credentials, see the module docs). A token registry's token
    /// server starts first.
    pub fn start(opts: RegistryOptions) -> Registry {
        Self::try_start(opts).unwrap_or_else(|why| panic!("{why}"))
    }

    /// As [`Registry::start`], with an explicit binary. The harness's own tests
    /// use it to check the failure paths without touching the environment,
    /// which other tests in the process share.
    pub fn start_with_binary(bin: &OsStr, opts: RegistryOptions) -> Registry {
        Self::try_start_with_binary(bin, opts).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts a distribution 2.8 (Debian's `docker-registry`, or
    /// `$KLOSET_TEST_REGISTRY_BIN`) with `opts`; says why it could not
    /// instead of panicking (the bench reports it as its own error).
    pub fn try_start(opts: RegistryOptions) -> Result<Registry, String> {
        let bin = match opts.implementation {
            Implementation::Distribution2 => registry_binary(),
            Implementation::Distribution3 => tool_binary(REGISTRY_V3_BIN_ENV, "registry", SETUP_GO),
            Implementation::Ferro => tool_binary(FERRO_BIN_ENV, "ferro-oci-server", SETUP_FERRO),
            Implementation::Olareg => tool_binary(OLAREG_BIN_ENV, "olareg", SETUP_GO),
            Implementation::Crane => tool_binary(CRANE_BIN_ENV, "crane", SETUP_GO),
        };
        Self::try_start_with_binary(&bin, opts)
    }

    fn try_start_with_binary(bin: &OsStr, opts: RegistryOptions) -> Result<Registry, String> {
        check_options(&opts);
        let dir = tempfile::Builder::new()
            .prefix("kloset-test-registry-")
            .tempdir()
            .unwrap_or_else(|e| panic!("test registry: cannot create a temporary directory: {e}"));
        let root = dir.path().join("storage");
        fs::create_dir(&root)
            .unwrap_or_else(|e| panic!("test registry: cannot create {}: {e}", root.display()));
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");
        let transport = match &opts.tls {
            None => Transport::Plain,
            Some(files) => Transport::Tls(crate::tls::client_config_trusting(&files.ca)),
        };
        let (auth_config, token_server, probe) = prepare_auth(&opts.auth, dir.path());

        for attempt in 1..=PORT_ATTEMPTS {
            let mut port = opts.port.unwrap_or_else(free_loopback_port);
            let nonce = random_hex(16);
            // The header that identifies this instance, and its value.
            let (mut child, identity) = match opts.implementation {
                Implementation::Ferro => (spawn_ferro(bin, port, &root, &log_path), None),
                Implementation::Olareg => {
                    let child = spawn_olareg(bin, port, &root, &log_path, &nonce, &opts);
                    (child, Some(("warning", format!("299 - \"{nonce}\""))))
                }
                Implementation::Crane => {
                    let (child, listening) = spawn_crane(bin, opts.port, &root, &log_path)?;
                    port = listening;
                    (child, None)
                }
                Implementation::Distribution2 | Implementation::Distribution3 => {
                    let config =
                        render_config(&root, port, &random_hex(32), &nonce, &opts, &auth_config);
                    fs::write(&config_path, config).unwrap_or_else(|e| {
                        panic!("test registry: cannot write {}: {e}", config_path.display())
                    });
                    let child = spawn(bin, &config_path, &log_path);
                    (child, Some((NONCE_HEADER, nonce)))
                }
            };
            let identity = identity.as_ref().map(|(h, v)| (*h, v.as_str()));
            let next_probe = || probe.request(token_server.as_ref());
            match wait_ready(&mut child, &transport, port, identity, &next_probe) {
                Ok(()) => {
                    return Ok(Registry {
                        child,
                        implementation: opts.implementation,
                        port,
                        transport,
                        root,
                        auth: opts.auth,
                        token_server,
                        dir,
                    })
                }
                Err(StartFailure::Exited(status)) => {
                    let log = read_log(&log_path);
                    let lost_port = log.contains("address already in use")
                        || log.contains("Address already in use");
                    if lost_port && attempt < PORT_ATTEMPTS && opts.port.is_none() {
                        continue; // lost the port to another process: pick another
                    }
                    let command = match opts.implementation {
                        Implementation::Distribution2 | Implementation::Distribution3 => {
                            format!("{} serve {}", bin.to_string_lossy(), config_path.display())
                        }
                        _ => bin.to_string_lossy().into_owned(),
                    };
                    return Err(format!(
                        "test registry: `{command}` exited early ({status}) on port {port}; \
                         last lines of its log:\n{}",
                        tail(&log, LOG_TAIL_LINES),
                    ));
                }
                Err(StartFailure::NotReady(last)) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "test registry: GET {}://127.0.0.1:{port}/v2/ ({}) did not answer \
                         as expected within {READY_TIMEOUT:?} (last probe: {last}); \
                         last lines of its log:\n{}",
                        transport.scheme(),
                        probe.describe(),
                        tail(&read_log(&log_path), LOG_TAIL_LINES),
                    ));
                }
            }
        }
        unreachable!("the last attempt either returns or fails")
    }

    /// Which program serves.
    pub fn implementation(&self) -> Implementation {
        self.implementation
    }

    /// `http://127.0.0.1:PORT` (or `https://`): what a mirror's
    /// `proxy.remoteurl` names.
    pub fn url(&self) -> String {
        format!("{}://{}", self.transport.scheme(), self.authority())
    }

    /// The `GET /v2/<repo>/tags/list` requests in the access log, as their
    /// request lines (distribution logs one line per request, after
    /// answering it: wait a moment for the last).
    pub fn tag_list_requests(&self, repo: &str) -> Vec<String> {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let needle = format!("\"GET /v2/{repo}/tags/list");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(|l| l.split('"').nth(1).unwrap_or_default().to_string())
            .collect()
    }

    /// The registry's log so far (distribution writes its access log there:
    /// one line per request, which tests count requests by).
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    /// Where the registry writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The store location of a repository in this registry:
    /// `oci://127.0.0.1:PORT/<repo>`, whether it serves TLS or not.
    pub fn location(&self, repo: &str) -> String {
        format!("oci://{}/{repo}", self.authority())
    }

    /// Whether the registry serves HTTPS (started with `RegistryOptions::tls`).
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// A store configuration for a repository in this registry: the location,
    /// plus `use_tls=false` when the registry speaks plain HTTP. For a TLS
    /// registry the caller adds how the host is to trust it; for a registry
    /// that authenticates, the credentials (`username`/`password`, `token`):
    /// this never holds any.
    pub fn config(&self, repo: &str) -> Vec<(String, String)> {
        let mut config = vec![("location".to_string(), self.location(repo))];
        if !self.is_tls() {
            config.push(("use_tls".to_string(), "false".to_string()));
        }
        config
    }

    /// How clients must authenticate, as started.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// The token server of a token-auth registry (its realm, recorded
    /// requests, signing key); `None` for other registries.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`);
    /// distribution keeps its data under `docker/registry/v2/` in it.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Where the registry keeps the blob of sha256 `hex` on disk.
    pub fn blob_path(&self, hex: &str) -> PathBuf {
        match self.implementation {
            Implementation::Distribution2 | Implementation::Distribution3 => self
                .root
                .join("docker/registry/v2/blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data"),
            // ferro-blob-store's FsBlobStore: <root>/sha256/<2 hex>/<the rest>.
            Implementation::Ferro => self.root.join("sha256").join(&hex[..2]).join(&hex[2..]),
            // crane's `--disk` (pkg/registry/blobs_disk.go): <root>/sha256/<hex>.
            Implementation::Crane => self.root.join("sha256").join(hex),
            // An OCI layout per repository: <root>/<repo>/blobs/sha256/<hex>.
            // The blob is found in whichever repository holds it (tests use
            // fresh repositories, so there is one).
            Implementation::Olareg => find_file(&self.root, hex, "blobs/sha256")
                .unwrap_or_else(|| self.root.join("<no repository>/blobs/sha256").join(hex)),
        }
    }

    /// The temporary directory holding the config, the log and the storage root.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends `METHOD PATH` with no body and returns the status code. Panics
    /// on an I/O error: the registry is expected to be up.
    pub fn status_of(&self, method: &str, path: &str) -> u16 {
        self.send(method, path, &[], &[]).status
    }

    /// Sends a request (see [`send`]) to this registry, over TLS trusting
    /// the test CA when it serves TLS. Panics on an I/O error: the registry
    /// is expected to be up.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        send(&self.transport, self.port, method, path, headers, body).unwrap_or_else(|e| {
            panic!(
                "test registry: {method} {path} on {}: {e}",
                self.authority()
            )
        })
    }
}

/// When set to a directory, each registry's log is copied there when the
/// registry stops (its temporary directory goes away), to debug a failure.
pub const KEEP_LOGS_ENV: &str = "KLOSET_TEST_KEEP_REGISTRY_LOGS";

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(keep) = std::env::var_os(KEEP_LOGS_ENV) {
            let target = Path::new(&keep).join(format!("registry-{}.log", self.port));
            let _ = std::fs::copy(self.dir.path().join("registry.log"), target);
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("authority", &self.authority())
            .field("transport", &self.transport)
            .field("root", &self.root)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// The registry binary [`Registry::start`] runs: `$KLOSET_TEST_REGISTRY_BIN`
/// when set, else `docker-registry` from `PATH`.
pub fn registry_binary() -> OsString {
    std::env::var_os(REGISTRY_BIN_ENV)
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| OsString::from(DEFAULT_REGISTRY_BIN))
}

/// Overrides distribution v3's binary (default: `.tools/bin/registry`).
pub const REGISTRY_V3_BIN_ENV: &str = "KLOSET_TEST_REGISTRY_V3_BIN";
/// Overrides ferro-oci-server's binary (default: `.tools/bin/ferro-oci-server`).
pub const FERRO_BIN_ENV: &str = "KLOSET_TEST_FERRO_BIN";
/// Overrides olareg's binary (default: `.tools/bin/olareg`).
pub const OLAREG_BIN_ENV: &str = "KLOSET_TEST_OLAREG_BIN";
/// Overrides crane's binary (default: `.tools/bin/crane`), for its registry
/// as for the client (`crate::clients`).
pub const CRANE_BIN_ENV: &str = "KLOSET_TEST_CRANE_BIN";
const SETUP_GO: &str = "scripts/setup-go-tools";
const SETUP_FERRO: &str =
    "scripts/setup, or: cargo install --locked --root .tools ferro-oci-server --version 1.0.0";

/// A tool installed into the project's `.tools/bin` by a setup script, or the
/// path in `env`. Panics when it is not there: a test that needs another
/// registry or client fails loudly without it, it is never skipped.
pub fn tool_binary(env: &str, name: &str, setup: &str) -> OsString {
    if let Some(path) = std::env::var_os(env).filter(|b| !b.is_empty()) {
        return path;
    }
    let path = project_root().join(".tools/bin").join(name);
    if !path.is_file() {
        panic!(
            "{name} not found at {}: run {setup} (or set {env} to its path)",
            path.display()
        );
    }
    path.into_os_string()
}

/// The project's root (the workspace's, which holds `Cargo.lock` and
/// `.tools`), whichever of its crates compiles this harness: the plugin's
/// tests include it from `plakar-plugin/`.
fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Refuses combinations a program cannot serve, rather than start something
/// other than what the test asked for.
fn check_options(opts: &RegistryOptions) {
    let which = opts.implementation;
    if opts.max_tags.is_some() && which != Implementation::Distribution3 {
        panic!(
            "test registry: tags.maxtags is a distribution v3 setting; {} has none",
            which.name()
        );
    }
    if which == Implementation::Ferro {
        assert!(
            opts.tls.is_none() && matches!(opts.auth, RegistryAuth::None),
            "test registry: ferro-oci-server serves plain HTTP without auth only"
        );
        assert!(
            opts.proxy_remote.is_none(),
            "test registry: ferro-oci-server is no proxy"
        );
        assert!(
            opts.public_url.is_none(),
            "test registry: ferro-oci-server has no http.host setting"
        );
        assert!(
            opts.delete_enabled,
            "test registry: ferro-oci-server always allows DELETE"
        );
    }
    if which == Implementation::Olareg {
        assert!(
            matches!(opts.auth, RegistryAuth::None),
            "test registry: olareg is run without auth here (its basic-auth file and \
             opaque tokens are not distribution's htpasswd and token server)"
        );
        assert!(
            opts.proxy_remote.is_none(),
            "test registry: olareg is no proxy"
        );
        assert!(
            opts.public_url.is_none(),
            "test registry: olareg's --external-url only names its token realm"
        );
    }
    if which == Implementation::Crane {
        assert!(
            opts.tls.is_none() && matches!(opts.auth, RegistryAuth::None),
            "test registry: crane registry serve serves plain HTTP without auth only"
        );
        assert!(
            opts.proxy_remote.is_none(),
            "test registry: crane registry serve is no proxy"
        );
        assert!(
            opts.public_url.is_none(),
            "test registry: crane registry serve has no base URL setting"
        );
        assert!(
            opts.delete_enabled,
            "test registry: crane registry serve always answers DELETE (202)"
        );
    }
}

/// The file named `name` in a directory ending in `parent` somewhere under
/// `root`.
fn find_file(root: &Path, name: &str, parent: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name, parent) {
                return Some(found);
            }
        } else if path.file_name() == Some(OsStr::new(name)) && root.ends_with(parent) {
            return Some(path);
        }
    }
    None
}

/// A fresh repository name, `<prefix>-<16 hex digits>`, so that tests sharing
/// one registry never collide. The prefix is lowercased; it panics if it then
/// is not a valid start of a repository name (letters, digits, and `.`, `_`,
/// `-`, `/` inside).
pub fn unique_repo(prefix: &str) -> String {
    let prefix = prefix.to_ascii_lowercase();
    let valid = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
    assert!(
        valid,
        "unique_repo: {prefix:?} cannot start a repository name"
    );
    format!("{prefix}-{}", random_hex(8))
}
