//! Origins (RFC 6454: scheme, host, port) and which URLs a registry may
//! send us to. A registry names URLs in upload `Location`s, tag-list `Link`
//! pages, blob redirects and token realms; a hostile or compromised one
//! could name any host, or the plaintext side of its own. The rules here
//! hold in every host, including those without an egress allow-list (jco,
//! wasmtime-py).

use crate::error::StoreError;
use crate::registry_error::excerpt;

/// Scheme, lowercase host and port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute http(s) URL; `None` for anything else.
    pub fn of(uri: &http::Uri) -> Option<Origin> {
        let https = match uri.scheme_str()? {
            s if s.eq_ignore_ascii_case("https") => true,
            s if s.eq_ignore_ascii_case("http") => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return None;
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Origin {
            https,
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }

    /// The origin of a URL written as text.
    pub fn parse(url: &str) -> Option<Origin> {
        Origin::of(&url.parse().ok()?)
    }

    /// Whether `url` is on this origin.
    pub fn holds(&self, url: &str) -> bool {
        Origin::parse(url).as_ref() == Some(self)
    }

    pub fn same_host(&self, other: &Origin) -> bool {
        self.host == other.host
    }
}

/// Why a registry-named URL is refused (quoted cleaned and cut).
fn refused(url: &str, why: &str) -> StoreError {
    StoreError::Protocol(format!(
        "registry sent an unusable location '{}' ({why})",
        excerpt(url, 200)
    ))
}

/// Resolves an upload `Location` or a tag-list `Link` target against the
/// registry's base URL (`https://host[:port]`): a path is taken on the
/// registry; an absolute URL only when it is on the registry's own origin
/// (same scheme, host and port). Anything else could carry credentials
/// or session state to another host, or to the plaintext side of an https
/// registry.
pub fn resolve_on_registry(base: &str, location: &str) -> Result<String, StoreError> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(format!("{base}{location}"));
    }
    let registry = Origin::parse(base).expect("the base URL is an http(s) origin");
    match Origin::parse(location) {
        Some(o) if o == registry => Ok(location.to_string()),
        Some(o) if o.same_host(&registry) && registry.https && !o.https => {
            Err(refused(location, "plain http on an https registry"))
        }
        Some(_) => Err(refused(location, "not on the registry's origin")),
        None => Err(refused(location, "not a path or an http(s) URL")),
    }
}

/// Resolves a blob redirect: any http(s) host may serve a blob (a CDN,
/// object storage; requests there carry no credentials), but never over
/// plain http once the registry or an earlier hop was https.
pub fn resolve_redirect(from: &str, base: &str, location: &str) -> Result<String, StoreError> {
    let url = if location.starts_with('/') && !location.starts_with("//") {
        let origin = Origin::parse(from).expect("a redirect comes from an http(s) URL");
        let scheme = if origin.https { "https" } else { "http" };
        let host = if origin.host.contains(':') {
            format!("[{}]", origin.host.trim_matches(['[', ']']))
        } else {
            origin.host.clone()
        };
        format!("{scheme}://{host}:{}{location}", origin.port)
    } else {
        location.to_string()
    };
    let (Some(from_origin), Some(to)) = (Origin::parse(from), Origin::parse(&url)) else {
        return Err(refused(location, "not a path or an http(s) URL"));
    };
    let registry_https = Origin::parse(base).is_some_and(|o| o.https);
    if (from_origin.https || registry_https) && !to.https {
        return Err(refused(location, "a redirect from https to plain http"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let o = Origin::parse("https://Reg.example").unwrap();
        assert!(o.holds("https://reg.example:443/v2/"));
        assert!(!o.holds("http://reg.example:443/v2/"));
        assert!(!o.holds("https://reg.example:444/v2/"));
        assert!(!o.holds("https://user@reg.example/v2/"));
        assert!(!o.holds("ftp://reg.example/"));
    }

    #[test]
    fn links_and_locations_stay_on_the_registry() {
        let base = "https://r:5000";
        assert_eq!(
            resolve_on_registry(base, "/v2/x/tags/list?last=a").unwrap(),
            "https://r:5000/v2/x/tags/list?last=a"
        );
        assert_eq!(
            resolve_on_registry(base, "https://R:5000/v2/x/blobs/uploads/u").unwrap(),
            "https://R:5000/v2/x/blobs/uploads/u"
        );
        for (odd, why) in [
            ("http://r:5000/v2/x/tags/list", "plain http"),
            ("https://r:5001/v2/x", "origin"),
            ("https://cdn.example/v2/x", "origin"),
            ("//evil/x", "not a path"),
            ("uploads/u", "not a path"),
            ("ftp://r:5000/x", "not a path"),
            ("", "not a path"),
        ] {
            match resolve_on_registry(base, odd) {
                Err(StoreError::Protocol(message)) => {
                    assert!(message.contains(why), "{odd}: {message}")
                }
                other => panic!("{odd}: {other:?}"),
            }
        }
        // A plain-http registry: its own http origin only.
        assert!(resolve_on_registry("http://r:5000", "http://r:5000/v2/x").is_ok());
        assert!(resolve_on_registry("http://r:5000", "https://r:5000/v2/x").is_err());
    }

    #[test]
    fn redirects_go_anywhere_but_never_down_to_plain_http() {
        let base = "https://r";
        let from = "https://r/v2/x/blobs/sha256:aa";
        assert_eq!(
            resolve_redirect(from, base, "https://cdn.example/b?sig=1").unwrap(),
            "https://cdn.example/b?sig=1"
        );
        assert_eq!(
            resolve_redirect("https://cdn.example/b", base, "/c").unwrap(),
            "https://cdn.example:443/c"
        );
        assert!(resolve_redirect(from, base, "http://cdn.example/b").is_err());
        assert!(resolve_redirect(from, base, "http://r/b").is_err());
        assert!(resolve_redirect(from, base, "//cdn/b").is_err());
        let plain = "http://r:5000";
        assert!(resolve_redirect("http://r:5000/v2/b", plain, "http://cdn:81/b").is_ok());
    }
}
