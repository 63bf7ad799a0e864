//! Which authorities the component may reach.
//!
//! The component talks to one registry; anything else it asks for is refused
//! by the egress hook. Entries are `host[:port]`: an entry without a port
//! admits the scheme's default port (443 for https, 80 for http), because the
//! store's `location` does not say which scheme `use_tls` will pick.

use http::uri::{Authority, Scheme, Uri};

/// One admitted authority: a lowercase host and maybe an explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<u16>,
    admission: Admission,
}

/// Why an authority is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The store's own registry.
    Registry,
    /// A token realm the registry's `WWW-Authenticate` named.
    TokenRealm,
    /// A host the registry redirected to (a CDN, object storage): reached
    /// only by requests that carry no credentials.
    RedirectTarget,
}

/// The set of authorities the component may send requests to.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// An authority that cannot be admitted because it does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a host[:port]: {0:?}")]
pub struct BadAuthority(pub String);

impl AllowList {
    /// An empty list: every request is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits `host[:port]` (an IPv6 host in brackets). Later issues add token
    /// realms and redirect targets through here.
    pub fn allow(&mut self, authority: &str) -> Result<(), BadAuthority> {
        self.admit(authority, Admission::Registry)
    }

    fn admit(&mut self, authority: &str, admission: Admission) -> Result<(), BadAuthority> {
        let parsed: Authority = authority
            .parse()
            .map_err(|_| BadAuthority(authority.to_string()))?;
        // No user info, and anything after the host must be a numeric port.
        let has_port = parsed.as_str().len() > parsed.host().len();
        if parsed.host().is_empty()
            || parsed.as_str().contains('@')
            || (has_port && parsed.port_u16().is_none())
        {
            return Err(BadAuthority(authority.to_string()));
        }
        let entry = Entry {
            host: parsed.host().to_ascii_lowercase(),
            port: parsed.port_u16(),
            admission,
        };
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
        Ok(())
    }

    /// Learns from the registry's answer to a request it admitted as the
    /// registry: the token realm its challenge names, the host it redirects
    /// to. Answers from realms and redirect targets teach nothing, so a
    /// chain of hosts cannot widen the list.
    pub fn learn_from_answer(&mut self, request: &Uri, status: u16, headers: &http::HeaderMap) {
        if self.admission(request) != Some(Admission::Registry) {
            return;
        }
        for value in headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            if let Some(authority) = realm_of(value).and_then(|realm| absolute_authority(&realm)) {
                let _ = self.admit(&authority, Admission::TokenRealm);
            }
        }
        if (300..400).contains(&status) {
            let location = headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if let Some(authority) = location.and_then(absolute_authority) {
                let _ = self.admit(&authority, Admission::RedirectTarget);
            }
        }
    }

    /// Why `uri` may be reached, if it may (the registry's own entry first).
    pub fn admission(&self, uri: &Uri) -> Option<Admission> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return None;
        };
        let default_port = if *scheme == Scheme::HTTPS {
            443
        } else if *scheme == Scheme::HTTP {
            80
        } else {
            return None;
        };
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(default_port);
        self.entries
            .iter()
            .filter(|entry| {
                entry.host.eq_ignore_ascii_case(host) && entry.port.unwrap_or(default_port) == port
            })
            .map(|entry| entry.admission)
            .min_by_key(|a| *a as u8)
    }

    /// Whether a request may go out: redirect targets only without
    /// credentials, so `Authorization` never leaves for another host.
    pub fn permits_request(&self, uri: &Uri, carries_credentials: bool) -> bool {
        match self.admission(uri) {
            Some(Admission::Registry | Admission::TokenRealm) => true,
            Some(Admission::RedirectTarget) => !carries_credentials,
            None => false,
        }
    }

    /// Whether a request to `uri` may be sent. Only http and https qualify.
    pub fn permits(&self, uri: &Uri) -> bool {
        self.admission(uri).is_some()
    }
}

