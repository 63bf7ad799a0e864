//! What the component may send, and where: admission by purpose.
//!
//! The component talks to one registry. Its answers may name two other kinds
//! of place, and each is admitted only for the request it was named for:
//!
//! - a token realm (a `401`'s `WWW-Authenticate: Bearer realm=...`): token
//!   requests only, that is a `GET` of the realm's path whose query holds
//!   only token parameters (`service`, `scope`, ...), or a `POST` of a form
//!   to that path (distribution's token spec and its OAuth2 variant);
//! - a redirect target (a `3xx` to a blob `GET`): that one URL, by `GET`,
//!   without `Authorization`. A redirect target may itself redirect that
//!   `GET` onwards (a CDN to its origin, an object store to its regional
//!   endpoint), to at most five hops from the registry, as many as the
//!   component follows; each hop is admitted for its one `GET` only, never
//!   from https down to plain http.
//!
//! Nothing else goes there: no other method, path or query, no upload, no
//! credentials to a redirect target. Only the registry's answers name a
//! realm; a redirect target's answer can name only the next hop of the
//! redirected `GET`; a realm's answers teach nothing. So no chain of hosts
//! widens what may be sent beyond a credential-free `GET` of a blob, and
//! the grants learnt are bounded in number.
//!
//! A named host must be public (see [`crate::egress::address`]) unless it is the
//! registry's own host: a registry on `127.0.0.1:5000` may use a realm on
//! `127.0.0.1:5001`, but not one on `127.0.0.2` or `169.254.169.254`. Host
//! names are resolved by the egress before such a request goes out, and
//! refused when any address is not public.
//!
//! Registry entries are origins, `scheme://host[:port]`, as the store was
//! configured (its `location` and `use_tls`): a store on an https registry
//! sends nothing to the same host and port over plain http (where a
//! man-in-the-middle or another service on that port would read the
//! credentials and the data), nor a plain-http store over https. Without a
//! port, the scheme's default port (443 or 80).

use std::collections::VecDeque;

use http::uri::{Authority, Scheme, Uri};
use http::{HeaderMap, Method};

use crate::egress::address;

/// Realms kept at once; a registry names one.
const MAX_REALMS: usize = 8;
/// Redirect grants kept at once (the oldest goes first): one per blob GET
/// redirected recently.
const MAX_REDIRECTS: usize = 256;
/// Hops of one redirected GET, counted from the registry: as many as the
/// component follows (`MAX_REDIRECTS` in `src/client.rs`).
const MAX_HOPS: usize = 5;
/// The query keys of a token `GET` (distribution's token spec, and Docker's
/// `account`, `client_id`, `offline_token`).
const TOKEN_QUERY_KEYS: [&str; 5] = ["service", "scope", "account", "client_id", "offline_token"];

/// An admitted registry origin: its scheme, lowercase host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RegistryEntry {
    scheme: Scheme,
    host: String,
    port: u16,
}

/// A place an answer of the registry named: scheme, host, port and path
/// (and, for a redirect, the exact query).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    scheme: Scheme,
    host: String,
    port: u16,
    path: String,
    query: Option<String>,
}

/// Why a request may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// To the store's own registry: anything.
    Registry,
    /// A token request to a realm the registry's challenge named.
    TokenRequest,
    /// The credential-free GET of a URL the registry redirected a blob to.
    Redirect,
}

/// A request the egress may send, with the host name to resolve and check
/// first when it goes to a named host given by name rather than address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub admission: Admission,
    pub resolve: Option<(String, u16)>,
}

/// Why a request is refused. Names hosts and methods, never a query or a
/// header value (a query may hold a signature, a header a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an absolute http or https URL")]
    NotHttp,
    #[error("{0} is not the registry, and no answer of the registry named it")]
    UnknownHost(String),
    #[error("{0} is the token realm: only token requests may go there")]
    NotATokenRequest(String),
    #[error("{0} was named by a redirect: only the redirected GET may go there")]
    NotTheRedirectedGet(String),
    #[error(
        "credentials may go only to the registry and, with a token request, its realm; not to {0}"
    )]
    Credentials(String),
    #[error("{0} resolves to an address that is not public, and is not the registry's host")]
    PrivateAddress(String),
}

/// The set of places the component may send requests to.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    registries: Vec<RegistryEntry>,
    realms: VecDeque<Place>,
    redirects: VecDeque<Hop>,
}

/// A redirect target, and how many hops from the registry it is (1: the
/// registry named it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    place: Place,
    hop: usize,
}

/// An origin that cannot be admitted because it does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an http:// or https:// host[:port]: {0:?}")]
pub struct BadAuthority(pub String);

