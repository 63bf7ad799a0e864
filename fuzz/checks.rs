//! What each fuzz target checks, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and by `tests/host/fuzz_corpus.rs`, which replays
//! `fuzz/corpus/<target>/` on stable Rust so CI keeps every input that once
//! found a bug.
//!
//! Each check takes raw bytes, reads them the way the corpus files are
//! written (plain text, so seeds can be written by hand from real registry
//! answers), feeds the crate's parser and panics when an invariant breaks:
//! beyond "no panic", a parsed value must agree with its input, what we
//! build must parse back to itself, errors must be typed, short and
//! printable, and never depend on a secret.
//!
//! Input forms (lines are split on '\n'):
//! - `location`: `key=value` lines, the store's options.
//! - `www_authenticate`, `link`: one header value per line.
//! - `manifest`: a manifest body; the same bytes also seed a round trip.
//! - `tag`: a prefix line (empty: none), then one tag per line.
//! - `error_body`, `token_response`: a status line, then the body.
//! - `content_range`: `OFFSET LENGTH SIZE STATUS`, then the Content-Range
//!   value if any.
//! - `tag_list`: answers separated by `===` lines; each is a status line,
//!   `name: value` header lines, a blank line and the body.

#![allow(dead_code)]

use http::{HeaderMap, Method, Request, Response, Uri};
use kloset_oci::auth::challenge::{parse_challenges, Challenge};
use kloset_oci::auth::credentials::Credentials;
use kloset_oci::auth::token::{parse_token_answer, MAX_LIFETIME};
use kloset_oci::auth::{Authenticator, Prepared};
use kloset_oci::client::RegistryClient;
use kloset_oci::config::{parse_location, StoreConfig};
use kloset_oci::digest::{is_sha256_digest, sha256_digest};
use kloset_oci::layout::{classify, Layout, TagRole};
use kloset_oci::link::next_link;
use kloset_oci::manifest::{
    config_manifest, marker_manifest, object_manifest, parse_config, parse_object, BlobRef,
    Deletion, ObjectEntry,
};
use kloset_oci::range::{plan_slice, ByteRange};
use kloset_oci::registry_error::{error_codes, error_from_response, parse_error_body};
use kloset_oci::retry::{Policy, DEFAULT_POLICY};
use kloset_oci::transport::{ResponseBody, SendFailure, Transport, Upload};
use kloset_oci::{Mac, Resource, StoreError};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

/// A target's check: panics when the input breaks an invariant.
pub type Check = fn(&[u8]);

/// Every target by name: the corpus directory and the fuzz target share it.
pub const TARGETS: &[(&str, Check)] = &[
    ("location", location),
    ("www_authenticate", www_authenticate),
    ("link", link),
    ("manifest", manifest),
    ("tag", tag),
    ("error_body", error_body),
    ("token_response", token_response),
    ("content_range", content_range),
    ("tag_list", tag_list),
];

/// The registry the network-facing checks talk to (nothing is sent: the
/// transport below answers from the input).
const REGISTRY: &str = "registry.example:5000";
const BASE: &str = "https://registry.example:5000";
const REPOSITORY: &str = "team/repo";
const PASSWORD: &str = "pw-Zq8x-secret";
const REFRESH_TOKEN: &str = "rt-Zq8x-secret";
/// The MAC the manifest check reads tags as: 32 bytes of 0x07, so seeds
/// carry `"0707...07"` in their `io.plakar.kloset.mac` annotation.
const SEED_MAC: Mac = Mac([7; 32]);
const MEDIA_TYPE: &str = "application/vnd.plakar.kloset.v1";
/// Errors built from registry answers stay short enough to read: the
/// registry's own words are cut (see `registry_error`).
const MAX_ERROR_CHARS: usize = 600;

fn text(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// A status line, then the rest.
fn status_and_body(data: &[u8]) -> (u16, Vec<u8>) {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], data[i + 1..].to_vec()),
        None => (data, Vec::new()),
    };
    let status = String::from_utf8_lossy(line).trim().parse().unwrap_or(200);
    (status, body)
}

