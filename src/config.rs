//! The store configuration: `location` and options, validated up front so a
//! mistake is reported before any request is made.

use crate::auth::credentials::Credentials;
use crate::error::StoreError;
use crate::retry::{Policy, DEFAULT_POLICY};
use std::time::Duration;

/// The artifact media type family used when `media_type` is not given.
pub const DEFAULT_MEDIA_TYPE: &str = "application/vnd.plakar.kloset.v1";

/// Keys the component understands. Host-level keys (TLS files and the like)
/// are consumed by the host and never reach the component.
pub const KNOWN_OPTIONS: [&str; 13] = [
    "location",
    "use_tls",
    "repository_prefix",
    "media_type",
    "username",
    "password",
    "token",
    "retries",
    "retry_budget",
    "timeout",
    "deadline",
    "upload_mode",
    "chunk_size",
];

/// Read when none of the `username`, `password` and `token` options is
/// given (the options win, as a whole: they are never mixed with these).
pub const ENV_USERNAME: &str = "OCI_REGISTRY_USERNAME";
pub const ENV_PASSWORD: &str = "OCI_REGISTRY_PASSWORD";
pub const ENV_TOKEN: &str = "OCI_REGISTRY_TOKEN";

/// How objects past the buffering limit travel to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// One PATCH with the body streamed and no `Content-Range`, as `docker
    /// push` sends it: the fewest requests, bounded memory; a connection
    /// that breaks mid-body fails the put (nothing becomes visible).
    Stream,
    /// PATCHes of `chunk_size` bytes with `Content-Range`, each resumable:
    /// for registries or proxies that cap request bodies (GHCR: 4 MiB).
    Chunked { chunk_size: usize },
    /// The whole object in memory, then one PUT with its digest: for
    /// registries without PATCH uploads. Memory grows with the object.
    Monolithic,
}

/// Default chunk for `upload_mode=chunked`.
pub const DEFAULT_CHUNK_SIZE: usize = 8 << 20;
/// Chunk sizes accepted: below 64 KiB requests dominate; above 256 MiB the
/// guest would hold more than four packfiles' worth.
const MIN_CHUNK_SIZE: u64 = 64 << 10;
const MAX_CHUNK_SIZE: u64 = 256 << 20;
/// Default per-request timeout (first byte of an answer, and between bytes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default for option `deadline`: how long one operation (a call of the
/// store: a list with all its pages, a get's reading, a delete) may take in
/// all, retries and body reads included. Generous for a 64 MiB packfile on
/// a slow link; its point is that nothing (a body drip-fed just under
/// `timeout`, an endless chain of pages, retries) stretches one call
/// without end.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
/// Connecting never waits longer than this, whatever `timeout` says.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `repository_prefix`: the longest tag we write is
/// `PREFIX.ecc-packfile-<64 hex>.d`, and tags are capped at 128 characters.
const MAX_PREFIX_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `https` unless `use_tls=false`, or unless the registry is on this
    /// machine (loopback) and `use_tls` is not given.
    pub use_tls: bool,
    /// `host[:port]` exactly as written in the location (lowercased host).
    pub registry: String,
    /// The registry repository, e.g. `backups/laptop`.
    pub repository: String,
    /// Optional tag prefix so several stores can share one repository.
    pub prefix: Option<String>,
    /// The artifact media type family (see `manifest`).
    pub media_type: String,
    /// What to log in with (its `Debug` hides secrets).
    pub credentials: Credentials,
    /// How hard to try (options `retries` and `retry_budget`, in seconds).
    pub retry: Policy,
    /// How long a request may wait for the registry (option `timeout`).
    pub timeout: Duration,
    /// How long one operation may take in all (option `deadline`).
    pub deadline: Duration,
    /// Options `upload_mode` and `chunk_size`.
    pub upload: UploadMode,
}

impl StoreConfig {
    pub fn parse(pairs: &[(String, String)]) -> Result<StoreConfig, StoreError> {
        Self::parse_with_env(pairs, &|_| None)
    }

