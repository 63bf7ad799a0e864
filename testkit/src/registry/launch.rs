//! Starting a registry process: its configuration file, the process, the
//! readiness probe (with the credentials its auth asks for), and reading
//! its log.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Instant;

use super::*;

/// How the readiness probe authenticates, and what it waits for.
pub(super) enum Probe {
    /// No authentication: 200 without credentials.
    Open,
    /// htpasswd: 200 with this `Authorization: Basic` value.
    Basic(String),
    /// htpasswd without users: a 401 with a `Basic` challenge.
    BasicChallenge,
    /// Token auth: 200 with a token the harness signs with the token
    /// server's key, with the server's claims but for `exp`.
    Token,
}

/// One probe: its `Authorization` value, and whether the answer is readiness.
pub(super) struct ProbeRequest {
    authorization: Option<String>,
    challenge: bool,
}

impl ProbeRequest {
    fn accepts(&self, response: &RawResponse) -> bool {
        if self.challenge {
            response.status == 401
                && response
                    .header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Basic "))
        } else {
            response.status == 200
        }
    }
}

impl Probe {
    pub(super) fn request(&self, token_server: Option<&TokenServer>) -> ProbeRequest {
        let authorization = match self {
            Probe::Open | Probe::BasicChallenge => None,
            Probe::Basic(value) => Some(value.clone()),
            Probe::Token => {
                let server = token_server.expect("a token registry has a token server");
                // Valid for a minute whatever the configured lifetime (even 0).
                let mut claims = server.claims("kloset-test-readiness-probe", &[]);
                claims["exp"] = serde_json::json!(crate::auth::unix_now() as i64 + 60);
                Some(bearer_authorization(&server.sign(&claims, KeyRef::X5c)))
            }
        };
        ProbeRequest {
            authorization,
            challenge: matches!(self, Probe::BasicChallenge),
        }
    }

    pub(super) fn describe(&self) -> &'static str {
        match self {
            Probe::Open => "no credentials, expecting 200",
            Probe::Basic(_) => "the first htpasswd user's credentials, expecting 200",
            Probe::BasicChallenge => "no credentials, expecting a 401 Basic challenge",
            Probe::Token => "a token signed with the token server's key, expecting 200",
        }
    }
}

/// The `auth` section of the registry's config, the token server (started
/// here) of a token registry, and how to probe the registry. Writes an
/// htpasswd registry's user file into `dir`.
pub(super) fn prepare_auth(
    auth: &RegistryAuth,
    dir: &Path,
) -> (String, Option<TokenServer>, Probe) {
    let quote = |text: &str| serde_json::to_string(text).expect("a string");
    match auth {
        RegistryAuth::None => (String::new(), None, Probe::Open),
        RegistryAuth::Htpasswd { users } => {
            let path = dir.join("htpasswd");
            // distribution 2.8 would otherwise invent a user `docker` with a
            // random password (logged) when the file is missing: always write it.
            write_htpasswd(&path, users);
            let config = format!(
                "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                quote(crate::auth::HTPASSWD_REALM),
                quote(&path.to_string_lossy())
            );
            let probe = match users.first() {
                Some((user, password)) => Probe::Basic(basic_authorization(user, password)),
                None => Probe::BasicChallenge,
            };
            (config, None, probe)
        }
        RegistryAuth::Token(settings) => {
            let server = TokenServer::start(settings.clone());
            let config = format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                quote(&server.realm()),
                quote(server.service()),
                quote(server.issuer()),
                quote(&server.certificate_pem().to_string_lossy())
            );
            (config, Some(server), Probe::Token)
        }
    }
}

pub(super) enum StartFailure {
    /// The process ended before answering.
    Exited(std::process::ExitStatus),
    /// Still running but not answering 200 in time; says what the last probe saw.
    NotReady(String),
}