/// An error made from a registry's answer: typed by the caller, and here
/// checked to be short and free of control characters (it ends up in logs
/// and terminals).
fn assert_tame(error: &StoreError) {
    let shown = error.to_string();
    assert!(
        shown.chars().count() <= MAX_ERROR_CHARS,
        "error of {} characters: {}...",
        shown.chars().count(),
        shown.chars().take(200).collect::<String>()
    );
    assert!(
        !shown.chars().any(char::is_control),
        "control character in error: {shown:?}"
    );
}

fn assert_no_secret(shown: &str) {
    for secret in [PASSWORD, REFRESH_TOKEN] {
        assert!(!shown.contains(secret), "secret shown: {shown}");
    }
}

// ---------------------------------------------------------------- location

/// The store's options: a valid result names a valid registry and OCI
/// repository and reads back from its canonical location; what is shown (an
/// error, or the configuration's `Debug`) never depends on a secret's value.
pub fn location(data: &[u8]) {
    let pairs: Vec<(String, String)> = text(data)
        .split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (line.to_string(), String::new()),
        })
        .collect();
    let outcome = StoreConfig::parse(&pairs);
    let shown = match &outcome {
        Ok(config) => format!("{config:?}"),
        Err(error) => {
            assert!(
                matches!(error, StoreError::InvalidConfig(_)),
                "untyped: {error:?}"
            );
            error.to_string()
        }
    };
    // Swap each secret for another non-empty value (empty ones are a
    // different case): what is shown must not change.
    for secret in ["password", "token"] {
        let swapped: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| match k == secret && !v.is_empty() {
                true => (k.clone(), "\u{2022}".to_string()),
                false => (k.clone(), v.clone()),
            })
            .collect();
        let shown_swapped = match StoreConfig::parse(&swapped) {
            Ok(config) => format!("{config:?}"),
            Err(error) => error.to_string(),
        };
        assert_eq!(shown, shown_swapped, "the {secret} shows through");
    }
    let Ok(config) = outcome else { return };
    assert!(
        is_oci_repository(&config.repository),
        "invalid repository {:?}",
        config.repository
    );
    assert!(
        !config.registry.is_empty()
            && !config.registry.contains(['/', '@', '?', '#'])
            && config.registry == config.registry.to_ascii_lowercase(),
        "odd registry {:?}",
        config.registry
    );
    assert_eq!(
        parse_location(&config.location()).expect("the canonical location parses"),
        (config.registry.clone(), config.repository.clone())
    );
    let base: Uri = config.base_url().parse().expect("the base URL is a URI");
    assert_eq!(
        base.authority().map(|a| a.as_str()),
        Some(config.registry.as_str()),
        "base URL {base}"
    );
    let layout = Layout::new(config.prefix.clone());
    for kind in Resource::ALL {
        for role in [TagRole::Object, TagRole::Deleted, TagRole::Revived] {
            let tag = layout.tag(kind, &Mac([0xab; 32]), role);
            assert!(is_oci_tag(&tag), "tag {tag:?}");
        }
    }
    assert!(is_oci_tag(&layout.config_tag()) && is_oci_tag(&layout.probe_tag()));
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
/// at most 255 characters (distribution spec, "Pulling manifests"),
/// written as a little recursive-descent matcher rather than the crate's
/// scan so the two are independent.
fn is_oci_repository(name: &str) -> bool {
    fn alnums(s: &[u8]) -> Option<&[u8]> {
        let n = s
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        (n > 0).then(|| &s[n..])
    }
    fn separator(s: &[u8]) -> Option<&[u8]> {
        match s {
            [b'_', b'_', rest @ ..] => Some(rest),
            [b'_' | b'.', rest @ ..] => Some(rest),
            [b'-', ..] => Some(&s[s.iter().take_while(|&&b| b == b'-').count()..]),
            _ => None,
        }
    }
    fn component(mut s: &[u8]) -> bool {
        let Some(rest) = alnums(s) else { return false };
        s = rest;
        while !s.is_empty() {
            let Some(rest) = separator(s).and_then(alnums) else {
                return false;
            };
            s = rest;
        }
        true
    }
    name.len() <= 255 && name.split('/').all(|c| component(c.as_bytes()))
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution spec).
fn is_oci_tag(tag: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && ok(bytes[0])
        && bytes.iter().all(|&b| ok(b) || b == b'.' || b == b'-')
}