    /// Like `parse`, with `env` looked up for credentials the options lack.
    pub fn parse_with_env(
        pairs: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StoreConfig, StoreError> {
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in pairs {
            if !KNOWN_OPTIONS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown option '{key}' (known: {})",
                    KNOWN_OPTIONS.join(", ")
                )));
            }
            if seen.contains(&key.as_str()) {
                return Err(invalid(format!("option '{key}' is given twice")));
            }
            seen.push(key);
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };

        let location = get("location").ok_or_else(|| invalid("missing 'location'".into()))?;
        let (registry, repository) = parse_location(location)?;
        // Plain HTTP by default for a registry on this machine, as Docker
        // (insecure-registries includes 127.0.0.0/8) and crane do, so the
        // usual local `registry:2` on localhost:5000 works as it is; every
        // other host gets https unless told otherwise.
        let use_tls = match get("use_tls") {
            None => !is_loopback_authority(&registry),
            Some(v) => parse_bool("use_tls", v)?,
        };
        let prefix = get("repository_prefix").map(parse_prefix).transpose()?;
        let media_type = match get("media_type") {
            None => DEFAULT_MEDIA_TYPE.to_string(),
            Some(v) => parse_media_type(v)?,
        };
        let given = |k: &str| get(k).map(str::to_string);
        let (username, password, token) =
            match (given("username"), given("password"), given("token")) {
                (None, None, None) => (env(ENV_USERNAME), env(ENV_PASSWORD), env(ENV_TOKEN)),
                options => options,
            };
        let credentials =
            Credentials::from_settings(username.as_deref(), password.as_deref(), token.as_deref())?;
        let mut retry = DEFAULT_POLICY;
        if let Some(v) = get("retries") {
            retry.retries = parse_number("retries", v, 0, 20)? as usize;
        }
        if let Some(v) = get("retry_budget") {
            retry.budget = Duration::from_secs(parse_number("retry_budget", v, 1, 3600)?);
        }
        let timeout = match get("timeout") {
            None => DEFAULT_TIMEOUT,
            Some(v) => Duration::from_secs(parse_number("timeout", v, 1, 3600)?),
        };
        // A deadline shorter than the retry budget would cut retries the
        // budget allows: by default it is at least the budget.
        let deadline = match get("deadline") {
            None => DEFAULT_DEADLINE.max(retry.budget),
            Some(v) => Duration::from_secs(parse_number("deadline", v, 1, 86_400)?),
        };
        let upload = parse_upload_mode(get("upload_mode"), get("chunk_size"))?;
        Ok(StoreConfig {
            use_tls,
            registry,
            repository,
            prefix,
            media_type,
            credentials,
            retry,
            timeout,
            deadline,
            upload,
        })
    }

    /// Connect, first-byte and between-bytes timeouts of every request.
    pub fn timeouts(&self) -> (Duration, Duration, Duration) {
        timeouts_for(self.timeout)
    }

    /// `https://host:port` or `http://host:port`.
    pub fn base_url(&self) -> String {
        let scheme = if self.use_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.registry)
    }

    /// The location in its canonical form, for messages.
    pub fn location(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }
}

/// The timeouts of a store with the default `timeout`.
pub fn default_timeouts() -> (Duration, Duration, Duration) {
    timeouts_for(DEFAULT_TIMEOUT)
}

fn timeouts_for(timeout: Duration) -> (Duration, Duration, Duration) {
    (timeout.min(MAX_CONNECT_TIMEOUT), timeout, timeout)
}

fn invalid(message: String) -> StoreError {
    StoreError::InvalidConfig(message)
}

/// Splits `oci://HOST[:PORT]/REPO[/...]` into its authority and repository.
pub fn parse_location(location: &str) -> Result<(String, String), StoreError> {
    // `oci://user:password@host/repo`: refused before anything quotes the
    // location, which would put the password in an error message and logs.
    if location.contains('@') {
        return Err(invalid(
            "location holds user information (user:password@); give credentials as the \
             username and password options instead"
                .into(),
        ));
    }
    let rest = location
        .strip_prefix("oci://")
        .ok_or_else(|| invalid(format!("location '{location}' must start with oci://")))?;
    if rest.contains(['?', '#', '@']) || rest.chars().any(char::is_whitespace) {
        return Err(invalid(format!(
            "location '{location}' may not hold a query, a fragment or spaces"
        )));
    }
    let (authority, repository) = rest.split_once('/').ok_or_else(|| {
        invalid(format!(
            "location '{location}' names no repository (oci://HOST[:PORT]/REPOSITORY)"
        ))
    })?;
    let authority = parse_authority(authority, location)?;
    let repository = repository.trim_end_matches('/');
    validate_repository(repository, location)?;
    Ok((authority, repository.to_string()))
}

/// Whether `host[:port]` (as [`parse_location`] returns it) names this
/// machine: `localhost`, an address in 127.0.0.0/8, or `[::1]`.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        return v6
            .split_once(']')
            .and_then(|(addr, _)| addr.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|addr| addr.is_loopback());
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|addr| addr.is_loopback())
}

