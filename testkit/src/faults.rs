//! A fault-injecting HTTP/1.1 proxy in front of a test registry: what a real
//! registry does on a bad day (5xx, 429, dropped connections, short or
//! corrupted bodies) and what distribution never does (ignore `Range`, page
//! tags with opaque cursors), on demand.
//!
//! Design decisions:
//! - It parses HTTP/1.1 because faults act on whole requests and responses.
//!   Request bodies (`Content-Length` or chunked: the component streams
//!   manifest PUTs and large PATCHes chunked) are buffered, then forwarded
//!   with `Content-Length` over a fresh upstream connection per request
//!   (`Connection: close`), so the upstream side needs no keep-alive logic.
//!   Client connections are kept alive: the host pools them.
//! - `Location` headers naming the registry's authority are rewritten to the
//!   proxy's, so the store keeps talking through the proxy.
//! - A schedule (`Fn(&RequestInfo, n) -> Fault`, n counting requests from 0)
//!   decides per request; [`seeded`] builds a reproducible random one.

use super::wire::{forward, rewrite_locations, write_response, Message, Server};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and relay the answer unchanged.
    None,
    /// Answer this status itself (with `Retry-After: secs` when given),
    /// without forwarding.
    Status(u16, Option<u64>),
    /// Forward it, then close the client connection without answering.
    ResetBeforeResponse,
    /// Forward it, send the head with the real `Content-Length`, then only
    /// this many bytes of the body, and close.
    TruncateBody(usize),
    /// Forward it and flip every bit of the body's middle byte.
    CorruptByte,
    /// Strip `Range` before forwarding: the registry answers 200, whole.
    IgnoreRange,
    /// Answer a `GET .../tags/list` itself from the registry's full list,
    /// this many tags per page, the next page named by an opaque cursor, in
    /// reverse order (ECR's order is not lexical either).
    PageTags(usize),
    /// Close the connection without forwarding or answering: the request
    /// is lost on its way, as when a connection breaks mid-body.
    DropRequest,
    /// Hold the connection open and say nothing: a stalled registry.
    Stall,
    /// Forward it, send the head and this many body bytes, then go silent.
    StallBody(usize),
    /// Forward it, wait this long (under the first-byte timeout), then send
    /// the head with the real `Content-Length`, this many body bytes, and
    /// close: a registry that answers slowly and breaks every body.
    SlowTruncate(std::time::Duration, usize),
    /// Forward it, send the head, then the body one byte at a time, this
    /// long apart: a registry (or a slowloris in its place) keeping a read
    /// alive just under the between-bytes timeout.
    DripBody(std::time::Duration),
    /// Answer 413 itself when the request body is longer than this (a
    /// registry or proxy capping bodies: GHCR caps chunks at 4 MiB);
    /// forward it otherwise.
    RefuseBodyOver(usize),
    /// Answer this itself, whatever was asked: a broken or hostile
    /// registry.
    Reply(Arc<Canned>),
    /// Forward it and add this header to the answer.
    AddHeader(&'static str, String),
}

/// A whole answer of the proxy's own.
#[derive(Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Fault {
    /// `Reply` with this status, headers and body.
    pub fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Fault {
        Fault::Reply(Arc::new(Canned {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }))
    }
}

impl std::fmt::Debug for Canned {
    // Bodies can be megabytes: name their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with {} bytes", self.status, self.body.len())
    }
}

/// How long a stalled connection is held before the proxy gives up on it.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

impl Fault {
    pub fn is_none(&self) -> bool {
        *self == Fault::None
    }
}

/// The request a schedule decides on.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// Whether the client sent its body chunked (a streamed upload).
    pub chunked: bool,
    pub body_len: usize,
}

impl RequestInfo {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn is_blob_get(&self) -> bool {
        self.method == "GET" && self.path().contains("/blobs/sha256:")
    }

    pub fn is_manifest_put(&self) -> bool {
        self.method == "PUT" && self.path().contains("/manifests/")
    }

    pub fn is_tag_list(&self) -> bool {
        self.method == "GET" && self.path().ends_with("/tags/list")
    }

    /// A streamed upload, which the store does not retry.
    pub fn is_patch(&self) -> bool {
        self.method == "PATCH"
    }
}

pub type Schedule = dyn Fn(&RequestInfo, usize) -> Fault + Send + Sync;

/// One request as the proxy handled it.
#[derive(Debug, Clone)]
pub struct Handled {
    pub n: usize,
    pub method: String,
    pub target: String,
    pub content_range: Option<String>,
    pub body_len: usize,
    pub fault: Fault,
}

#[derive(Default)]
struct Shared {
    requests: AtomicUsize,
    faults: AtomicUsize,
    tag_pages: AtomicUsize,
    log: Mutex<Vec<Handled>>,
}