// -------------------------------------------------------- www_authenticate

/// `WWW-Authenticate`: every parsed challenge is made of tokens, writing
/// the challenges out again and parsing that gives the same challenges, and
/// following them never sends a secret to a realm that may not see it.
pub fn www_authenticate(data: &[u8]) {
    let text = text(data);
    let challenges = parse_challenges(text.split('\n'));
    for c in &challenges {
        assert!(is_lower_token(&c.scheme), "scheme {:?}", c.scheme);
        for name in c.params.keys() {
            assert!(is_lower_token(name), "parameter name {name:?}");
        }
    }
    let written = write_challenges(&challenges);
    assert_eq!(
        parse_challenges([written.as_str()]),
        challenges,
        "{text:?} written as {written:?}"
    );
    for credentials in [
        Credentials::Basic {
            username: "alice".into(),
            password: PASSWORD.into(),
        },
        Credentials::IdentityToken(REFRESH_TOKEN.into()),
    ] {
        secrets_stay_home(&challenges, credentials);
    }
}

fn is_lower_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            (c.is_ascii_alphanumeric() && !c.is_ascii_uppercase()) || "!#$%&'*+-.^_`|~".contains(c)
        })
}

/// Challenges in the plainest form: every value quoted, `"` and `\` escaped.
fn write_challenges(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            match params.is_empty() {
                true => c.scheme.clone(),
                false => format!("{} {}", c.scheme, params.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Secrets go to a token realm only over https (the registry here is https:
/// field notes, section 3, never in the clear), and only a realm the
/// registry's own answer named is learnt.
fn secrets_stay_home(challenges: &[Challenge], credentials: Credentials) {
    let auth = Authenticator::new(BASE, REPOSITORY, credentials);
    let uri: Uri = format!("{BASE}/v2/{REPOSITORY}/tags/list").parse().unwrap();
    let elsewhere: Uri = format!("http://{REGISTRY}/v2/{REPOSITORY}/tags/list")
        .parse()
        .unwrap();
    assert!(
        !auth.challenged(&elsewhere, challenges, &Method::GET),
        "a realm learnt from the plaintext side of the registry"
    );
    if !auth.challenged(&uri, challenges, &Method::GET) {
        return;
    }
    let mut headers = HeaderMap::new();
    match auth.prepare(&Method::GET, &uri, &mut headers, Duration::ZERO) {
        Ok(Prepared::FetchToken(request)) => {
            let carries_secret = request.headers().contains_key(http::header::AUTHORIZATION)
                || String::from_utf8_lossy(request.body()).contains("secret");
            if carries_secret {
                let uri = request.uri();
                assert!(
                    uri.scheme_str() == Some("https"),
                    "credentials sent to {uri} in the clear"
                );
            }
        }
        Ok(Prepared::Ready) => {}
        Err(error) => {
            assert_no_secret(&format!("{error} {error:?}"));
            assert_tame(&error);
        }
    }
}

// -------------------------------------------------------------------- link

/// `Link`: the next page is a `<target>` of the input whose parameters
/// name `rel` next, and it resolves to an absolute URL on the registry or
/// is refused with a typed error.
pub fn link(data: &[u8]) {
    let text = text(data);
    let values: Vec<&str> = text.split('\n').collect();
    let Some(target) = next_link(values.iter().copied()) else {
        return;
    };
    assert!(!target.is_empty() && !target.contains('>'), "{target:?}");
    let bracketed = format!("<{target}>");
    let marked_next = values.iter().any(|v| {
        v.match_indices(&bracketed).any(|(at, _)| {
            v[at + bracketed.len()..]
                .to_ascii_lowercase()
                .contains("next")
        })
    });
    assert!(
        marked_next,
        "{target:?} is no <target> marked next in {values:?}"
    );
    let client = offline_client(Vec::new());
    match client.resolve(&target) {
        Ok(url) => {
            assert!(
                kloset_oci::origin::Origin::parse(BASE).unwrap().holds(&url),
                "{url} is not on the registry's origin"
            );
            if target.starts_with('/') {
                assert_eq!(url, format!("{BASE}{target}"));
            } else {
                assert_eq!(url, target);
            }
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Registry { .. }), "{error:?}");
        }
    }
}

// ---------------------------------------------------------------- manifest

/// Manifests: whatever sits at our tag is accepted only when it names that
/// very key and one sha256 layer; and every manifest we build parses back
/// to what was built, and to nothing under another key.
pub fn manifest(data: &[u8]) {
    for kind in Resource::ALL {
        match parse_object(data, kind, &SEED_MAC, None, "t") {
            Ok(entry) => {
                // serde skips unknown fields without checking their text, so
                // `Value` may refuse what the manifest reader took.
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
                    continue;
                };
                let ann = &v["annotations"];
                assert_eq!(ann["io.plakar.kloset.resource"], kind.name());
                assert_eq!(ann["io.plakar.kloset.mac"], SEED_MAC.to_hex());
                let role = match &entry {
                    ObjectEntry::Object(blob) => {
                        assert!(is_sha256_digest(&blob.digest));
                        assert_eq!(v["layers"][0]["digest"], blob.digest.as_str());
                        "object"
                    }
                    ObjectEntry::Tombstone => "tombstone",
                };
                assert_eq!(ann["io.plakar.kloset.role"], role);
            }
            Err(error) => {
                assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
                assert_tame(&error);
            }
        }
    }
    match parse_config(data, "config") {
        Ok((blob, _)) => {
            assert!(is_sha256_digest(&blob.digest));
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                assert_eq!(v["annotations"]["io.plakar.kloset.role"], "config");
            }
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
            assert_tame(&error);
        }
    }
    round_trip(data);
}