/// The `realm` parameter of a `WWW-Authenticate` value, quoted or bare.
fn realm_of(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let start = lower.find("realm")?;
    let rest = value[start + "realm".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let realm = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    Some(realm.to_string())
}

/// `host[:port]` of an absolute http(s) URL; `None` for relative ones.
fn absolute_authority(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https")).then_some(())?;
    uri.authority().map(|a| a.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        let mut list = AllowList::new();
        for e in entries {
            list.allow(e).unwrap();
        }
        list
    }

    #[test]
    fn permits_table() {
        let cases: &[(&str, &[&str], &str, bool)] = &[
            (
                "same host, default https port",
                &["ghcr.io"],
                "https://ghcr.io/v2/",
                true,
            ),
            (
                "explicit default port",
                &["ghcr.io"],
                "https://ghcr.io:443/v2/",
                true,
            ),
            (
                "default http port",
                &["ghcr.io"],
                "http://ghcr.io/v2/",
                true,
            ),
            (
                "other port refused",
                &["ghcr.io"],
                "https://ghcr.io:8443/v2/",
                false,
            ),
            (
                "case-insensitive",
                &["GHCR.io"],
                "https://ghcr.IO/v2/",
                true,
            ),
            (
                "explicit port, both schemes",
                &["127.0.0.1:5000"],
                "http://127.0.0.1:5000/v2/",
                true,
            ),
            (
                "explicit port, no port in uri",
                &["127.0.0.1:5000"],
                "http://127.0.0.1/v2/",
                false,
            ),
            (
                "entry 443 admits bare https",
                &["r.example:443"],
                "https://r.example/x",
                true,
            ),
            (
                "entry 443 refuses bare http",
                &["r.example:443"],
                "http://r.example/x",
                false,
            ),
            (
                "other host refused",
                &["ghcr.io"],
                "https://evil.example/v2/",
                false,
            ),
            (
                "suffix is not a match",
                &["ghcr.io"],
                "https://xghcr.io/v2/",
                false,
            ),
            ("ipv6", &["[::1]:5000"], "http://[::1]:5000/v2/", true),
            ("empty list", &[], "https://ghcr.io/", false),
            ("relative uri refused", &["ghcr.io"], "/v2/", false),
            (
                "second entry",
                &["a.example", "b.example:9000"],
                "https://b.example:9000/",
                true,
            ),
        ];
        for (name, entries, uri, want) in cases {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(list(entries).permits(&uri), *want, "{name}");
        }
    }

    #[test]
    fn bad_authorities_are_refused() {
        let mut list = AllowList::new();
        for bad in [
            "",
            "a b",
            "user@host",
            "host:port",
            "host:",
            "host:99999",
            "http://host",
        ] {
            assert!(list.allow(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn learns_realms_and_redirect_targets_from_the_registry_only() {
        let mut list = list(&["reg:5000"]);
        let registry: Uri = "http://reg:5000/v2/r/blobs/x".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "www-authenticate",
            r#"Bearer realm="https://auth.example/token",service="reg""#
                .parse()
                .unwrap(),
        );
        list.learn_from_answer(&registry, 401, &headers);
        let realm: Uri = "https://auth.example/token?scope=x".parse().unwrap();
        assert_eq!(list.admission(&realm), Some(Admission::TokenRealm));
        assert!(
            list.permits_request(&realm, true),
            "a realm may get Basic credentials (the component sends them only over https)"
        );

        let mut redirect = http::HeaderMap::new();
        redirect.insert(
            "location",
            "http://cdn.example:8080/blob?sig=1".parse().unwrap(),
        );
        list.learn_from_answer(&registry, 307, &redirect);
        let cdn: Uri = "http://cdn.example:8080/blob?sig=1".parse().unwrap();
        assert!(list.permits_request(&cdn, false));
        assert!(!list.permits_request(&cdn, true), "never with credentials");

        // What a realm or a CDN says teaches nothing.
        let mut onward = http::HeaderMap::new();
        onward.insert("location", "http://evil.example/x".parse().unwrap());
        list.learn_from_answer(&cdn, 302, &onward);
        assert!(!list.permits(&"http://evil.example/x".parse().unwrap()));
        // A relative Location stays on the registry.
        let mut relative = http::HeaderMap::new();
        relative.insert("location", "/v2/r/blobs/y".parse().unwrap());
        list.learn_from_answer(&registry, 307, &relative);
        assert_eq!(list.entries.len(), 3);
        // The registry itself keeps its own admission even if redirected to.
        let mut itself = http::HeaderMap::new();
        itself.insert("location", "http://reg:5000/elsewhere".parse().unwrap());
        list.learn_from_answer(&registry, 307, &itself);
        assert!(list.permits_request(&registry, true));
    }

    #[test]
    fn realm_parameter() {
        assert_eq!(
            realm_of(r#"Bearer realm="https://a/t",service="s""#).as_deref(),
            Some("https://a/t")
        );
        assert_eq!(
            realm_of("Bearer service=s, Realm=http://b/t").as_deref(),
            Some("http://b/t")
        );
        assert_eq!(realm_of("Basic"), None);
    }
}
