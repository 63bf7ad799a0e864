//! Reading answers: draining what we do not need, the `Location` an answer
//! points on to, and an error answer into a typed `StoreError` (with a hint
//! naming what to change where the cause is known).

use super::exchange::challenges_of;
use super::RegistryClient;
use crate::auth::is_insufficient_scope;
use crate::error::StoreError;
use crate::registry_error::error_from_response;
use crate::retry::{parse_retry_after, Outcome};
use crate::transport::{header, read_to_vec, SendFailure, Transport};
use http::Response;

/// Error documents are small; cap what we buffer of them.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

impl<T: Transport> RegistryClient<T> {
    /// Reads an error answer into a `StoreError`.
    pub(super) fn fail(&self, response: Response<T::Body>, what: &str) -> StoreError {
        self.fail_with_codes(response, what).0
    }

    /// `fail`, with the error codes of the registry's error document too,
    /// for callers that act on one (`GOOGLE_MANIFEST_DANGLING_TAG`).
    pub(super) fn fail_with_codes(
        &self,
        mut response: Response<T::Body>,
        what: &str,
    ) -> (StoreError, Vec<String>) {
        let status = response.status().as_u16();
        let insufficient = status == 401 && is_insufficient_scope(&challenges_of(&response));
        let limits = rate_limit_words(&response);
        let body = read_to_vec(response.body_mut(), MAX_ERROR_BODY, what).unwrap_or_default();
        let codes = crate::registry_error::error_codes(&body);
        let error = match error_from_response(status, &body, what) {
            // Logged in, but the token lacks the right: the token server
            // granted less than asked.
            StoreError::Unauthorized(message) if insufficient => StoreError::Denied(message),
            StoreError::RateLimited(message) => match limits {
                Some(words) => StoreError::RateLimited(format!("{message} ({words})")),
                None => StoreError::RateLimited(message),
            },
            other => other,
        };
        (error, codes)
    }

    /// Drains a small body whose status said all we needed, so the
    /// connection can be reused. A body that breaks off changes nothing
    /// (the connection is then simply not reused); one larger than an
    /// answer of that kind can be is a broken or hostile registry.
    pub(super) fn drain(
        &self,
        mut response: Response<T::Body>,
        what: &str,
    ) -> Result<(), StoreError> {
        match read_to_vec(response.body_mut(), MAX_ERROR_BODY, what) {
            Ok(_) | Err(StoreError::Transport(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    pub(super) fn location_of(
        &self,
        response: &Response<T::Body>,
        what: &str,
    ) -> Result<String, StoreError> {
        let location = header(response, "location").ok_or_else(|| {
            StoreError::Protocol(format!(
                "{what}: answer {} has no Location",
                response.status().as_u16()
            ))
        })?;
        self.resolve(location)
    }
}

/// What an attempt came to, for `retry::decide`.
pub(super) fn outcome_of<B>(outcome: &Result<Response<B>, SendFailure>) -> Outcome {
    match outcome {
        Ok(response) => Outcome::Answer {
            status: response.status().as_u16(),
            retry_after: header(response, "retry-after")
                .and_then(parse_retry_after)
                .or_else(|| exhausted_window(response)),
        },
        Err(failure) => Outcome::NoAnswer {
            retryable: failure.retryable,
        },
    }
}

/// A 429 whose `ratelimit-remaining` is 0 with a window (`0;w=21600`,
/// Docker Hub's form: docker docs usage/pulls) comes back within that
/// window: a wait as long as that, which the retry policy refuses at once
/// past a minute rather than retrying a limit that will not lift.
fn exhausted_window<B>(response: &Response<B>) -> Option<std::time::Duration> {
    if response.status().as_u16() != 429 {
        return None;
    }
    let (remaining, window) = ratelimit(header(response, "ratelimit-remaining")?);
    (remaining == Some(0))
        .then_some(window)
        .flatten()
        .map(std::time::Duration::from_secs)
}

/// A `ratelimit-*` value: its count and its window (`;w=` seconds).
fn ratelimit(value: &str) -> (Option<u64>, Option<u64>) {
    let mut parts = value.split(';');
    let count = parts.next().and_then(|c| c.trim().parse().ok());
    let window = parts
        .find_map(|p| p.trim().strip_prefix("w="))
        .and_then(|w| w.trim().parse().ok());
    (count, window)
}

/// What a 429's `ratelimit-*` headers say, for its error: the limit, and
/// when it comes back when none is left.
fn rate_limit_words<B>(response: &Response<B>) -> Option<String> {
    let (limit, window) = ratelimit(header(response, "ratelimit-limit")?);
    let limit = limit?;
    let (remaining, _) = header(response, "ratelimit-remaining").map_or((None, None), ratelimit);
    let per = window.map_or(String::new(), |w| format!(" per {w} s"));
    Some(match (remaining, window) {
        (Some(0), Some(w)) => format!(
            "the registry's limit of {limit} pulls{per} is used up; it comes back within {w} s \
             (log in for a higher limit)"
        ),
        _ => format!("the registry's limit is {limit}{per}"),
    })
}

/// A 405 or `UNSUPPORTED` to an upload POST or a manifest PUT: the registry
/// takes no writes at all. distribution in pull-through cache mode
/// (`proxy.remoteurl`) answers exactly that; say so, and what to do.
pub(super) fn read_only_hint(error: StoreError) -> StoreError {
    match error {
        StoreError::Unsupported(message) => StoreError::Unsupported(format!(
            "{message} (the registry is read-only here, such as a pull-through cache \
             or mirror: write to the registry it mirrors)"
        )),
        other => other,
    }
}

/// A 413 to a PATCH means a body cap between us and the registry, a 405 or
/// `UNSUPPORTED` a registry without PATCH uploads (Google Artifact Registry
/// takes no chunks): say which options get round them.
pub(super) fn upload_hint(error: StoreError) -> StoreError {
    match error {
        StoreError::Unsupported(message) => StoreError::Unsupported(format!(
            "{message} (the registry takes no PATCH uploads: use upload_mode=monolithic)"
        )),
        StoreError::Registry {
            status: 413,
            code,
            message,
        } => StoreError::Registry {
            status: 413,
            code,
            message: format!(
                "{message} (the registry or a proxy before it caps request bodies: \
                 use upload_mode=chunked with a chunk_size under the cap)"
            ),
        },
        other => other,
    }
}