/// Builds our manifests from values taken from the input, and reads them.
fn round_trip(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let kind = Resource::ALL[usize::from(byte(0)) % Resource::ALL.len()];
    let mut mac = [0u8; 32];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = byte(i + 1);
    }
    let mac = Mac(mac);
    let size = u64::from_le_bytes(std::array::from_fn(|i| byte(33 + i)));
    let blob = BlobRef {
        digest: sha256_digest(data),
        size,
    };
    let object = object_manifest(MEDIA_TYPE, kind, &mac, None, &blob);
    assert!(object.len() < 1024, "{} bytes", object.len());
    assert_eq!(
        parse_object(&object, kind, &mac, None, "t").unwrap(),
        ObjectEntry::Object(blob.clone())
    );
    let mut other = mac;
    other.0[31] ^= 1;
    assert!(parse_object(&object, kind, &other, None, "t").is_err());
    let tombstone = marker_manifest(MEDIA_TYPE, kind, &mac, None, false);
    assert_eq!(
        parse_object(&tombstone, kind, &mac, None, "t").unwrap(),
        ObjectEntry::Tombstone
    );
    assert!(parse_object(
        &marker_manifest(MEDIA_TYPE, kind, &mac, None, true),
        kind,
        &mac,
        None,
        "t"
    )
    .is_err());
    let prefix = String::from_utf8_lossy(&data[data.len().min(41)..]).into_owned();
    let deletion = match byte(0) & 0x80 {
        0 => Deletion::Registry,
        _ => Deletion::Tombstone,
    };
    let config = config_manifest(MEDIA_TYPE, Some(&prefix), &blob, deletion, None);
    assert_eq!(parse_config(&config, "config").unwrap(), (blob, deletion));
}

// --------------------------------------------------------------------- tag

