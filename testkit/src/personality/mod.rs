//! Registry personalities: a proxy in front of a real test registry that
//! applies one hosted registry's documented rules (GitLab, GHCR, ECR and
//! ECR with its PATCH bug, Artifact Registry, Docker Hub, Quay, Harbor,
//! ACR), so the store is tested against what those registries do to it
//! without any machine here reaching them.
//!
//! Every rule comes from the developers' guide's `REGISTRY-RULES.md` ("The
//! hosted registries' rules, as documented") and cites its source there
//! beside the code that applies it. Nothing here was run against the live
//! services; where a rule's exact wire form (an error code, a header's
//! window) is not in the sources, the file says which part is ours.
//!
//! Design decisions:
//! - One engine, small rule sets: [`PersonalityProxy`] accepts and parses
//!   requests (`super::wire`, shared with the fault proxy) and hands each
//!   one to a [`Rules`] value, which answers it itself or forwards it
//!   through [`Upstream`]. Each personality is a plain struct whose fields
//!   are its settings (sizes, budgets, created repositories), so tests
//!   configure it before starting the proxy and read its counters after.
//! - Requests are parsed into a [`Route`] (repository and endpoint), as
//!   every rule is about one endpoint of one repository.
//! - Tag lists are answered by the proxy from the registry's full list
//!   ([`Paging`]): page sizes, order and cursors are the rules, and
//!   distribution 2.8 ignores `n` anyway.

use super::wire::{forward, rewrite_locations, write_response, Message, Server};
use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

mod acr;
mod artifact_registry;
mod docker_hub;
mod ecr;
mod ghcr;
mod gitlab;
mod harbor;
pub mod hosted;
mod quay;

pub use acr::Acr;
pub use artifact_registry::ArtifactRegistry;
pub use docker_hub::DockerHub;
pub use ecr::Ecr;
pub use ghcr::Ghcr;
pub use gitlab::GitLab;
pub use harbor::Harbor;
pub use quay::Quay;

/// One hosted registry's rules: answers a request itself, or forwards it
/// (changed or not) through `upstream` and returns the answer (changed or
/// not).
pub trait Rules: Send + Sync + 'static {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message>;
}

/// Rules chosen at run time (a test table of personalities).
impl<T: Rules + ?Sized> Rules for Box<T> {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        (**self).answer(request, upstream)
    }
}

/// A request as the rules see it: the message (its body whole) and where
/// it goes.
pub struct Request {
    pub message: Message,
    pub route: Route,
}

impl Request {
    pub fn method(&self) -> &str {
        self.message.method()
    }

    /// Path and query.
    pub fn target(&self) -> &str {
        self.message.target()
    }

    pub fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("")
    }

    /// A query parameter, as sent (not percent-decoded).
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target().split_once('?')?.1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.header(name)
    }

    pub fn body(&self) -> &[u8] {
        &self.message.body
    }

    /// A request that writes: what registries count as a push or a write.
    pub fn is_write(&self) -> bool {
        matches!(self.method(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// What a request path names (OCI distribution-spec endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/`.
    Base,
    /// `/v2/<name>/manifests/<reference>` (a tag or a digest).
    Manifest(String),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(String),
    /// `/v2/<name>/blobs/uploads/` (POST: open a session, or mount).
    UploadStart,
    /// `/v2/<name>/blobs/uploads/<session>` (PATCH, PUT, GET, DELETE).
    Upload(String),
    /// `/v2/<name>/tags/list`.
    TagList,
    /// Anything else (referrers, catalog, paths outside `/v2/`).
    Other,
}

/// The repository a request is for (none for `/v2/` and paths outside
/// the API) and the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub repository: Option<String>,
    pub endpoint: Endpoint,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let other = Route {
            repository: None,
            endpoint: Endpoint::Other,
        };
        let Some(rest) = path.strip_prefix("/v2/") else {
            return other;
        };
        if rest.is_empty() {
            return Route {
                repository: None,
                endpoint: Endpoint::Base,
            };
        }
        let at = |name: &str, endpoint: Endpoint| Route {
            repository: Some(name.to_string()),
            endpoint,
        };
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return at(name, Endpoint::TagList);
        }
        if let Some((name, session)) = rest.rsplit_once("/blobs/uploads/") {
            return if session.is_empty() {
                at(name, Endpoint::UploadStart)
            } else {
                at(name, Endpoint::Upload(session.to_string()))
            };
        }
        if let Some(name) = rest.strip_suffix("/blobs/uploads") {
            return at(name, Endpoint::UploadStart);
        }
        if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
            return at(name, Endpoint::Blob(digest.to_string()));
        }
        if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            return at(name, Endpoint::Manifest(reference.to_string()));
        }
        other
    }

    /// A manifest reference that is a digest, not a tag.
    pub fn is_digest(reference: &str) -> bool {
        reference.contains(':')
    }
}