impl AllowList {
    /// An empty list: every request is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits the registry at `origin`, `http://` or `https://` then
    /// `host[:port]` (an IPv6 host in brackets), for every request over
    /// that scheme.
    pub fn allow(&mut self, origin: &str) -> Result<(), BadAuthority> {
        let bad = || BadAuthority(origin.to_string());
        let (scheme, authority) = match origin.split_once("://") {
            Some((s, a)) if s.eq_ignore_ascii_case("https") => (Scheme::HTTPS, a),
            Some((s, a)) if s.eq_ignore_ascii_case("http") => (Scheme::HTTP, a),
            _ => return Err(bad()),
        };
        let parsed: Authority = authority.parse().map_err(|_| bad())?;
        // No user info, and anything after the host must be a numeric port.
        let has_port = parsed.as_str().len() > parsed.host().len();
        if parsed.host().is_empty()
            || parsed.as_str().contains('@')
            || (has_port && parsed.port_u16().is_none())
        {
            return Err(bad());
        }
        let entry = RegistryEntry {
            port: parsed.port_u16().unwrap_or(default_port(&scheme)),
            scheme,
            host: parsed.host().to_ascii_lowercase(),
        };
        if !self.registries.contains(&entry) {
            self.registries.push(entry);
        }
        Ok(())
    }

    /// Whether `request` may go out, and why.
    pub fn check<B>(&self, request: &http::Request<B>) -> Result<Admitted, Refusal> {
        let place = Place::of(request.uri()).ok_or(Refusal::NotHttp)?;
        let authority = place.authority();
        if self.is_registry(&place) {
            return Ok(Admitted {
                admission: Admission::Registry,
                resolve: None,
            });
        }
        let carries_credentials = request.headers().contains_key(http::header::AUTHORIZATION);
        let redirected_get = request.method() == Method::GET && self.hop_of(&place).is_some();
        let admission = if redirected_get {
            if carries_credentials {
                return Err(Refusal::Credentials(authority));
            }
            Admission::Redirect
        } else if self.realms.iter().any(|r| r.same_origin(&place)) {
            // A registry may name several realms on one origin (one per
            // scope or service): any of them may take the token request.
            let for_a_realm = self
                .realms
                .iter()
                .filter(|r| r.same_origin(&place))
                .any(|realm| is_token_request(realm, &place, request));
            if !for_a_realm {
                return Err(Refusal::NotATokenRequest(authority));
            }
            Admission::TokenRequest
        } else if carries_credentials {
            return Err(Refusal::Credentials(authority));
        } else if self.redirects.iter().any(|r| r.place.same_origin(&place)) {
            return Err(Refusal::NotTheRedirectedGet(authority));
        } else {
            return Err(Refusal::UnknownHost(authority));
        };
        let resolve = (address::literal(&place.host).is_none()
            && !self.on_registry_host(&place.host))
        .then(|| (place.host.clone(), place.port));
        Ok(Admitted { admission, resolve })
    }

    /// Learns from an answer to a request it admitted: from the registry,
    /// a `401` names the token realm, a redirect of a blob `GET` the URL to
    /// fetch it from; from a redirect target, a redirect of its `GET` the
    /// next hop. Answers from anywhere else (a realm) teach nothing.
    pub fn learn_from_answer(
        &mut self,
        method: &Method,
        request: &Uri,
        status: u16,
        headers: &HeaderMap,
    ) {
        let Some(asked) = Place::of(request) else {
            return;
        };
        let hop = if self.is_registry(&asked) {
            0
        } else {
            match self.hop_of(&asked) {
                Some(hop) if *method == Method::GET => hop,
                _ => return,
            }
        };
        if status == 401 && hop == 0 {
            let realms: Vec<Place> = headers
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(realms_of)
                .filter_map(|realm| realm.parse::<Uri>().ok())
                .filter_map(|uri| Place::of(&uri))
                .collect();
            for realm in realms {
                if self.may_name(&realm) && !self.realms.contains(&realm) {
                    push_bounded(&mut self.realms, realm, MAX_REALMS);
                }
            }
        }
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        let blob_get = *method == Method::GET && (hop > 0 || is_blob_path(request.path()));
        if redirect && blob_get && hop < MAX_HOPS {
            let target = headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| asked.follow(location));
            // A relative Location from the registry stays on it: nothing to
            // learn. From https, never down to plain http.
            let downgrade = |t: &Place| asked.scheme == Scheme::HTTPS && t.scheme == Scheme::HTTP;
            if let Some(place) = target.filter(|t| self.may_name(t) && !downgrade(t)) {
                if self.hop_of(&place).is_none() {
                    let next = Hop {
                        place,
                        hop: hop + 1,
                    };
                    push_bounded(&mut self.redirects, next, MAX_REDIRECTS);
                }
            }
        }
    }

    /// How many hops from the registry a redirect target is, if it is one.
    fn hop_of(&self, place: &Place) -> Option<usize> {
        self.redirects
            .iter()
            .find(|r| r.place == *place)
            .map(|r| r.hop)
    }

    /// The registry's own origin: scheme, host and port.
    fn is_registry(&self, place: &Place) -> bool {
        self.registries.iter().any(|entry| {
            entry.scheme == place.scheme
                && entry.host.eq_ignore_ascii_case(&place.host)
                && entry.port == place.port
        })
    }

    fn on_registry_host(&self, host: &str) -> bool {
        self.registries
            .iter()
            .any(|entry| address::same_host(&entry.host, host))
    }

    /// Whether the registry may send the component to `place`: its own host
    /// (any port), or a host that is not known to be private.
    fn may_name(&self, place: &Place) -> bool {
        if self.is_registry(place) {
            return false; // already admitted for everything
        }
        if self.on_registry_host(&place.host) {
            return true;
        }
        match address::literal(&place.host) {
            Some(ip) => address::is_public(ip),
            None => !address::is_local_name(&place.host),
        }
    }
}