/// Tag names: a tag read as ours is exactly the tag we would write for it
/// (one name per key and role), and the listing built from tags agrees
/// with the tags.
pub fn tag(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let prefix = lines.next().unwrap_or("");
    // The configuration admits these prefixes only (`repository_prefix`).
    let prefix_ok = !prefix.is_empty()
        && prefix.len() <= 40
        && !prefix.starts_with('-')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let layout = Layout::new(prefix_ok.then(|| prefix.to_string()));
    let tags: Vec<&str> = lines.collect();
    for tag in &tags {
        if let Some((kind, mac, role)) = layout.parse(tag) {
            assert_eq!(layout.tag(kind, &mac, role), *tag);
        }
    }
    for kind in Resource::ALL {
        let listing = classify(&layout, tags.iter().copied(), kind);
        let has = |mac: &Mac, role| tags.contains(&layout.tag(kind, mac, role).as_str());
        assert!(listing.live.is_sorted() && listing.undecided.is_sorted());
        for mac in &listing.live {
            assert!(has(mac, TagRole::Object) && !has(mac, TagRole::Deleted));
            assert!(!listing.undecided.contains(mac));
        }
        for mac in &listing.undecided {
            assert!(has(mac, TagRole::Object) && has(mac, TagRole::Deleted));
            assert!(has(mac, TagRole::Revived));
        }
    }
}

// -------------------------------------------------------------- error_body

/// Error bodies: the status decides the error's kind where it is telling,
/// the registry's words are cut and cleaned, and codes agree between the
/// two readers.
pub fn error_body(data: &[u8]) {
    let (status, body) = status_and_body(data);
    let error = error_from_response(status, &body, "GET x");
    assert_tame(&error);
    match status {
        401 => assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}"),
        429 => assert!(
            matches!(
                error,
                StoreError::Unauthorized(_) | StoreError::Denied(_) | StoreError::RateLimited(_)
            ),
            "{error:?}"
        ),
        _ => {}
    }
    let codes = error_codes(&body);
    match parse_error_body(&body) {
        Some((code, message)) => {
            let first = codes.first().expect("the same first code");
            if first.len() <= 40 && !first.chars().any(char::is_control) {
                assert_eq!(first, &code);
            }
            for text in [&code, &message] {
                assert!(text.chars().count() <= 303 && !text.chars().any(char::is_control));
            }
        }
        None => assert!(codes.is_empty()),
    }
}

// ---------------------------------------------------------- token_response

/// Token answers: the token is the answer's `token` or `access_token`, its
/// lifetime positive and bounded; stored, it is used until shortly before
/// that lifetime ends, whatever the clock reads.
pub fn token_response(data: &[u8]) {
    let (status, body) = status_and_body(data);
    match parse_token_answer(&body) {
        Ok(token) => {
            // serde skips unknown fields without checking their escapes, so
            // `Value` may refuse what the answer's reader took.
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                assert!(
                    v["token"] == token.value.as_str() || v["access_token"] == token.value.as_str()
                );
            }
            assert!(
                token.lifetime > Duration::ZERO && token.lifetime <= MAX_LIFETIME,
                "{token:?}"
            );
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
            assert_tame(&error);
        }
    }
    // The same answer handed to a logged-in client an hour into its life.
    let auth = Authenticator::new(
        BASE,
        REPOSITORY,
        Credentials::Basic {
            username: "alice".into(),
            password: PASSWORD.into(),
        },
    );
    let challenge = format!(r#"Bearer realm="{BASE}/token",service="{REGISTRY}""#);
    let uri: Uri = format!("{BASE}/v2/{REPOSITORY}/tags/list").parse().unwrap();
    assert!(auth.challenged(&uri, &parse_challenges([challenge.as_str()]), &Method::GET));
    let now = Duration::from_secs(3600);
    let prepare = |at: Duration| {
        let mut headers = HeaderMap::new();
        let prepared = auth.prepare(&Method::GET, &uri, &mut headers, at);
        (prepared, headers)
    };
    assert!(matches!(prepare(now).0, Ok(Prepared::FetchToken(_))));
    match auth.token_answer(status, &body, now) {
        Ok(true) if (200..300).contains(&status) => {
            let token = parse_token_answer(&body).unwrap();
            match prepare(now) {
                (Ok(Prepared::Ready), headers) => {
                    assert_eq!(
                        headers[http::header::AUTHORIZATION],
                        format!("Bearer {}", token.value).as_str()
                    );
                }
                (Ok(Prepared::FetchToken(_)), _) => panic!("a fresh token is not used"),
                (Err(error), _) => {
                    assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
                    assert_tame(&error);
                    assert_no_secret(&error.to_string());
                }
            }
            let expiry = now.saturating_add(token.lifetime);
            assert!(
                matches!(prepare(expiry).0, Ok(Prepared::FetchToken(_))),
                "a token is used past its lifetime"
            );
        }
        Ok(_) => {}
        Err(error) => {
            assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
            assert_tame(&error);
            assert_no_secret(&error.to_string());
        }
    }
}

