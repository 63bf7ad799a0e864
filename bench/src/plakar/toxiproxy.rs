//! The simulated wide-area link: Toxiproxy (a TCP proxy whose "toxics"
//! add latency and cap bandwidth per direction) in front of the registry.
//! The kernel's netem qdisc is not available on these machines.
//!
//! Toxiproxy can count the bytes it forwards (`-proxy-metrics`), but adds
//! a connection's bytes to its counters only when that connection closes
//! (tried here: a request's bytes up were not counted while its connection
//! stayed open), and a home's `plakar cached` keeps its plugin, and so its
//! connections, across commands: its counts cannot be split by command.
//! The bytes a command read come from the registry's access log instead
//! (`requests.rs`).
//! `scripts/setup-go-tools` installs `toxiproxy-server` in `.tools/bin`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::BenchError;

/// Overrides the toxiproxy-server binary.
const BIN_ENV: &str = "KLOSET_BENCH_TOXIPROXY";

/// The link's shape.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shape {
    /// Round-trip time added: half on the way up, half on the way down.
    pub rtt_ms: u64,
    /// Bandwidth each way, in Mbit/s.
    pub mbit_per_s: u64,
}

impl Shape {
    /// The bandwidth each way, in bytes a second.
    pub fn bytes_per_s(self) -> f64 {
        self.mbit_per_s as f64 * 1e6 / 8.0
    }
}

/// About 40 ms round trip and 200 Mbit/s, as issue 12 asked.
pub const WAN: Shape = Shape {
    rtt_ms: 40,
    mbit_per_s: 200,
};

/// The slower link issue 23 adds: 100 ms round trip, 50 Mbit/s.
pub const SLOW_WAN: Shape = Shape {
    rtt_ms: 100,
    mbit_per_s: 50,
};

pub struct Toxiproxy {
    child: Child,
    api: u16,
    _dir: TempDir,
}

fn binary() -> PathBuf {
    std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/toxiproxy-server")
        })
}

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("toxiproxy: {e}"))
}

impl Toxiproxy {
    pub fn start() -> Result<Toxiproxy, BenchError> {
        let bin = binary();
        if !bin.is_file() {
            return Err(setup(format!(
                "no toxiproxy-server at {} (run scripts/setup-go-tools, or set {BIN_ENV})",
                bin.display()
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("kloset-bench-toxiproxy-")
            .tempdir()
            .map_err(setup)?;
        let api = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(setup)?
            .port();
        let log = std::fs::File::create(dir.path().join("toxiproxy.log")).map_err(setup)?;
        let child = Command::new(&bin)
            .args(["-host", "127.0.0.1", "-port", &api.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(setup)?)
            .stderr(log)
            .spawn()
            .map_err(|e| setup(format!("cannot run {}: {e}", bin.display())))?;
        let mut proxy = Toxiproxy {
            child,
            api,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = proxy.child.try_wait().map_err(setup)? {
                return Err(setup(format!("exited early ({status})")));
            }
            if proxy.call("GET", "/version", None).is_ok() {
                return Ok(proxy);
            }
            if Instant::now() > deadline {
                return Err(setup("its API did not answer in 15 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A shaped link to `upstream` (`HOST:PORT`) on a free loopback port.
    pub fn link(&self, name: &str, upstream: &str, shape: Shape) -> Result<Link<'_>, BenchError> {
        let made = self.call(
            "POST",
            "/proxies",
            Some(json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true})),
        )?;
        let authority = made["listen"]
            .as_str()
            .ok_or_else(|| setup(format!("no listen address in {made}")))?
            .to_string();
        let link = Link {
            proxy: self,
            name: name.to_string(),
            authority,
        };
        // toxiproxy's bandwidth rate is in KB/s of 1000 bytes.
        let rate = shape.mbit_per_s * 1_000_000 / 8 / 1000;
        for stream in ["upstream", "downstream"] {
            for (kind, attributes) in [
                ("latency", json!({"latency": shape.rtt_ms / 2, "jitter": 0})),
                ("bandwidth", json!({"rate": rate})),
            ] {
                self.call(
                    "POST",
                    &format!("/proxies/{name}/toxics"),
                    Some(json!({
                        "name": format!("{kind}-{stream}"),
                        "type": kind,
                        "stream": stream,
                        "toxicity": 1.0,
                        "attributes": attributes,
                    })),
                )?;
            }
        }
        Ok(link)
    }

    /// One call to the API (HTTP/1.1, one connection per call).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, BenchError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.api)).map_err(setup)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(setup)?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(setup)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(setup)?;
        let text = String::from_utf8_lossy(&answer);
        let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if !(200..300).contains(&status) {
            return Err(setup(format!("{method} {path}: {head}\n{payload}")));
        }
        let payload = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(payload)
        } else {
            payload.to_string()
        };
        if payload.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&payload).or(Ok(Value::Null))
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Toxiproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shaped link; removed from the proxy when dropped.
pub struct Link<'a> {
    proxy: &'a Toxiproxy,
    name: String,
    pub authority: String,
}

impl Drop for Link<'_> {
    fn drop(&mut self) {
        let _ = self
            .proxy
            .call("DELETE", &format!("/proxies/{}", self.name), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kloset_testkit::{Registry, RegistryOptions};

    /// One request through the shaped link takes at least the round trip,
    /// and reaches the registry (its nonce header comes back).
    #[test]
    fn the_link_adds_its_round_trip_and_forwards() {
        let registry = Registry::start(RegistryOptions::default());
        let proxy = Toxiproxy::start().expect("toxiproxy starts");
        let link = proxy
            .link("unit", &registry.authority(), WAN)
            .expect("a shaped link");
        let start = Instant::now();
        let mut stream = TcpStream::connect(link.authority.as_str()).expect("connect");
        stream
            .write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("answer");
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("x-kloset-test-registry:"),
            "{text}"
        );
        assert!(
            took >= Duration::from_millis(WAN.rtt_ms),
            "a request took {took:?}, under the {} ms round trip",
            WAN.rtt_ms
        );
    }
}