fn default_port(scheme: &Scheme) -> u16 {
    if *scheme == Scheme::HTTPS {
        443
    } else {
        80
    }
}

impl Place {
    fn of(uri: &Uri) -> Option<Place> {
        let scheme = uri.scheme()?.clone();
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return None;
        }
        let default_port = default_port(&scheme);
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return None;
        }
        Some(Place {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
        })
    }

    /// Where a `Location` sent in answer to a request for this place
    /// leads: an absolute http(s) URL, or a path on this place's origin.
    fn follow(&self, location: &str) -> Option<Place> {
        if location.starts_with('/') && !location.starts_with("//") {
            let host = if self.host.contains(':') && !self.host.starts_with('[') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            };
            let url = format!("{}://{host}:{}{location}", self.scheme, self.port);
            return Place::of(&url.parse().ok()?);
        }
        Place::of(&location.parse().ok()?)
    }

    fn same_origin(&self, other: &Place) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A token request to `realm`: `GET realm?<realm's query>&<token keys>` or
/// `POST realm` with a form body.
fn is_token_request<B>(realm: &Place, place: &Place, request: &http::Request<B>) -> bool {
    if place.path != realm.path {
        return false;
    }
    let query = place.query.as_deref().unwrap_or("");
    let own = realm.query.as_deref().unwrap_or("");
    let added = if own.is_empty() {
        Some(query)
    } else {
        query
            .strip_prefix(own)
            .and_then(|rest| rest.strip_prefix('&').or((rest.is_empty()).then_some("")))
    };
    let Some(added) = added else {
        return false;
    };
    match *request.method() {
        Method::GET => {
            let keys: Vec<String> = form_keys(added);
            keys.iter().any(|k| k == "scope" || k == "service")
                && keys.iter().all(|k| TOKEN_QUERY_KEYS.contains(&k.as_str()))
        }
        Method::POST => {
            added.is_empty()
                && request
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| {
                        t.to_ascii_lowercase()
                            .starts_with("application/x-www-form-urlencoded")
                    })
        }
        _ => false,
    }
}

/// The keys of an `a=1&b=2` query, percent-decoding left out: token keys
/// are plain words, so an encoded key is simply not one of them.
fn form_keys(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split('=').next().unwrap_or_default().to_string())
        .collect()
}

/// `/v2/<name>/blobs/<digest>`, not an upload session.
fn is_blob_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return false;
    };
    match rest.rsplit_once("/blobs/") {
        Some((name, digest)) => {
            !name.is_empty() && !digest.is_empty() && !digest.contains('/') && digest != "uploads"
        }
        None => false,
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, max: usize) {
    if list.len() == max {
        list.pop_front();
    }
    list.push_back(item);
}

/// The token realms a `WWW-Authenticate` value names: the `realm` of each
/// `Bearer` challenge, read by the protocol crate's own challenge parser, so
/// the host admits exactly the realms the component will ask (a `Basic`
/// realm is a name for people, not a place).
fn realms_of(value: &str) -> Vec<String> {
    kloset_oci::auth::challenge::parse_challenges([value])
        .into_iter()
        .filter(|challenge| challenge.scheme == "bearer")
        .filter_map(|challenge| challenge.param("realm").map(str::to_string))
        .collect()
}

#[cfg(test)]
#[path = "allow_list_tests.rs"]
mod tests;