/// The manifest types a proxy's own manifest requests accept.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The registry behind the proxy.
pub struct Upstream {
    /// `127.0.0.1:PORT` of the registry.
    pub registry: String,
    /// `127.0.0.1:PORT` of the proxy, which `Location`s are rewritten to.
    pub proxy: String,
}

impl Upstream {
    /// Sends the request as it is and returns the answer, its `Location`
    /// pointing back at the proxy.
    pub fn forward(&self, request: &Message) -> io::Result<Message> {
        let mut response = forward(&self.registry, request)?;
        rewrite_locations(&mut response, &self.registry, &self.proxy);
        Ok(response)
    }

    /// A request of the proxy's own (`GET`, `HEAD`) with no body,
    /// accepting every manifest type (distribution answers 404 to a
    /// manifest request that does not accept the manifest's type).
    pub fn send(&self, method: &str, target: &str) -> io::Result<Message> {
        self.forward(&Message {
            start: format!("{method} {target} HTTP/1.1"),
            headers: vec![
                ("Host".into(), self.registry.clone()),
                ("Accept".into(), MANIFEST_TYPES.join(", ")),
            ],
            body: Vec::new(),
            chunked: false,
        })
    }

    /// Every tag of `repository`, straight from the registry in one request
    /// (distribution answers every tag when `n` is absent); the registry's
    /// own answer when it is not a 200 (a repository it does not know).
    pub fn all_tags(&self, repository: &str) -> io::Result<Result<Vec<String>, Message>> {
        let full = self.send("GET", &format!("/v2/{repository}/tags/list"))?;
        if status_of(&full) != 200 {
            return Ok(Err(full));
        }
        let doc: serde_json::Value = serde_json::from_slice(&full.body)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Ok(doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect()))
    }
}

/// A response's status code.
pub fn status_of(response: &Message) -> u16 {
    super::wire::status_of(&response.start)
}

/// An answer of the proxy's own.
pub fn reply(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Message {
    Message {
        start: format!("HTTP/1.1 {status} {}", reason(status)),
        headers,
        body,
        chunked: false,
    }
}

/// A distribution-spec error answer: `{"errors":[{"code","message","detail"}]}`.
pub fn error(status: u16, code: &str, message: &str, detail: Option<&str>) -> Message {
    let mut entry = serde_json::json!({"code": code, "message": message});
    if let Some(detail) = detail {
        entry["detail"] = detail.into();
    }
    reply(
        status,
        vec![("Content-Type".into(), "application/json".into())],
        serde_json::to_vec(&serde_json::json!({ "errors": [entry] })).unwrap(),
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Requested Range Not Satisfiable",
        429 => "Too Many Requests",
        _ => "Personality",
    }
}

/// How a registry pages its tag list.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Tags a page when the client sends no `n`.
    pub default_page: usize,
    /// The most tags a page holds whatever `n` asks (`None`: `n` is honoured).
    pub max_page: Option<usize>,
    /// Lexical (distribution's) order, or an order that is not (ECR).
    pub sorted: bool,
    /// The query parameter carrying the next page's cursor, and whether it
    /// is opaque (base64 of the last tag) or the last tag itself (`last`,
    /// as distribution-spec).
    pub cursor: &'static str,
    pub opaque: bool,
}

