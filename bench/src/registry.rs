//! The registry the bench measures against: a real `docker-registry`
//! (distribution 2.8, Debian's package) on a free loopback port with its own
//! temporary directory, started and stopped by the bench; or one the user
//! names (`--registry HOST:PORT`).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Overrides the registry binary, as the tests' harness does.
const REGISTRY_BIN_ENV: &str = "KLOSET_TEST_REGISTRY_BIN";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const PORT_ATTEMPTS: usize = 8;

/// A registry started by the bench; dropping it stops it and removes its data.
pub struct LocalRegistry {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl LocalRegistry {
    /// Starts one, retrying on another port if the chosen one was taken in
    /// between (the readiness probe checks a nonce header, so another server
    /// on the port is never mistaken for ours).
    pub fn start() -> io::Result<LocalRegistry> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_once() {
                Ok(registry) => return Ok(registry),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once() -> io::Result<LocalRegistry> {
        let dir = tempfile::Builder::new().prefix("kloset-bench-").tempdir()?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let nonce = format!("{:016x}", rand::random::<u64>());
        let config = dir.path().join("config.yml");
        std::fs::write(&config, render_config(dir.path(), port, &nonce))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let bin = std::env::var_os(REGISTRY_BIN_ENV)
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "docker-registry".into());
        let mut command = Command::new(&bin);
        command
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // distribution reads REGISTRY_* variables as config overrides.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(key);
            }
        }
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run `{}` (install Debian's docker-registry, or set \
                     {REGISTRY_BIN_ENV}): {e}",
                    bin.to_string_lossy()
                ),
            )
        })?;
        let mut registry = LocalRegistry {
            child,
            port,
            _dir: dir,
        };
        registry.wait_ready(&nonce)?;
        Ok(registry)
    }

    fn wait_ready(&mut self, nonce: &str) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "the registry exited early ({status})"
                )));
            }
            if probe(self.port).is_ok_and(|head| head_has_nonce(&head, nonce)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("the registry did not answer in 15 s"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its log: distribution writes one access-log line per request
    /// (`"METHOD URI HTTP/1.1" STATUS ...`) whatever the log level.
    pub fn log_path(&self) -> std::path::PathBuf {
        self._dir.path().join("registry.log")
    }

    /// Where it keeps what it stores.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /v2/` by hand; returns the answer's head.
fn probe(port: u16) -> io::Result<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.split("\r\n\r\n").next().unwrap_or("").to_string())
}

fn head_has_nonce(head: &str, nonce: &str) -> bool {
    head.starts_with("HTTP/1.1 200")
        && head.lines().any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("x-kloset-bench-registry") && value.trim() == nonce
            })
        })
}

fn render_config(root: &Path, port: u16, nonce: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    let root = serde_json::to_string(&root.join("data").to_string_lossy()).expect("a string");
    let secret = format!("{:032x}", rand::random::<u128>());
    format!(
        "version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
  headers:
    X-Kloset-Bench-Registry: [\"{nonce}\"]
"
    )
}