fn parse_authority(authority: &str, location: &str) -> Result<String, StoreError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid(format!("location '{location}': unclosed '[' in host")))?;
        // Canonical (lowercase, compressed) so it compares as the host does.
        let Ok(addr) = addr.parse::<std::net::Ipv6Addr>() else {
            return Err(invalid(format!("location '{location}': bad IPv6 address")));
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                invalid(format!("location '{location}': junk after IPv6 address"))
            })?),
        };
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let labels_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !labels_ok {
            return Err(invalid(format!(
                "location '{location}': bad registry host '{host}'"
            )));
        }
        (host.to_ascii_lowercase(), port)
    };
    match port {
        None => Ok(host),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Ok(format!("{host}:{n}")),
            _ => Err(invalid(format!("location '{location}': bad port '{p}'"))),
        },
    }
}

/// Repository names per the OCI distribution spec: path components of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
fn validate_repository(repository: &str, location: &str) -> Result<(), StoreError> {
    if repository.is_empty() {
        return Err(invalid(format!(
            "location '{location}' names no repository"
        )));
    }
    if repository.len() > 255 {
        return Err(invalid(format!(
            "location '{location}': repository name over 255 characters"
        )));
    }
    for component in repository.split('/') {
        if !valid_component(component) {
            return Err(invalid(format!(
                "location '{location}': repository component '{component}' must be lowercase \
                 letters and digits, separated by '.', '_', '__' or dashes"
            )));
        }
    }
    Ok(())
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `upload_mode` is `stream` (the default), `chunked` or `monolithic`;
/// `chunk_size` alone implies `chunked`, and makes no sense with the others.
fn parse_upload_mode(
    mode: Option<&str>,
    chunk_size: Option<&str>,
) -> Result<UploadMode, StoreError> {
    let size = chunk_size
        .map(|v| parse_size("chunk_size", v, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE))
        .transpose()?;
    match (mode.map(str::trim), size) {
        (None | Some("stream"), None) => Ok(UploadMode::Stream),
        (None | Some("chunked"), Some(n)) => Ok(UploadMode::Chunked {
            chunk_size: n as usize,
        }),
        (Some("chunked"), None) => Ok(UploadMode::Chunked {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }),
        (Some("monolithic"), None) => Ok(UploadMode::Monolithic),
        (Some(m @ ("stream" | "monolithic")), Some(_)) => Err(invalid(format!(
            "option 'chunk_size' applies to upload_mode=chunked, not '{m}'"
        ))),
        (Some(other), _) => Err(invalid(format!(
            "option 'upload_mode' is '{other}'; expected stream, chunked or monolithic"
        ))),
    }
}

/// A byte count in `[min, max]`: plain bytes, or with a binary suffix
/// (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`, any case), as in `4MiB`.
fn parse_size(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => u32::MAX,
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .filter(|_| shift != u32::MAX)
        .and_then(|n| n.checked_mul(1u64.checked_shl(shift)?));
    match bytes {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "option '{key}' is '{value}'; expected a size from {} KiB to {} MiB, \
             such as 4MiB or 4194304",
            min >> 10,
            max >> 20
        ))),
    }
}

/// A whole number in `[min, max]`.
fn parse_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "option '{key}' must be a whole number from {min} to {max}, got '{value}'"
        ))),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, StoreError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(format!(
            "option '{key}' must be true or false, got '{value}'"
        ))),
    }
}

/// Prefixes join tags with '.', so they may not contain one: that keeps the
/// tags of two different prefixes from ever colliding.
fn parse_prefix(value: &str) -> Result<String, StoreError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_PREFIX_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !value.starts_with('-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(invalid(format!(
            "option 'repository_prefix' must be 1 to {MAX_PREFIX_LEN} letters, digits, '_' or '-' \
             (not starting with '-'), got '{value}'"
        )))
    }
}

