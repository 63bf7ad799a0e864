//! The store configuration: `location` and options, validated up front so a
//! mistake is reported before any request is made. The options are declared
//! once, in `options::OPTIONS`; `location` holds the location grammar,
//! `reference` the grammar of references to an artifact (`HOST/REPO:TAG`),
//! `values` the value parsers.

mod location;
pub mod options;
pub mod reference;
mod values;

#[cfg(test)]
mod tests;

pub use location::{is_loopback_authority, parse_location};
use options::{find, option, Consumer};
pub use options::{Redacted, HOST_OPTIONS, KNOWN_OPTIONS};
use values::{parse_media_type, parse_prefix, parse_upload_mode};

use crate::auth::credentials::Credentials;
use crate::error::StoreError;
use crate::retry::{Policy, DEFAULT_POLICY};
use std::time::Duration;

/// The artifact media type family used when `media_type` is not given.
pub const DEFAULT_MEDIA_TYPE: &str = "application/vnd.plakar.kloset.v1";

/// Read when none of the `username`, `password` and `token` options is
/// given (the options win, as a whole: they are never mixed with these).
pub const ENV_USERNAME: &str = "OCI_REGISTRY_USERNAME";
pub const ENV_PASSWORD: &str = "OCI_REGISTRY_PASSWORD";
pub const ENV_TOKEN: &str = "OCI_REGISTRY_TOKEN";

/// The environment variables a store takes credentials from, which a host
/// passes through to the component.
pub const CREDENTIAL_ENV: [&str; 3] = [ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN];

/// The options that carry a store's own credentials: given any of them,
/// no other source of credentials is looked at.
pub const CREDENTIAL_OPTIONS: [&str; 3] = [
    options::name::USERNAME,
    options::name::PASSWORD,
    options::name::TOKEN,
];

/// How objects past the buffering limit travel to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// One PATCH with the body streamed and no `Content-Range`, as `docker
    /// push` sends it: the fewest requests, bounded memory; a connection
    /// that breaks mid-body fails the put (nothing becomes visible), and a
    /// registry capping request bodies (GHCR: 4 MiB, ECR: 10 to 20 MiB a
    /// part) refuses it.
    Stream,
    /// PATCHes of `chunk_size` bytes with `Content-Range`, each resumable,
    /// adapting to what the registry takes (`crate::chunked`): the default,
    /// since no single body size fits GHCR and ECR both, and only a chunk
    /// held in memory can be sent again in smaller pieces.
    Chunked { chunk_size: usize },
    /// The whole object in memory, then one PUT with its digest: for
    /// registries without PATCH uploads. Memory grows with the object.
    Monolithic,
}

/// Default chunk for `upload_mode=chunked`: at least ECR's 5 MiB minimum
/// for all parts but the last, at most its 10 MiB maximum (the service
/// quotas page; the UploadLayerPart reference says 20 MiB); GHCR's 4 MiB
/// cap is learnt from its first refusal.
pub const DEFAULT_CHUNK_SIZE: usize = 8 << 20;
/// Chunk sizes accepted: below 64 KiB requests dominate; above 256 MiB the
/// guest would hold more than four packfiles' worth.
pub(crate) const MIN_CHUNK_SIZE: u64 = 64 << 10;
pub(crate) const MAX_CHUNK_SIZE: u64 = 256 << 20;
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
pub(crate) const MAX_PREFIX_LEN: usize = 40;

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
            match find(key) {
                Some(o) if o.consumer == Consumer::Component => {}
                _ => {
                    return Err(invalid(format!(
                        "unknown option '{key}' (known: {})",
                        KNOWN_OPTIONS.join(", ")
                    )))
                }
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
            Some(v) => option("use_tls").flag(v)?,
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
            retry.retries = option("retries").number(v)? as usize;
        }
        if let Some(v) = get("retry_budget") {
            retry.budget = option("retry_budget").seconds(v)?;
        }
        let timeout = match get("timeout") {
            None => DEFAULT_TIMEOUT,
            Some(v) => option("timeout").seconds(v)?,
        };
        // A deadline shorter than the retry budget would cut retries the
        // budget allows: by default it is at least the budget.
        let deadline = match get("deadline") {
            None => DEFAULT_DEADLINE.max(retry.budget),
            Some(v) => option("deadline").seconds(v)?,
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

/// A configuration error. Messages quote what was given (an unknown key, a
/// location), so they are cleaned of control characters and cut: every
/// host shows them, and not every host cleans them (jco, wasmtime-py).
fn invalid(message: String) -> StoreError {
    StoreError::InvalidConfig(crate::registry_error::excerpt(&message, 400))
}