impl Paging {
    /// One page of the repository's tags, from the registry's full list,
    /// with `Link: <...>; rel="next"` while more remain.
    pub fn page(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        let repository = request.route.repository.as_deref().unwrap_or_default();
        let tags = match upstream.all_tags(repository)? {
            Ok(tags) => tags,
            Err(answer) => return Ok(answer),
        };
        let mut keyed: Vec<(Vec<u8>, String)> =
            tags.into_iter().map(|t| (self.key(&t), t)).collect();
        keyed.sort();
        let after = request.query(self.cursor).and_then(|c| {
            if self.opaque {
                String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()
            } else {
                Some(c.to_string())
            }
        });
        // Tags after the cursor's by key, so pages stay right while tags
        // come and go between requests.
        let start = after.map_or(0, |last| {
            let key = (self.key(&last), last);
            keyed.partition_point(|k| *k <= key)
        });
        let asked = request
            .query("n")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(self.default_page);
        let size = self.max_page.map_or(asked, |most| asked.min(most));
        let end = (start + size).min(keyed.len());
        let page: Vec<&str> = keyed[start..end].iter().map(|(_, t)| t.as_str()).collect();
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if end < keyed.len() && end > start {
            let last = &keyed[end - 1].1;
            let cursor = if self.opaque {
                URL_SAFE_NO_PAD.encode(last)
            } else {
                last.clone()
            };
            headers.push((
                "Link".into(),
                format!(
                    "</v2/{repository}/tags/list?n={size}&{}={cursor}>; rel=\"next\"",
                    self.cursor
                ),
            ));
        }
        let body = serde_json::json!({"name": repository, "tags": page});
        Ok(reply(200, headers, serde_json::to_vec(&body).unwrap()))
    }

    /// The sort key of a tag: itself, or its sha256 (an order that is
    /// stable but not lexical).
    fn key(&self, tag: &str) -> Vec<u8> {
        if self.sorted {
            tag.as_bytes().to_vec()
        } else {
            Sha256::digest(tag.as_bytes()).to_vec()
        }
    }
}

/// One exchange as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub body_len: usize,
    pub status: u16,
}

/// A personality in front of a registry, on a loopback port of its own.
pub struct PersonalityProxy<R: Rules> {
    server: Server,
    rules: Arc<R>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl<R: Rules> PersonalityProxy<R> {
    /// Listens on a free loopback port and applies `rules` to every
    /// request before (or instead of) forwarding it to `registry`
    /// (`127.0.0.1:PORT`, plain HTTP).
    pub fn start(registry: &str, rules: R) -> PersonalityProxy<R> {
        let rules = Arc::new(rules);
        let log = Arc::new(Mutex::new(Vec::new()));
        let proxy_authority = Arc::new(Mutex::new(String::new()));
        let (registry, serving, logging, authority) = (
            registry.to_string(),
            rules.clone(),
            log.clone(),
            proxy_authority.clone(),
        );
        let server = Server::start(
            "registry personality",
            Arc::new(move |message: Message, client: &mut TcpStream| {
                let upstream = Upstream {
                    registry: registry.clone(),
                    proxy: authority.lock().unwrap().clone(),
                };
                let closes = message
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                let request = Request {
                    route: Route::parse(message.target().split('?').next().unwrap_or("")),
                    message,
                };
                let response = serving.answer(&request, &upstream)?;
                logging.lock().unwrap().push(Exchange {
                    method: request.method().to_string(),
                    target: request.target().to_string(),
                    body_len: request.body().len(),
                    status: status_of(&response),
                });
                write_response(client, &response, request.method() == "HEAD", None)?;
                Ok(!closes)
            }),
        );
        *proxy_authority.lock().unwrap() = server.authority();
        PersonalityProxy { server, rules, log }
    }

    /// The rules, with their settings and counters.
    pub fn rules(&self) -> &R {
        &self.rules
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `127.0.0.1:PORT`: where the store and the tests talk to.
    pub fn authority(&self) -> String {
        self.server.authority()
    }

    /// Every exchange so far, in the order answered.
    pub fn log(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }
}

/// Mutable state of a personality, behind a lock (requests come from
/// many connections at once).
pub(crate) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