pub(super) fn wait_ready(
    child: &mut Child,
    transport: &Transport,
    port: u16,
    identity: Option<(&str, &str)>,
    probe: &dyn Fn() -> ProbeRequest,
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child
            .try_wait()
            .expect("test registry: cannot poll the process")
        {
            return Err(StartFailure::Exited(status));
        }
        let request = probe();
        let headers: Vec<(&str, &str)> = match &request.authorization {
            Some(value) => vec![("Authorization", value)],
            None => Vec::new(),
        };
        let seen = match send(transport, port, "GET", "/v2/", &headers, &[]) {
            // Someone else's server on this port: ours will fail to bind and
            // exit, and the caller retries on another port.
            Ok(resp) if identity.is_some_and(|(name, value)| resp.header(name) != Some(value)) => {
                format!("HTTP {} from another server", resp.status)
            }
            Ok(resp) if request.accepts(&resp) => {
                // Reap a process that answered then died at once, rather than
                // hand out a registry that is gone.
                if let Some(status) = child
                    .try_wait()
                    .expect("test registry: cannot poll the process")
                {
                    return Err(StartFailure::Exited(status));
                }
                return Ok(());
            }
            Ok(resp) => format!("HTTP {}", resp.status),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(StartFailure::NotReady(seen));
        }
        thread::sleep(PROBE_INTERVAL);
    }
}

pub(super) fn spawn(bin: &OsStr, config: &Path, log_path: &Path) -> Child {
    let log = File::create(log_path)
        .unwrap_or_else(|e| panic!("test registry: cannot create {}: {e}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("test registry: cannot share the log file: {e}"));
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // distribution reads `REGISTRY_<SECTION>_<KEY>` variables as overrides of
    // its config file: keep the environment from changing the test setup.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(key);
        }
    }
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            // A script written a moment ago (the harness's own tests use one)
            // can be briefly "busy" while another test thread forks with its
            // write descriptor still open; that passes once the fork execs.
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            result => break result,
        }
    }
    .unwrap_or_else(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            panic!(
                "test registry: binary `{}` not found: install Debian's docker-registry package \
                 (scripts/setup does) or set {REGISTRY_BIN_ENV} to its path; distribution v3 \
                 and ferro-oci-server: scripts/setup-go-tools and scripts/setup install them \
                 into .tools/bin ({REGISTRY_V3_BIN_ENV}, {FERRO_BIN_ENV} override)",
                bin.to_string_lossy()
            )
        }
        panic!("test registry: cannot run `{}`: {e}", bin.to_string_lossy())
    })
}

/// ferro-oci-server reads its settings from the environment only
/// (`FERRO_OCI_LISTEN`, `FERRO_OCI_STORAGE_DIR`). It sends no nonce header;
/// a lost port race shows as "Address already in use" and an early exit.
pub(super) fn spawn_ferro(bin: &OsStr, port: u16, root: &Path, log_path: &Path) -> Child {
    let log = File::create(log_path)
        .unwrap_or_else(|e| panic!("test registry: cannot create {}: {e}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("test registry: cannot share the log file: {e}"));
    Command::new(bin)
        .env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRO_OCI_STORAGE_DIR", root)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("test registry: cannot run `{}`: {e}", bin.to_string_lossy()))
}

/// olareg v0.2.2 (`cmd/olareg/serve.go`): `serve` with `--addr`, `--port`,
/// `--dir` (an OCI layout per repository under it), `--tls-cert`/`--tls-key`,
/// `--api-delete` (manifests) and `--api-blob-delete` (blobs, needs the
/// former), both off by default; `--warning TEXT` adds `Warning: 299 -
/// "TEXT"` to every answer, which carries the nonce. A lost port race shows
/// as "address already in use" and an early exit.
pub(super) fn spawn_olareg(
    bin: &OsStr,
    port: u16,
    root: &Path,
    log_path: &Path,
    nonce: &str,
    opts: &RegistryOptions,
) -> Child {
    let mut cmd = Command::new(bin);
    cmd.args(["--verbosity", "info", "serve", "--addr", "127.0.0.1"])
        .arg("--port")
        .arg(port.to_string())
        .arg("--dir")
        .arg(root)
        .args(["--store-type", "dir", "--warning", nonce]);
    if opts.delete_enabled {
        cmd.args(["--api-delete", "--api-blob-delete"]);
    }
    if let Some(tls) = &opts.tls {
        cmd.arg("--tls-cert")
            .arg(&tls.certificate)
            .arg("--tls-key")
            .arg(&tls.key);
    }
    run_logged(cmd, bin, log_path)
}

/// go-containerregistry's `crane registry serve` (`cmd/crane/cmd/serve.go`):
/// `--address HOST:PORT` (`:0` or `$PORT` otherwise), `--disk DIR` for blobs
/// (manifests stay in memory). It listens first, then logs `serving on port
/// N` (Go's `log`, on stderr): that line is its readiness signal, and names
/// the port the kernel picked when `port` is `None`. Says why when the line
/// never comes.
pub(super) fn spawn_crane(
    bin: &OsStr,
    port: Option<u16>,
    root: &Path,
    log_path: &Path,
) -> Result<(Child, u16), String> {
    let mut cmd = Command::new(bin);
    cmd.args(["registry", "serve", "--address"])
        .arg(format!("127.0.0.1:{}", port.unwrap_or(0)))
        .arg("--disk")
        .arg(root)
        // It reads $PORT when --address is not given: keep it from mattering.
        .env_remove("PORT");
    let mut child = run_logged(cmd, bin, log_path);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let log = read_log(log_path);
        let listening = log.lines().find_map(|line| {
            let (_, after) = line.split_once("serving on port ")?;
            after.trim().parse::<u16>().ok()
        });
        if let Some(port) = listening {
            return Ok((child, port));
        }
        let exited = child
            .try_wait()
            .expect("test registry: cannot poll the process");
        if exited.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let why = match exited {
                Some(status) => format!("exited early ({status})"),
                None => format!("did not log `serving on port N` within {READY_TIMEOUT:?}"),
            };
            return Err(format!(
                "test registry: `{} registry serve` {why}; last lines of its log:\n{}",
                bin.to_string_lossy(),
                tail(&log, LOG_TAIL_LINES),
            ));
        }
        thread::sleep(PROBE_INTERVAL);
    }
}