// ----------------------------------------------------------- content_range

/// Ranged reads: what is delivered is exactly the bytes asked for, cut from
/// a span the registry's `Content-Range` really covers, of this blob.
pub fn content_range(data: &[u8]) {
    let text = text(data);
    let (head, content_range) = match text.split_once('\n') {
        Some((head, rest)) => (head, Some(rest)),
        None => (text.as_str(), None),
    };
    let numbers: Vec<u64> = head
        .split_whitespace()
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let number = |i: usize| numbers.get(i).copied().unwrap_or(0);
    let range = ByteRange {
        offset: number(0),
        length: u32::try_from(number(1)).unwrap_or(u32::MAX),
    };
    let (size, status) = (number(2), u16::try_from(number(3)).unwrap_or(206));
    if range.length == 0 || range.check_within(size).is_err() {
        return; // refused before any request (`get`)
    }
    let header = range.header();
    let (first, last) = header
        .strip_prefix("bytes=")
        .and_then(|span| span.split_once('-'))
        .unwrap();
    assert_eq!(first.parse::<u64>().unwrap(), range.offset);
    assert_eq!(
        last.parse::<u64>().unwrap() - range.offset + 1,
        u64::from(range.length)
    );
    // A 200 says it is the whole blob (its length is checked separately).
    let length = size.to_string();
    let slice = match plan_slice(range, status, content_range, Some(&length), size) {
        Ok(slice) => slice,
        Err(error) => {
            assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
            assert_tame(&error);
            return;
        }
    };
    assert_eq!(slice.take, u64::from(range.length));
    match status {
        200 => assert_eq!(slice.skip, range.offset),
        206 => {
            let (start, end, total) = strict_content_range(content_range.unwrap())
                .unwrap_or_else(|| panic!("accepted Content-Range {content_range:?}"));
            assert!(start <= end && end < size, "{content_range:?}");
            assert!(total.is_none_or(|t| t == size), "{content_range:?}");
            assert_eq!(start + slice.skip, range.offset);
            assert!(range.offset + slice.take - 1 <= end);
        }
        _ => panic!("status {status} accepted"),
    }
}

/// `bytes START-END/TOTAL` as RFC 9110 section 14.4 writes it (digits only,
/// TOTAL a number or `*`), tolerating space around the parts.
fn strict_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let rest = value.trim().strip_prefix("bytes")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    Some((number(start)?, number(end)?, total))
}

// ---------------------------------------------------------------- tag_list