pub struct FaultProxy {
    server: Server,
    shared: Arc<Shared>,
    schedule: Arc<RwLock<Arc<Schedule>>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`
    /// (`127.0.0.1:PORT`), applying no fault until [`FaultProxy::set`].
    pub fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared::default());
        let schedule: Arc<RwLock<Arc<Schedule>>> =
            Arc::new(RwLock::new(Arc::new(|_: &RequestInfo, _| Fault::None)));
        let authority = Arc::new(Mutex::new(String::new()));
        let conn = Conn {
            upstream: upstream.to_string(),
            authority: authority.clone(),
            shared: shared.clone(),
            schedule: schedule.clone(),
        };
        let server = Server::start(
            "fault proxy",
            Arc::new(move |request, client: &mut TcpStream| conn.handle(request, client)),
        );
        *authority.lock().unwrap() = server.authority();
        FaultProxy {
            server,
            shared,
            schedule,
        }
    }

    pub fn authority(&self) -> String {
        self.server.authority()
    }

    /// Replaces the schedule.
    pub fn set(&self, schedule: impl Fn(&RequestInfo, usize) -> Fault + Send + Sync + 'static) {
        *self.schedule.write().unwrap() = Arc::new(schedule);
    }

    /// No more faults.
    pub fn clear(&self) {
        self.set(|_, _| Fault::None);
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Faults applied so far (requests whose fault was not `None`).
    pub fn faults(&self) -> usize {
        self.shared.faults.load(Ordering::SeqCst)
    }

    /// Tag pages the proxy answered itself (`PageTags`).
    pub fn tag_pages(&self) -> usize {
        self.shared.tag_pages.load(Ordering::SeqCst)
    }

    /// Every request handled, in order of arrival.
    pub fn log(&self) -> Vec<Handled> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Faults applied, by kind (`Status(503, None)` and so on, as `Debug`).
    pub fn fault_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for h in self.log().into_iter().filter(|h| !h.fault.is_none()) {
            *counts.entry(format!("{:?}", h.fault)).or_insert(0) += 1;
        }
        counts
    }
}

/// Faults the first attempt of every request the filter admits: a request
/// is faulted unless the previous one with the same method and target was.
pub fn first_attempts(
    fault: Fault,
    admit: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static,
) -> impl Fn(&RequestInfo, usize) -> Fault + Send + Sync + 'static {
    let last_faulted = Mutex::new(HashMap::<String, bool>::new());
    move |req, _| {
        if !admit(req) {
            return Fault::None;
        }
        let mut seen = last_faulted.lock().unwrap();
        let key = format!("{} {}", req.method, req.target);
        let faulted = seen.entry(key).or_insert(false);
        *faulted = !*faulted;
        if *faulted {
            fault.clone()
        } else {
            Fault::None
        }
    }
}

/// A reproducible random schedule: each admitted request is faulted with
/// probability `rate`, with one of `choices`, decided from `seed` and the
/// request's number alone.
pub fn seeded(
    seed: u64,
    rate: f64,
    choices: Vec<Fault>,
    admit: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static,
) -> impl Fn(&RequestInfo, usize) -> Fault + Send + Sync + 'static {
    move |req, n| {
        if !admit(req) || choices.is_empty() {
            return Fault::None;
        }
        let draw = splitmix64(seed ^ splitmix64(n as u64));
        let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
        if unit < rate {
            choices[(splitmix64(draw) % choices.len() as u64) as usize].clone()
        } else {
            Fault::None
        }
    }
}

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Conn {
    upstream: String,
    /// The proxy's own authority, known once its port is bound.
    authority: Arc<Mutex<String>>,
    shared: Arc<Shared>,
    schedule: Arc<RwLock<Arc<Schedule>>>,
}

impl Conn {
    /// Handles one request; `Ok(true)` when the connection stays open.
    fn handle(&self, request: Message, client: &mut TcpStream) -> io::Result<bool> {
        let mut parts = request.start.splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let info = RequestInfo {
            method: method.clone(),
            target: target.clone(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            chunked: request.chunked,
            body_len: request.body.len(),
        };
        let n = self.shared.requests.fetch_add(1, Ordering::SeqCst);
        let schedule = self.schedule.read().unwrap().clone();
        let fault = schedule(&info, n);
        if !fault.is_none() {
            self.shared.faults.fetch_add(1, Ordering::SeqCst);
        }
        self.shared.log.lock().unwrap().push(Handled {
            n,
            method: method.clone(),
            target: target.clone(),
            content_range: info.header("content-range").map(String::from),
            body_len: info.body_len,
            fault: fault.clone(),
        });
        let client_closes = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));

        match fault {
            Fault::Status(status, retry_after) => {
                let body =
                    format!(r#"{{"errors":[{{"code":"UNKNOWN","message":"injected {status}"}}]}}"#);
                let mut headers = vec![("Content-Type".to_string(), "application/json".into())];
                if let Some(secs) = retry_after {
                    headers.push(("Retry-After".into(), secs.to_string()));
                }
                let response = Message {
                    start: format!("HTTP/1.1 {status} {}", reason(status)),
                    headers,
                    body: body.into_bytes(),
                    chunked: false,
                };
                write_response(client, &response, false, None)?;
                return Ok(!client_closes);
            }
            Fault::PageTags(per_page) if info.is_tag_list() => {
                let response = self.page_tags(&info, per_page)?;
                write_response(client, &response, false, None)?;
                return Ok(!client_closes);
            }
            Fault::DropRequest => return Ok(false),
            Fault::Stall => {
                thread::sleep(STALL);
                return Ok(false);
            }
            Fault::RefuseBodyOver(limit) if info.body_len > limit => {
                let body = format!(
                    r#"{{"errors":[{{"code":"SIZE_INVALID","message":"body over {limit} bytes"}}]}}"#
                );
                let response = Message {
                    start: "HTTP/1.1 413 Payload Too Large".into(),
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: body.into_bytes(),
                    chunked: false,
                };
                write_response(client, &response, false, None)?;
                // Like most servers refusing a body: no more on this
                // connection.
                return Ok(false);
            }
            Fault::Reply(canned) => {
                let response = Message {
                    start: format!("HTTP/1.1 {} {}", canned.status, reason(canned.status)),
                    headers: canned.headers.clone(),
                    body: canned.body.clone(),
                    chunked: false,
                };
                write_response(client, &response, method == "HEAD", None)?;
                return Ok(!client_closes);
            }
            _ => {}
        }

        let mut request = request;
        if fault == Fault::IgnoreRange {
            request
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("range"));
        }
        let mut response = self.forward(&request)?;
        if fault == Fault::ResetBeforeResponse {
            return Ok(false);
        }
        let authority = self.authority.lock().unwrap().clone();
        rewrite_locations(&mut response, &self.upstream, &authority);
        if let Fault::AddHeader(name, value) = &fault {
            response.headers.push((name.to_string(), value.clone()));
        }
        if fault == Fault::CorruptByte && !response.body.is_empty() {
            let middle = response.body.len() / 2;
            response.body[middle] ^= 0xff;
        }
        if let Fault::DripBody(every) = fault {
            write_response(client, &response, method == "HEAD", Some(0))?;
            for byte in &response.body {
                thread::sleep(every);
                client.write_all(&[*byte])?;
                client.flush()?;
            }
            return Ok(false);
        }
        if let Fault::SlowTruncate(wait, _) = fault {
            thread::sleep(wait);
        }
        let truncate = match fault {
            Fault::TruncateBody(keep) | Fault::StallBody(keep) | Fault::SlowTruncate(_, keep) => {
                Some(keep)
            }
            _ => None,
        };
        write_response(client, &response, method == "HEAD", truncate)?;
        if matches!(fault, Fault::StallBody(_)) {
            thread::sleep(STALL);
        }
        Ok(truncate.is_none() && !client_closes)
    }

    /// Sends the request upstream on a connection of its own.
    fn forward(&self, request: &Message) -> io::Result<Message> {
        forward(&self.upstream, request)
    }

    /// One page of the registry's full tag list, from the cursor in the
    /// request (none: the first page).
    fn page_tags(&self, info: &RequestInfo, per_page: usize) -> io::Result<Message> {
        let path = info.path().to_string();
        let everything = Message {
            start: format!("GET {path} HTTP/1.1"),
            headers: vec![("Host".into(), self.upstream.clone())],
            body: Vec::new(),
            chunked: false,
        };
        let full = self.forward(&everything)?;
        if !full.start.contains(" 200 ") {
            return Ok(full);
        }
        let doc: serde_json::Value = serde_json::from_slice(&full.body)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let tags: Vec<String> = doc["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let tags: Vec<String> = tags.into_iter().rev().collect();
        let start = query_param(&info.target, "cursor")
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.strip_prefix("page-from:")?.parse::<usize>().ok())
            .unwrap_or(0)
            .min(tags.len());
        let end = (start + per_page.max(1)).min(tags.len());
        let page = serde_json::json!({"name": doc["name"], "tags": tags[start..end]});
        let mut headers = vec![("Content-Type".to_string(), "application/json".into())];
        if end < tags.len() {
            let cursor = URL_SAFE_NO_PAD.encode(format!("page-from:{end}"));
            headers.push((
                "Link".into(),
                format!("<{path}?n={per_page}&cursor={cursor}>; rel=\"next\""),
            ));
        }
        self.shared.tag_pages.fetch_add(1, Ordering::SeqCst);
        Ok(Message {
            start: "HTTP/1.1 200 OK".into(),
            headers,
            body: serde_json::to_vec(&page).unwrap(),
            chunked: false,
        })
    }
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}
