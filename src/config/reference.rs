//! OCI references (to a published component, say): `HOST[:PORT]/REPOSITORY` with a
//! `:TAG`, an `@sha256:DIGEST`, or both (the digest wins), optionally written
//! `oci://...` like a store location.

use std::fmt;

use crate::digest::is_sha256_digest;

/// A component's place in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, lowercased host.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`: the manifest's digest, when pinned.
    pub digest: Option<String>,
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reference '{reference}': {why}")]
pub struct BadReference {
    pub reference: String,
    pub why: String,
}

/// The tag `publish` and `pull` use when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |why: &str| BadReference {
            reference: text.to_string(),
            why: why.to_string(),
        };
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        // `user:password@host/...`: refused before anything quotes the
        // input, which would show the password (credentials go in options).
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((_, host)) = authority.rsplit_once('@') {
            return Err(BadReference {
                reference: format!("{host}{}", &rest[authority.len()..]),
                why: "a reference names no user or password; give them as options \
                      (username, password_file, --password-stdin)"
                    .into(),
            });
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((name, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(bad(
                        "the digest must be sha256: and 64 lowercase hex digits",
                    ));
                }
                (name, Some(digest.to_string()))
            }
            None => (rest, None),
        };
        // A tag follows the last ':' after the last '/' (a ':' before it is
        // the port).
        let slash = rest
            .find('/')
            .ok_or_else(|| bad("expected HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]"))?;
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(colon) => {
                let at = slash + colon;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            if !valid_tag(tag) {
                return Err(bad(
                    "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                ));
            }
        }
        let (registry, repository) = super::parse_location(&format!("oci://{name}"))
            .map_err(|e| bad(&strip_location_prefix(&e.to_string())))?;
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What a manifest is fetched by: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// The same place, pinned to `digest`.
    pub fn pinned(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// OCI distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The store's location errors speak of a "location '...'": here it is a
/// reference, already named by `BadReference`.
fn strip_location_prefix(message: &str) -> String {
    match message.find("': ") {
        Some(at) if message.contains("location '") => message[at + 3..].to_string(),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_and_ports() {
        let cases = [
            (
                "r.example/team/plugin",
                "r.example",
                "team/plugin",
                None,
                None,
            ),
            (
                "r.example/plugin:1.0",
                "r.example",
                "plugin",
                Some("1.0"),
                None,
            ),
            (
                "localhost:5000/plugin:v1",
                "localhost:5000",
                "plugin",
                Some("v1"),
                None,
            ),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", None, None),
            ("oci://R.Example/p:t", "r.example", "p", Some("t"), None),
        ];
        for (text, registry, repository, tag, digest) in cases {
            let r = Reference::parse(text).unwrap();
            assert_eq!(r.registry, registry, "{text}");
            assert_eq!(r.repository, repository, "{text}");
            assert_eq!(r.tag.as_deref(), tag, "{text}");
            assert_eq!(r.digest.as_deref(), digest, "{text}");
        }
        let pinned = Reference::parse(&format!("r.example:443/p:v2@{DIGEST}")).unwrap();
        assert_eq!(pinned.tag.as_deref(), Some("v2"));
        assert_eq!(pinned.manifest_reference(), DIGEST);
        assert_eq!(pinned.to_string(), format!("r.example:443/p:v2@{DIGEST}"));
        assert_eq!(
            Reference::parse("r.example/p")
                .unwrap()
                .manifest_reference(),
            DEFAULT_TAG
        );
    }

    #[test]
    fn refuses_credentials_without_showing_them() {
        for text in [
            "oci://alice:s3cret@ghcr.io/team/component:v1",
            "alice:s3cret@ghcr.io/team/component@sha256:00",
            "s3cret@ghcr.io/team/component",
        ] {
            let err = Reference::parse(text).unwrap_err();
            let shown = err.to_string();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("ghcr.io/team/component"), "{shown}");
            assert!(shown.contains("no user or password"), "{shown}");
        }
    }

    #[test]
    fn refuses_malformed_references() {
        for (text, needle) in [
            ("plugin", "HOST"),
            ("r.example/p@sha256:abc", "digest"),
            ("r.example/p@md5:0123", "digest"),
            ("r.example/p:", "tag"),
            ("r.example/p:.hidden", "tag"),
            ("r.example/P", "lowercase"),
            ("r.example/", "repository"),
            ("bad host/p", "spaces"),
        ] {
            match Reference::parse(text) {
                Err(e) => assert!(e.to_string().contains(needle), "{text}: {e}"),
                Ok(r) => panic!("{text}: accepted as {r:?}"),
            }
        }
    }
}