/// Runs `cmd` with its output into `log_path`; a binary that is not there
/// fails the test naming the setup script that installs it.
fn run_logged(mut cmd: Command, bin: &OsStr, log_path: &Path) -> Child {
    let log = File::create(log_path)
        .unwrap_or_else(|e| panic!("test registry: cannot create {}: {e}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("test registry: cannot share the log file: {e}"));
    cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
    cmd.spawn().unwrap_or_else(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            panic!(
                "test registry: binary `{}` not found: scripts/setup-go-tools installs olareg \
                 and crane into .tools/bin ({OLAREG_BIN_ENV}, {CRANE_BIN_ENV} override)",
                bin.to_string_lossy()
            )
        }
        panic!("test registry: cannot run `{}`: {e}", bin.to_string_lossy())
    })
}

/// A port that was free a moment ago. The listener is closed on return so the
/// registry can bind it; see the module docs for the race this leaves.
pub(super) fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("test registry: cannot bind a loopback port: {e}"))
}

pub(super) fn render_config(
    root: &Path,
    port: u16,
    secret: &str,
    nonce: &str,
    opts: &RegistryOptions,
    auth: &str,
) -> String {
    // A JSON string is a valid YAML double-quoted scalar: it escapes whatever
    // the temporary path holds.
    let quote = |path: &Path| serde_json::to_string(&path.to_string_lossy()).expect("a string");
    let root = quote(root);
    let tls = match &opts.tls {
        None => String::new(),
        Some(files) => format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            quote(&files.certificate),
            quote(&files.key)
        ),
    };
    let tags = match opts.max_tags {
        Some(n) => format!("tags:\n  maxtags: {n}\n"),
        None => String::new(),
    };
    let public_url = match &opts.public_url {
        Some(url) => format!("  host: {}\n", serde_json::to_string(url).unwrap()),
        None => String::new(),
    };
    let proxy = match &opts.proxy_remote {
        Some(url) => format!(
            "proxy:\n  remoteurl: {}\n",
            serde_json::to_string(url).unwrap()
        ),
        None => String::new(),
    };
    format!(
        "version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: {delete}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
  headers:
    X-Kloset-Test-Registry: [\"{nonce}\"]
{public_url}{tls}{auth}{tags}{proxy}",
        delete = opts.delete_enabled,
    )
}

pub(super) fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "(empty)".to_string();
    }
    lines[start..].join("\n")
}

pub(super) fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}