/// Tag listing through the real client: the tags returned are exactly
/// those of the pages served, no page is asked for twice, and any failure
/// is typed; it ends, whatever the answers.
pub fn tag_list(data: &[u8]) {
    let answers: Vec<Canned> = text(data).split("\n===\n").map(Canned::read).collect();
    let client = offline_client(answers);
    let outcome = client.list_tags();
    let asked = client.transport().asked.borrow();
    let is_token_request = |uri: &str, body: &str| {
        let scope = "scope=repository%3Ateam%2Frepo";
        uri.contains(scope) || body.contains(scope)
    };
    let pages: Vec<&Asked> = asked
        .iter()
        .filter(|a| a.status == Some(200) && !is_token_request(&a.uri, &a.body))
        .collect();
    for (i, page) in pages.iter().enumerate() {
        assert!(
            pages[..i].iter().all(|p| p.uri != page.uri),
            "page {} asked twice",
            page.uri
        );
    }
    match outcome {
        Ok(tags) => {
            // The pages as `Value` reads them (it may refuse text in fields
            // the client skips: then there is nothing to compare).
            let served: Option<Vec<String>> = pages.iter().try_fold(Vec::new(), |mut all, p| {
                let v: serde_json::Value = serde_json::from_slice(&p.answer).ok()?;
                if let serde_json::Value::Array(tags) = &v["tags"] {
                    all.extend(tags.iter().map(|t| t.as_str().unwrap().to_string()));
                }
                Some(all)
            });
            if let Some(served) = served {
                assert_eq!(tags, served);
            }
        }
        Err(error) => {
            assert_tame(&error);
        }
    }
}

/// One canned answer of the `tag_list` input.
struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Canned {
    fn read(text: &str) -> Canned {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.split('\n');
        let status = lines.next().unwrap_or("").trim().parse().unwrap_or(200);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Canned {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A request the offline transport was sent, and what it answered.
struct Asked {
    uri: String,
    body: String,
    status: Option<u16>,
    answer: Vec<u8>,
}

/// Answers requests from the input, in order; once the input is used up,
/// every request fails as a refused connection would.
struct Offline {
    answers: RefCell<VecDeque<Canned>>,
    asked: RefCell<Vec<Asked>>,
}

struct Body(Vec<u8>);

impl ResponseBody for Body {
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let n = max.min(self.0.len());
        Ok(Some(self.0.drain(..n).collect()))
    }
}

struct NoUpload;

impl Upload for NoUpload {
    type Body = Body;
    fn write(&mut self, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
    fn finish(self) -> Result<Response<Body>, StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
}

impl Transport for Offline {
    type Body = Body;
    type Upload = NoUpload;

    fn send(&self, request: &Request<Vec<u8>>) -> Result<Response<Body>, SendFailure> {
        let mut asked = Asked {
            uri: request.uri().to_string(),
            body: String::from_utf8_lossy(request.body()).into_owned(),
            status: None,
            answer: Vec::new(),
        };
        let next = self.answers.borrow_mut().pop_front();
        let Some(canned) = next else {
            self.asked.borrow_mut().push(asked);
            return Err(SendFailure {
                retryable: false,
                error: StoreError::Transport("connection refused".into()),
            });
        };
        let mut response = Response::builder().status(canned.status);
        for (name, value) in &canned.headers {
            // What a real HTTP stack would refuse never reaches the client.
            if http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && http::HeaderValue::from_bytes(value.as_bytes()).is_ok()
            {
                response = response.header(name.as_str(), value.as_bytes());
            }
        }
        let response = match response.body(Body(canned.body.clone())) {
            Ok(r) => r,
            // An impossible status: answer 500 instead.
            Err(_) => Response::builder()
                .status(500)
                .body(Body(canned.body.clone()))
                .unwrap(),
        };
        asked.status = Some(response.status().as_u16());
        asked.answer = canned.body;
        self.asked.borrow_mut().push(asked);
        Ok(response)
    }

    fn start(&self, _: Request<()>) -> Result<NoUpload, StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
}

fn offline_client(answers: Vec<Canned>) -> RegistryClient<Offline> {
    let transport = Offline {
        answers: RefCell::new(answers.into()),
        asked: RefCell::new(Vec::new()),
    };
    let auth = Authenticator::new(BASE, REPOSITORY, Credentials::Anonymous);
    let policy = Policy {
        retries: 2,
        ..DEFAULT_POLICY
    };
    RegistryClient::new(transport, BASE.into(), REPOSITORY.into(), auth).with_policy(policy)
}
