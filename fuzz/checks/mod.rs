//! What each fuzz target checks, one file per target, shared by the cargo-fuzz targets
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
    Deletion, Media, ObjectEntry,
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

mod content_range;
mod error_body;
mod link;
mod location;
mod manifest;
mod offline;
mod tag;
mod tag_list;
mod token_response;
mod www_authenticate;

pub use self::content_range::content_range;
pub use self::error_body::error_body;
pub use self::link::link;
pub use self::location::location;
pub use self::manifest::manifest;
use self::offline::{offline_client, Asked, Canned};
pub use self::tag::tag;
pub use self::tag_list::tag_list;
pub use self::token_response::token_response;
pub use self::www_authenticate::www_authenticate;
