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
        };
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
        Ok(())
    }

    /// Whether a request to `uri` may be sent. Only http and https qualify.
    pub fn permits(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return false;
        };
        let default_port = if *scheme == Scheme::HTTPS {
            443
        } else if *scheme == Scheme::HTTP {
            80
        } else {
            return false;
        };
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(default_port);
        self.entries.iter().any(|entry| {
            entry.host.eq_ignore_ascii_case(host) && entry.port.unwrap_or(default_port) == port
        })
    }
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
}