/// A media type `type/subtype` (RFC 6838 restricted-name characters).
fn parse_media_type(value: &str) -> Result<String, StoreError> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    match value.split_once('/') {
        Some((t, s)) if name_ok(t) && name_ok(s) => Ok(value.to_string()),
        _ => Err(invalid(format!(
            "option 'media_type' must look like type/subtype, got '{value}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<StoreConfig, StoreError> {
        let pairs: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StoreConfig::parse(&pairs)
    }

    #[test]
    fn good_locations() {
        let cases = [
            ("oci://ghcr.io/acme/backups", "ghcr.io", "acme/backups"),
            ("oci://127.0.0.1:5000/demo", "127.0.0.1:5000", "demo"),
            (
                "oci://Registry.Example.COM/a/b/c/",
                "registry.example.com",
                "a/b/c",
            ),
            (
                "oci://[::1]:5000/x.y_z__w-v--u",
                "[::1]:5000",
                "x.y_z__w-v--u",
            ),
            // Found by fuzzing (`location`): IPv6 kept its case and any
            // hex-and-colons junk.
            ("oci://[0:0::ABCD]:5000/x", "[::abcd]:5000", "x"),
        ];
        for (location, registry, repository) in cases {
            let (r, p) = parse_location(location).unwrap_or_else(|e| panic!("{location}: {e}"));
            assert_eq!(
                (r.as_str(), p.as_str()),
                (registry, repository),
                "{location}"
            );
        }
    }

    #[test]
    fn bad_locations_name_the_problem() {
        let cases = [
            ("s3://bucket/x", "must start with oci://"),
            ("oci://host", "names no repository"),
            ("oci://host/", "names no repository"),
            ("oci://host:0/x", "bad port"),
            ("oci://host:99999/x", "bad port"),
            ("oci://host:/x", "bad port"),
            ("oci://ho_st/x", "bad registry host"),
            ("oci:///x", "bad registry host"),
            ("oci://host/Upper", "must be lowercase"),
            ("oci://host/a//b", "must be lowercase"),
            ("oci://host/a-", "must be lowercase"),
            ("oci://host/a...b", "must be lowercase"),
            ("oci://host/x?tag=1", "may not hold a query"),
            ("oci://[::1/x", "unclosed"),
            ("oci://[:C0]/x", "bad IPv6"),
        ];
        for (location, needle) in cases {
            match parse_location(location) {
                Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{location}: {m}"),
                other => panic!("{location}: expected invalid-config, got {other:?}"),
            }
        }
    }

    #[test]
    fn user_information_in_the_location_is_refused_unquoted() {
        for location in [
            "oci://user:s3cret-pw@host/x",
            "oci://user:s3cret-pw@host:5000/team/x",
            "s3cret-pw@oci://host/x",
            "https://user:s3cret-pw@host/x",
            "oci://host/x@s3cret-pw",
        ] {
            match cfg(&[("location", location)]) {
                Err(StoreError::InvalidConfig(m)) => {
                    assert!(m.contains("user information"), "{m}");
                    assert!(!m.contains("s3cret"), "the secret is quoted back: {m}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_deadline_option() {
        let base = ("location", "oci://h/r");
        assert_eq!(cfg(&[base]).unwrap().deadline, DEFAULT_DEADLINE);
        assert_eq!(
            cfg(&[base, ("retry_budget", "3000")]).unwrap().deadline,
            Duration::from_secs(3000),
            "at least the retry budget by default"
        );
        assert_eq!(
            cfg(&[base, ("deadline", "7")]).unwrap().deadline,
            Duration::from_secs(7)
        );
        for bad in ["0", "86401", "x"] {
            assert!(
                matches!(cfg(&[base, ("deadline", bad)]), Err(StoreError::InvalidConfig(m)) if m.contains("deadline")),
                "{bad}"
            );
        }
    }

    #[test]
    fn options_are_checked() {
        let base = ("location", "oci://h/r");
        let c = cfg(&[base]).unwrap();
        assert!(c.use_tls);
        assert_eq!(c.media_type, DEFAULT_MEDIA_TYPE);
        assert_eq!(c.base_url(), "https://h");
        let c = cfg(&[base, ("use_tls", "false"), ("repository_prefix", "host_1")]).unwrap();
        assert_eq!(c.base_url(), "http://h");
        assert_eq!(c.prefix.as_deref(), Some("host_1"));

        let long_prefix = "x".repeat(41);
        let bad = [
            (vec![("use_tls", "maybe")], "must be true or false"),
            (vec![("bogus", "1")], "unknown option 'bogus'"),
            (
                vec![("use_tls", "true"), ("use_tls", "false")],
                "given twice",
            ),
            (vec![("repository_prefix", "a.b")], "repository_prefix"),
            (
                vec![("repository_prefix", long_prefix.as_str())],
                "repository_prefix",
            ),
            (vec![("media_type", "nonsense")], "type/subtype"),
        ];
        for (extra, needle) in bad {
            let mut pairs = vec![base];
            pairs.extend(extra);
            match cfg(&pairs) {
                Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("expected invalid-config containing {needle}, got {other:?}"),
            }
        }
        assert!(
            matches!(cfg(&[("use_tls", "true")]), Err(StoreError::InvalidConfig(m)) if m.contains("missing 'location'"))
        );
    }

    #[test]
    fn retry_options() {
        let base = ("location", "oci://h/r");
        let c = cfg(&[base]).unwrap();
        assert_eq!(c.retry, DEFAULT_POLICY);
        let c = cfg(&[base, ("retries", "0"), ("retry_budget", "15")]).unwrap();
        assert_eq!(c.retry.retries, 0);
        assert_eq!(c.retry.budget, std::time::Duration::from_secs(15));
        for (key, bad) in [
            ("retries", "21"),
            ("retries", "-1"),
            ("retries", "many"),
            ("retry_budget", "0"),
            ("retry_budget", "3601"),
        ] {
            match cfg(&[base, (key, bad)]) {
                Err(StoreError::InvalidConfig(m)) => assert!(m.contains(key), "{m}"),
                other => panic!("{key}={bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn timeout_and_upload_options() {
        let base = ("location", "oci://r.example/a");
        let c = cfg(&[base]).unwrap();
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.upload, UploadMode::Stream);
        let c = cfg(&[base, ("timeout", "5")]).unwrap();
        assert_eq!(
            c.timeouts(),
            (
                Duration::from_secs(5),
                Duration::from_secs(5),
                Duration::from_secs(5)
            )
        );
        let c = cfg(&[base, ("timeout", "600")]).unwrap();
        assert_eq!(c.timeouts().0, MAX_CONNECT_TIMEOUT);

        let cases: [(&[(&str, &str)], UploadMode); 6] = [
            (&[("upload_mode", "stream")], UploadMode::Stream),
            (&[("upload_mode", "monolithic")], UploadMode::Monolithic),
            (
                &[("upload_mode", "chunked")],
                UploadMode::Chunked {
                    chunk_size: DEFAULT_CHUNK_SIZE,
                },
            ),
            (
                &[("chunk_size", "4MiB")],
                UploadMode::Chunked {
                    chunk_size: 4 << 20,
                },
            ),
            (
                &[("upload_mode", "chunked"), ("chunk_size", "65536")],
                UploadMode::Chunked { chunk_size: 65536 },
            ),
            (
                &[("chunk_size", "512k")],
                UploadMode::Chunked {
                    chunk_size: 512 << 10,
                },
            ),
        ];
        for (options, expected) in cases {
            let mut pairs = vec![base];
            pairs.extend_from_slice(options);
            assert_eq!(cfg(&pairs).unwrap().upload, expected, "{options:?}");
        }

        for (options, needle) in [
            (&[("timeout", "0")][..], "timeout"),
            (&[("timeout", "3601")], "timeout"),
            (&[("upload_mode", "resumable")], "upload_mode"),
            (&[("chunk_size", "1k")], "chunk_size"),
            (&[("chunk_size", "1GiB")], "chunk_size"),
            (&[("chunk_size", "4 parsecs")], "chunk_size"),
            (&[("chunk_size", "99999999999999999999M")], "chunk_size"),
            (
                &[("upload_mode", "stream"), ("chunk_size", "4M")],
                "chunk_size",
            ),
            (
                &[("upload_mode", "monolithic"), ("chunk_size", "4M")],
                "chunk_size",
            ),
        ] {
            let mut pairs = vec![base];
            pairs.extend_from_slice(options);
            match cfg(&pairs) {
                Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("{options:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn loopback_registries_default_to_plain_http_and_others_to_https() {
        let cases = [
            ("oci://localhost:5000/a", false),
            ("oci://LOCALHOST/a", false),
            ("oci://127.0.0.1:5000/a", false),
            ("oci://127.1.2.3/a", false),
            ("oci://[::1]:5000/a", false),
            ("oci://[0:0::1]/a", false),
            ("oci://ghcr.io/a", true),
            ("oci://10.0.0.1:5000/a", true),
            ("oci://localhost.example.com/a", true),
            ("oci://128.0.0.1/a", true),
            ("oci://[::2]/a", true),
        ];
        for (location, tls) in cases {
            let pairs = vec![("location".to_string(), location.to_string())];
            let config = StoreConfig::parse(&pairs).unwrap();
            assert_eq!(config.use_tls, tls, "{location}");
        }
        // An explicit use_tls always wins.
        let pairs = vec![
            ("location".to_string(), "oci://localhost:5000/a".to_string()),
            ("use_tls".to_string(), "true".to_string()),
        ];
        assert!(StoreConfig::parse(&pairs).unwrap().use_tls);
    }
}
