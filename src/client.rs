//! The OCI distribution API calls the store needs, one method each, over any
//! `Transport`. URLs, headers and status handling follow the OCI distribution
//! spec v1.1 ("Pulling", "Pushing", "Content discovery", "Content management").

use crate::auth::challenge::{parse_challenges, Challenge};
use crate::auth::{is_insufficient_scope, Authenticator, Prepared};
use crate::digest::is_sha256_digest;
use crate::error::StoreError;
use crate::link::next_link;
use crate::manifest::{MAX_MANIFEST_BYTES, OCI_MANIFEST};
use crate::range::Span;
use crate::registry_error::{error_codes, error_from_response};
use crate::retry::{decide, parse_retry_after, Next, Outcome, Policy, DEFAULT_POLICY};
use crate::transport::{header, read_to_vec, ResponseBody, SendFailure, Transport, Upload};
use http::{Method, Request, Response};
use serde::Deserialize;
use std::cell::Cell;
use std::time::Duration;

/// Error documents and tag pages are small; cap what we buffer of them.
const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_TAG_PAGE: usize = 16 << 20;
/// Tags asked for per page: ECR refuses n > 1000.
pub const TAG_PAGE_SIZE: usize = 1000;
/// Waits before re-PUTting a manifest refused for a blob still being committed.
/// About 3 s in all: under load (2 cores, four writers of one blob) the
/// race has been seen to outlast 750 ms.
const BLOB_UNKNOWN_RETRIES: [Duration; 6] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];
/// Blob GETs may redirect to a CDN or object storage; follow a few hops.
const MAX_REDIRECTS: usize = 5;
/// A listing follows at most this many `Link` pages and keeps at most this
/// many tags: a store of ten thousand objects has some tens of thousands
/// of tags, in tens of pages; an endless chain of pages is a broken or
/// hostile registry, refused with an error rather than followed until
/// memory or patience runs out.
pub const MAX_TAG_PAGES: usize = 5_000;
pub const MAX_TAGS: usize = 500_000;

pub struct RegistryClient<T> {
    transport: T,
    base: String,
    repository: String,
    auth: Authenticator,
    policy: Policy,
    /// How long one operation may take in all (option `deadline`).
    limit: Duration,
    /// When the operation under way must end, on the transport's clock.
    deadline: Cell<Option<Duration>>,
}

/// Marks one store operation: while it lives, every request, retry and
/// body read of the client ends by the operation's deadline. A nested
/// operation never ends later than the one around it; when it ends, the
/// outer deadline is back.
pub struct Operation<'a, T: Transport> {
    client: &'a RegistryClient<T>,
    previous: Option<Duration>,
}

impl<T: Transport> Drop for Operation<'_, T> {
    fn drop(&mut self) {
        self.client.set_deadline(self.previous);
    }
}

/// What a mount attempt (`POST ...?mount=<digest>&from=<repo>`) found.
pub enum Mount {
    /// The blob is already in the repository.
    Exists,
    /// It is not; an upload session was opened at this URL.
    Upload(String),
}

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl<T: Transport> RegistryClient<T> {
    pub fn new(transport: T, base: String, repository: String, auth: Authenticator) -> Self {
        RegistryClient {
            transport,
            base,
            repository,
            auth,
            policy: DEFAULT_POLICY,
            limit: crate::config::DEFAULT_DEADLINE,
            deadline: Cell::new(None),
        }
    }

    /// Ends every operation within `limit` instead of the default.
    pub fn with_deadline(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Starts an operation (see `Operation`) of the full `deadline`.
    pub fn operation(&self) -> Operation<'_, T> {
        self.operation_within(self.limit)
    }

    /// Starts an operation that must end within `limit` (what is left of
    /// a get's `deadline` when its reader is read again, say).
    pub fn operation_within(&self, limit: Duration) -> Operation<'_, T> {
        let previous = self.deadline.get();
        let at = self.transport.now().saturating_add(limit);
        self.set_deadline(Some(previous.map_or(at, |outer| outer.min(at))));
        Operation {
            client: self,
            previous,
        }
    }

    /// The transport learns it too: it bounds the writing of request
    /// bodies by it (a registry may take an upload at a trickle, or not
    /// at all).
    fn set_deadline(&self, at: Option<Duration>) {
        self.deadline.set(at);
        self.transport.set_deadline(at);
    }

    /// When the operation under way must end (`None`: no operation).
    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.deadline.get()
    }

    /// The longest one operation may take (option `deadline`).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Time left before the operation's deadline (`None`: no operation).
    pub(crate) fn time_left(&self) -> Option<Duration> {
        self.deadline
            .get()
            .map(|at| at.saturating_sub(self.transport.now()))
    }

    pub(crate) fn past_deadline(&self, what: &str) -> StoreError {
        StoreError::Transport(format!(
            "{what}: the operation's deadline of {} s passed (option deadline)",
            self.limit.as_secs()
        ))
    }

    /// The client a store configuration describes: its registry and
    /// repository, credentials and retry policy.
    pub fn for_store(transport: T, config: &crate::config::StoreConfig) -> Self {
        let auth = Authenticator::new(
            &config.base_url(),
            &config.repository,
            config.credentials.clone(),
        );
        RegistryClient::new(
            transport,
            config.base_url(),
            config.repository.clone(),
            auth,
        )
        .with_policy(config.retry)
        .with_deadline(config.deadline)
    }

    /// Retries as `policy` says instead of the default.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    /// Upload `Location` and `Link` targets may be absolute or relative to
    /// the registry; either way they must be on its own origin
    /// (`origin::resolve_on_registry`).
    pub fn resolve(&self, location: &str) -> Result<String, StoreError> {
        crate::origin::resolve_on_registry(&self.base, location)
    }

    fn request(&self, method: Method, url: &str) -> http::request::Builder {
        Request::builder().method(method).uri(url)
    }

    /// Sends a request whose body is in memory, with credentials.
    fn send(
        &self,
        request: http::Result<Request<Vec<u8>>>,
    ) -> Result<Response<T::Body>, StoreError> {
        let mut request = request
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        self.exchange(&mut request, true)
    }

    /// Sends a request and carries out `retry::decide` on each outcome: a
    /// connection that breaks before an answer arrives, or a 429/5xx answer,
    /// is retried (every request of ours is safe to repeat: an upload session
    /// that already completed answers a repeat with an error, which
    /// `complete_upload` resolves), and, `with_credentials`, a 401 is
    /// answered once by logging in as its challenge asks. Token requests go
    /// without credentials: a 401 to them is final.
    fn exchange(
        &self,
        request: &mut Request<Vec<u8>>,
        with_credentials: bool,
    ) -> Result<Response<T::Body>, StoreError> {
        self.attempts(request, with_credentials, &self.policy)
            .map_err(|f| f.error)
    }

    /// `exchange` under another policy, keeping whether a failure without
    /// an answer may be worth another try.
    fn attempts(
        &self,
        request: &mut Request<Vec<u8>>,
        with_credentials: bool,
        policy: &Policy,
    ) -> Result<Response<T::Body>, SendFailure> {
        let (mut failures, mut reauthenticated) = (0, !with_credentials);
        let started = self.transport.now();
        // No retry may end past the operation's deadline either.
        let policy = match self.time_left() {
            Some(left) => Policy {
                budget: policy.budget.min(left),
                ..*policy
            },
            None => *policy,
        };
        loop {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            if self.time_left() == Some(Duration::ZERO) {
                let what = format!("{method} {}", uri.path());
                return Err(self.past_deadline(&what).into());
            }
            if with_credentials {
                self.authorize(&method, &uri, request.headers_mut())?;
            }
            let mut outcome = self.transport.send(request);
            if let Ok(response) = &mut outcome {
                response.body_mut().set_deadline(self.deadline.get());
            }
            let jitter = self.transport.random();
            let spent = self.transport.now().saturating_sub(started);
            match decide(
                &policy,
                failures,
                reauthenticated,
                outcome_of(&outcome),
                jitter,
                spent,
            ) {
                Next::Done => return outcome,
                Next::RetryAfter(wait) => {
                    if let Ok(response) = outcome {
                        let _ = self.drain(response, "answer to retry");
                    }
                    self.transport.sleep(wait);
                    failures += 1;
                }
                Next::Reauthenticate => {
                    let response = outcome?;
                    if !self
                        .auth
                        .challenged(&uri, &challenges_of(&response), &method)
                    {
                        return Ok(response);
                    }
                    let _ = self.drain(response, "401 answer");
                    reauthenticated = true;
                }
            }
        }
    }

    /// Puts the right `Authorization` on a request, fetching a token first
    /// when one is needed.
    fn authorize(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
    ) -> Result<(), StoreError> {
        // A token fetch, a retry by GET instead of POST, one with a
        // narrower scope: a few rounds at most.
        for _ in 0..4 {
            match self
                .auth
                .prepare(method, uri, headers, self.transport.now())?
            {
                Prepared::Ready => return Ok(()),
                Prepared::FetchToken(mut token_request) => {
                    let what = "token request";
                    let mut response = self.exchange(&mut token_request, false)?;
                    let status = response.status().as_u16();
                    let body = read_to_vec(response.body_mut(), MAX_ERROR_BODY, what)?;
                    if !self
                        .auth
                        .token_answer(status, &body, self.transport.now())?
                    {
                        break;
                    }
                }
            }
        }
        Err(StoreError::Unauthorized(
            "no usable token could be obtained".into(),
        ))
    }

    /// Reads an error answer into a `StoreError`.
    fn fail(&self, mut response: Response<T::Body>, what: &str) -> StoreError {
        let status = response.status().as_u16();
        let insufficient = status == 401 && is_insufficient_scope(&challenges_of(&response));
        let body = read_to_vec(response.body_mut(), MAX_ERROR_BODY, what).unwrap_or_default();
        match error_from_response(status, &body, what) {
            // Logged in, but the token lacks the right: the token server
            // granted less than asked.
            StoreError::Unauthorized(message) if insufficient => StoreError::Denied(message),
            other => other,
        }
    }

    /// Drains a small successful body so the connection can be reused.
    fn drain(&self, mut response: Response<T::Body>, what: &str) -> Result<(), StoreError> {
        read_to_vec(response.body_mut(), MAX_ERROR_BODY, what).map(drop)
    }

    fn location_of(&self, response: &Response<T::Body>, what: &str) -> Result<String, StoreError> {
        let location = header(response, "location").ok_or_else(|| StoreError::Registry {
            status: response.status().as_u16(),
            code: String::new(),
            message: format!("{what}: answer has no Location"),
        })?;
        self.resolve(location)
    }

    /// `GET /v2/`: is the registry there and speaking the API?
    pub fn ping(&self) -> Result<(), StoreError> {
        let what = "GET /v2/";
        let response = self.send(
            self.request(Method::GET, &format!("{}/v2/", self.base))
                .body(Vec::new()),
        )?;
        if response.status().is_success() {
            self.drain(response, what)
        } else {
            Err(self.fail(response, what))
        }
    }

    /// The digest a tag points at, or `None` if there is no such tag.
    pub fn head_manifest(&self, tag: &str) -> Result<Option<String>, StoreError> {
        let what = format!("HEAD manifest {tag}");
        let response = self.send(
            self.request(Method::HEAD, &self.url(&format!("manifests/{tag}")))
                .header("accept", OCI_MANIFEST)
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200 => {
                let digest = header(&response, "docker-content-digest").map(str::to_string);
                self.drain(response, &what)?;
                match digest {
                    Some(d) if is_sha256_digest(&d) => Ok(Some(d)),
                    _ => Err(StoreError::Registry {
                        status: 200,
                        code: String::new(),
                        message: format!("{what}: answer names no sha256 Docker-Content-Digest"),
                    }),
                }
            }
            404 => {
                self.drain(response, &what)?;
                Ok(None)
            }
            _ => Err(self.fail(response, &what)),
        }
    }

    /// The manifest bytes at a tag, or `None` if there is no such tag.
    pub fn get_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let what = format!("GET manifest {tag}");
        let mut response = self.send(
            self.request(Method::GET, &self.url(&format!("manifests/{tag}")))
                .header("accept", OCI_MANIFEST)
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200 => {
                let bytes = read_to_vec(response.body_mut(), MAX_MANIFEST_BYTES, &what)?;
                // The registry names the digest of what it sent; a mismatch
                // means the bytes were damaged on the way.
                if let Some(claimed) = header(&response, "docker-content-digest") {
                    if is_sha256_digest(claimed) && crate::digest::sha256_digest(&bytes) != claimed
                    {
                        return Err(StoreError::Integrity(format!(
                            "{what}: body does not match its digest"
                        )));
                    }
                }
                Ok(Some(bytes))
            }
            404 => {
                self.drain(response, &what)?;
                Ok(None)
            }
            _ => Err(self.fail(response, &what)),
        }
    }

    /// PUTs a manifest whose blobs we have just pushed or found. distribution
    /// can answer `MANIFEST_BLOB_UNKNOWN` and/or `DIGEST_INVALID` for a blob
    /// another client is committing at the same moment (two uploads of one
    /// digest race in its storage), so those answers are retried after a
    /// pause. A PUT by tag names no digest of its own, so `DIGEST_INVALID`
    /// can only be about a layer.
    pub fn put_manifest(&self, tag: &str, manifest: Vec<u8>) -> Result<(), StoreError> {
        let what = format!("PUT manifest {tag}");
        let mut attempt = 0;
        loop {
            let response = self.send(
                self.request(Method::PUT, &self.url(&format!("manifests/{tag}")))
                    .header("content-type", OCI_MANIFEST)
                    .body(manifest.clone()),
            )?;
            if response.status().is_success() {
                // What follows a success is of no use to us, and may be
                // anything in size: dropped unread (the connection with it).
                return Ok(());
            }
            let status = response.status().as_u16();
            let mut response = response;
            let body = read_to_vec(response.body_mut(), MAX_ERROR_BODY, &what).unwrap_or_default();
            let racing = error_codes(&body)
                .iter()
                .any(|c| c == "MANIFEST_BLOB_UNKNOWN" || c == "DIGEST_INVALID");
            if racing && attempt < BLOB_UNKNOWN_RETRIES.len() {
                self.transport.sleep(BLOB_UNKNOWN_RETRIES[attempt]);
                attempt += 1;
                continue;
            }
            return Err(read_only_hint(error_from_response(status, &body, &what)));
        }
    }

    /// Deletes a manifest by digest (removing every tag on it). `Ok(true)`
    /// when deleted or already gone, `Ok(false)` when the registry does not
    /// allow deletion (405, or `UNSUPPORTED`; distribution's default).
    pub fn delete_manifest(&self, digest: &str) -> Result<bool, StoreError> {
        let what = format!("DELETE manifest {digest}");
        let response = self.send(
            self.request(Method::DELETE, &self.url(&format!("manifests/{digest}")))
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200..=299 | 404 => {
                self.drain(response, &what)?;
                Ok(true)
            }
            _ => match self.fail(response, &what) {
                StoreError::Unsupported(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Checks for a blob and opens an upload in one request: a mount from our
    /// own repository answers 201 when the blob is there, else 202 with an
    /// upload session (OCI distribution spec, "Mounting a blob from another
    /// repository").
    pub fn mount_or_start(&self, digest: &str) -> Result<Mount, StoreError> {
        let what = format!("POST blob upload (mount {digest})");
        let url = self.url(&format!(
            "blobs/uploads/?mount={digest}&from={}",
            self.repository
        ));
        let response = self.send(
            self.request(Method::POST, &url)
                .header("content-length", "0")
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            201 => {
                self.drain(response, &what)?;
                Ok(Mount::Exists)
            }
            202 => {
                let location = self.location_of(&response, &what)?;
                self.drain(response, &what)?;
                Ok(Mount::Upload(location))
            }
            _ => Err(read_only_hint(self.fail(response, &what))),
        }
    }

    /// Opens an upload session.
    pub fn start_upload(&self) -> Result<UploadSession, StoreError> {
        let what = "POST blob upload";
        let response = self.send(
            self.request(Method::POST, &self.url("blobs/uploads/"))
                .header("content-length", "0")
                .body(Vec::new()),
        )?;
        if response.status().as_u16() == 202 {
            let url = self.location_of(&response, what)?;
            // OCI distribution spec v1.1, "Pushing a blob in chunks": every
            // chunk but the last must be at least this long.
            let min_chunk = header(&response, "oci-chunk-min-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            self.drain(response, what)?;
            Ok(UploadSession { url, min_chunk })
        } else {
            Err(read_only_hint(self.fail(response, what)))
        }
    }

    /// Whether this repository takes writes: opens an upload session and
    /// cancels it at once (two requests; nothing is written). A registry that
    /// refuses the POST with 405 or `UNSUPPORTED` (a pull-through cache:
    /// distribution with `proxy.remoteurl`), or whose credentials lack push
    /// (401, 403), is read-only; any other failure is the caller's error.
    ///
    /// A 401 means read-only only for an anonymous store (a public
    /// repository read without logging in); with credentials it is the
    /// error it is, so a wrong password is reported as `unauthorized`
    /// rather than hidden behind a read-only mode.
    pub fn takes_writes(&self, anonymous: bool) -> Result<bool, StoreError> {
        match self.start_upload() {
            Ok(session) => {
                self.cancel_upload(&session.url);
                Ok(true)
            }
            Err(StoreError::Unsupported(_) | StoreError::Denied(_)) => Ok(false),
            Err(StoreError::Unauthorized(_)) if anonymous => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// PATCHes one chunk, `bytes` starting at `start`, in a single attempt:
    /// resending blindly could append twice, so a failure is for the caller
    /// to resolve by asking the session (`upload_status`).
    /// `bytes` is lent to the request and handed back, for a resend.
    pub fn patch_chunk(
        &self,
        url: &str,
        start: u64,
        bytes: &mut Vec<u8>,
    ) -> Result<ChunkAccepted, ChunkFailed> {
        let what = "PATCH blob chunk";
        let end = start + bytes.len() as u64 - 1;
        let length = bytes.len().to_string();
        let mut request = self
            .request(Method::PATCH, url)
            .header("content-type", "application/octet-stream")
            // No "bytes " prefix: the distribution spec's own form.
            .header("content-range", format!("{start}-{end}"))
            .header("content-length", length)
            .body(std::mem::take(bytes))
            .map_err(|e| ChunkFailed::fatal(StoreError::InvalidArgument(e.to_string())))?;
        let single = Policy {
            retries: 0,
            ..self.policy
        };
        let outcome = self.attempts(&mut request, true, &single);
        *bytes = std::mem::take(request.body_mut());
        let retry = outcome_of(&outcome);
        let response = outcome.map_err(|f| ChunkFailed {
            error: f.error,
            retry,
        })?;
        if response.status().as_u16() == 202 || response.status().is_success() {
            let url = self
                .location_of(&response, what)
                .map_err(ChunkFailed::fatal)?;
            let received = header(&response, "range").and_then(parse_received);
            self.drain(response, what).map_err(ChunkFailed::fatal)?;
            Ok(ChunkAccepted { url, received })
        } else {
            Err(ChunkFailed {
                error: upload_hint(self.fail(response, what)),
                retry,
            })
        }
    }

    /// `GET <session>`: how many bytes the registry holds, and the URL to
    /// continue at (OCI distribution spec v1.1, "Resuming an upload").
    pub fn upload_status(&self, url: &str) -> Result<UploadStatus, StoreError> {
        let what = "GET blob upload status";
        let response = self.send(self.request(Method::GET, url).body(Vec::new()))?;
        if !(response.status().as_u16() == 204 || response.status().is_success()) {
            return Err(self.fail(response, what));
        }
        let received = match header(&response, "range") {
            Some(range) => parse_received(range).ok_or_else(|| StoreError::Registry {
                status: response.status().as_u16(),
                code: String::new(),
                message: format!(
                    "{what}: unreadable Range '{}'",
                    crate::registry_error::excerpt(range, 64)
                ),
            })?,
            None => 0,
        };
        let next = match header(&response, "location") {
            Some(location) => self.resolve(location)?,
            None => url.to_string(),
        };
        self.drain(response, what)?;
        Ok(UploadStatus {
            url: next,
            received,
        })
    }

    /// Finishes an upload session with `body` as its (last) content.
    ///
    /// A PUT whose answer is lost may have completed the upload: before
    /// sending its body again (up to a whole object in monolithic mode), a
    /// HEAD of the blob tells whether it did.
    pub fn complete_upload(
        &self,
        session: &str,
        digest: &str,
        body: Vec<u8>,
    ) -> Result<(), StoreError> {
        let what = format!("PUT blob {digest}");
        let separator = if session.contains('?') { '&' } else { '?' };
        let url = format!("{session}{separator}digest={digest}");
        let length = body.len().to_string();
        let mut request = self
            .request(Method::PUT, &url)
            .header("content-type", "application/octet-stream")
            .header("content-length", length)
            .body(body)
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        let single = Policy {
            retries: 0,
            ..self.policy
        };
        let started = self.transport.now();
        let mut failures = 0;
        loop {
            let outcome = self.attempts(&mut request, true, &single);
            let spent = self.transport.now().saturating_sub(started);
            let next = decide(
                &self.policy,
                failures,
                true,
                outcome_of(&outcome),
                self.transport.random(),
                spent,
            );
            match (outcome, next) {
                (outcome, Next::RetryAfter(wait)) => {
                    let unanswered = outcome.is_err();
                    if let Ok(response) = outcome {
                        let _ = self.drain(response, "answer to retry");
                    }
                    self.transport.sleep(wait);
                    failures += 1;
                    if unanswered && self.blob_exists(digest)? {
                        return Ok(());
                    }
                }
                (Err(failure), _) => return Err(failure.error),
                (Ok(response), _) => return self.upload_completed(response, digest, &what),
            }
        }
    }

    /// Reads the answer to an upload's closing PUT.
    fn upload_completed(
        &self,
        response: Response<T::Body>,
        digest: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        if response.status().as_u16() == 201 || response.status().is_success() {
            return self.drain(response, what);
        }
        // The answer to an attempt that completed the upload can be lost
        // while the blob HEAD fails too; the resent PUT then finds the
        // session closed (404 BLOB_UPLOAD_UNKNOWN). If the blob is there,
        // the upload did happen.
        if response.status().as_u16() == 404 {
            let error = self.fail(response, what);
            return if self.blob_exists(digest)? {
                Ok(())
            } else {
                Err(error)
            };
        }
        Err(self.fail(response, what))
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: whether the repository has the blob.
    pub fn blob_exists(&self, digest: &str) -> Result<bool, StoreError> {
        let what = format!("HEAD blob {digest}");
        let response = self.send(
            self.request(Method::HEAD, &self.url(&format!("blobs/{digest}")))
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200 => self.drain(response, &what).map(|()| true),
            404 => self.drain(response, &what).map(|()| false),
            _ => Err(self.fail(response, &what)),
        }
    }

    /// Starts a streamed PATCH of an upload session (no Content-Range: the
    /// whole blob in one request, as `docker push` sends it).
    pub fn start_patch(&self, session: &str) -> Result<T::Upload, StoreError> {
        let mut request = self
            .request(Method::PATCH, session)
            .header("content-type", "application/octet-stream")
            .body(())
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        let uri = request.uri().clone();
        self.authorize(&Method::PATCH, &uri, request.headers_mut())?;
        self.transport.start(request)
    }

    /// Completes a streamed PATCH; returns the session URL to finish with.
    pub fn finish_patch(&self, upload: T::Upload) -> Result<String, StoreError> {
        let what = "PATCH blob upload";
        let response = upload.finish()?;
        if response.status().as_u16() == 202 || response.status().is_success() {
            let location = self.location_of(&response, what)?;
            self.drain(response, what)?;
            Ok(location)
        } else {
            Err(upload_hint(self.fail(response, what)))
        }
    }

    /// Best-effort cancel of an abandoned upload session.
    pub fn cancel_upload(&self, session: &str) {
        if let Ok(response) = self.send(self.request(Method::DELETE, session).body(Vec::new())) {
            let _ = self.drain(response, "DELETE upload");
        }
    }

    /// GETs a blob (or a range of it), following redirects. Returns the
    /// successful answer (200 or 206) for the caller to read.
    pub fn get_blob(
        &self,
        digest: &str,
        range: Option<Span>,
    ) -> Result<Response<T::Body>, StoreError> {
        let what = format!("GET blob {digest}");
        let mut url = self.url(&format!("blobs/{digest}"));
        for _ in 0..=MAX_REDIRECTS {
            let mut builder = self.request(Method::GET, &url);
            if let Some(r) = range {
                builder = builder.header("range", r.header());
            }
            let response = self.send(builder.body(Vec::new()))?;
            match response.status().as_u16() {
                200 | 206 => return Ok(response),
                301 | 302 | 303 | 307 | 308 => {
                    // Any host may serve a blob (a CDN, object storage):
                    // requests there carry no credentials (`Authenticator`
                    // keeps `Authorization` on the registry's origin), and
                    // never go down to plain http.
                    let location =
                        header(&response, "location").ok_or_else(|| StoreError::Registry {
                            status: response.status().as_u16(),
                            code: String::new(),
                            message: format!("{what}: redirect has no Location"),
                        })?;
                    url = crate::origin::resolve_redirect(&url, &self.base, location)?;
                    self.drain(response, &what)?;
                }
                _ => return Err(self.fail(response, &what)),
            }
        }
        Err(StoreError::Transport(format!(
            "{what}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Every tag of the repository, following `Link` pagination. A missing
    /// repository has no tags.
    pub fn list_tags(&self) -> Result<Vec<String>, StoreError> {
        let mut tags = Vec::new();
        let mut url = self.url(&format!("tags/list?n={TAG_PAGE_SIZE}"));
        let mut visited = std::collections::HashSet::new();
        loop {
            if visited.len() >= MAX_TAG_PAGES {
                return Err(StoreError::Registry {
                    status: 200,
                    code: String::new(),
                    message: format!(
                        "tag list runs past {MAX_TAG_PAGES} pages: the registry's paging is broken"
                    ),
                });
            }
            if !visited.insert(url.clone()) {
                return Err(StoreError::Registry {
                    status: 200,
                    code: String::new(),
                    message: "tag list pagination loops back on itself".into(),
                });
            }
            let what = "GET tags/list";
            let mut response = self.send(self.request(Method::GET, &url).body(Vec::new()))?;
            match response.status().as_u16() {
                200 => {}
                // A repository nothing was pushed to yet is unknown to the
                // registry (404 NAME_UNKNOWN): it holds no tags.
                404 if tags.is_empty() => {
                    self.drain(response, what)?;
                    return Ok(Vec::new());
                }
                _ => return Err(self.fail(response, what)),
            }
            let next = next_link(
                response
                    .headers()
                    .get_all("link")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let body = read_to_vec(response.body_mut(), MAX_TAG_PAGE, what)?;
            let page: TagPage =
                crate::json::from_object(&body).map_err(|e| StoreError::Registry {
                    status: 200,
                    code: String::new(),
                    message: format!(
                        "unreadable tag list: {}",
                        crate::registry_error::excerpt(&e.to_string(), 200)
                    ),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            if tags.len() > MAX_TAGS {
                return Err(StoreError::Registry {
                    status: 200,
                    code: String::new(),
                    message: format!(
                        "tag list holds more than {MAX_TAGS} tags, more than a store writes"
                    ),
                });
            }
            match next {
                Some(link) => url = self.resolve(&link)?,
                None => return Ok(tags),
            }
        }
    }
}

/// An upload session just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub url: String,
    /// `OCI-Chunk-Min-Length`, when the registry sets one.
    pub min_chunk: Option<u64>,
}

/// A chunk the registry took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkAccepted {
    /// Where the next request of the session goes.
    pub url: String,
    /// Bytes the registry says it holds (its `Range`), when it says.
    pub received: Option<u64>,
}

/// A chunk that may or may not have arrived.
#[derive(Debug)]
pub struct ChunkFailed {
    pub error: StoreError,
    /// What the attempt came to, for `retry::decide`.
    pub retry: Outcome,
}

impl ChunkFailed {
    /// A failure no retry mends.
    fn fatal(error: StoreError) -> Self {
        ChunkFailed {
            error,
            retry: Outcome::NoAnswer { retryable: false },
        }
    }
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub url: String,
    pub received: u64,
}

/// Bytes held, from an upload `Range: 0-<last>` (inclusive, no unit). An
/// empty session is reported as `0-0` by distribution, the same as one
/// byte: read as none, the safe side (a wrong guess fails the digest check
/// at commit, it never stores wrong bytes).
pub fn parse_received(range: &str) -> Option<u64> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (first, last) = range.split_once('-')?;
    if first.trim() != "0" {
        return None;
    }
    match last.trim().parse::<u64>().ok()? {
        0 => Some(0),
        last => last.checked_add(1),
    }
}

/// A 405 or `UNSUPPORTED` to an upload POST or a manifest PUT: the registry
/// takes no writes at all. distribution in pull-through cache mode
/// (`proxy.remoteurl`) answers exactly that; say so, and what to do.
fn read_only_hint(error: StoreError) -> StoreError {
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
fn upload_hint(error: StoreError) -> StoreError {
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

fn outcome_of<B>(outcome: &Result<Response<B>, SendFailure>) -> Outcome {
    match outcome {
        Ok(response) => Outcome::Answer {
            status: response.status().as_u16(),
            retry_after: header(response, "retry-after").and_then(parse_retry_after),
        },
        Err(failure) => Outcome::NoAnswer {
            retryable: failure.retryable,
        },
    }
}

fn challenges_of<B>(response: &Response<B>) -> Vec<Challenge> {
    parse_challenges(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::Credentials;
    use crate::scripted::{Answer, Scripted};

    fn client(answers: Vec<Answer>) -> RegistryClient<Scripted> {
        client_as(answers, Credentials::Anonymous)
    }

    fn client_as(answers: Vec<Answer>, credentials: Credentials) -> RegistryClient<Scripted> {
        let auth = Authenticator::new("http://r:5000", "team/repo", credentials);
        RegistryClient::new(
            Scripted::new(answers),
            "http://r:5000".into(),
            "team/repo".into(),
            auth,
        )
    }

    fn page(tags: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "name": "team/repo", "tags": tags })).unwrap()
    }

    #[test]
    fn tag_pages_are_followed_through_link() {
        // Relative and absolute links, an opaque cursor (ECR), and a last
        // page without Link.
        let c = client(vec![
            Answer::new(200, &page(&["a", "b"])).header(
                "link",
                r#"</v2/team/repo/tags/list?n=2&last=b>; rel="next""#,
            ),
            Answer::new(200, &page(&["c", "d"])).header(
                "link",
                r#"<http://r:5000/v2/team/repo/tags/list?next_token=opaque%3D%3D>; rel="next""#,
            ),
            Answer::new(200, &page(&["e"])),
        ]);
        assert_eq!(c.list_tags().unwrap(), ["a", "b", "c", "d", "e"]);
        let asked: Vec<_> = c
            .transport()
            .asked
            .borrow()
            .iter()
            .map(|a| a.uri.clone())
            .collect();
        assert_eq!(
            asked,
            [
                "http://r:5000/v2/team/repo/tags/list?n=1000",
                "http://r:5000/v2/team/repo/tags/list?n=2&last=b",
                "http://r:5000/v2/team/repo/tags/list?next_token=opaque%3D%3D",
            ]
        );
    }

    #[test]
    fn tag_listing_edge_cases() {
        assert!(client(vec![Answer::new(
            404,
            br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#
        )])
        .list_tags()
        .unwrap()
        .is_empty());
        assert!(client(vec![Answer::new(
            200,
            br#"{"name":"team/repo","tags":null}"#
        )])
        .list_tags()
        .unwrap()
        .is_empty());
        let looping = client(vec![Answer::new(200, &page(&["a"]))
            .header("link", r#"</v2/team/repo/tags/list?n=1000>; rel="next""#)]);
        assert!(
            matches!(looping.list_tags(), Err(StoreError::Registry { .. })),
            "a Link back to the first page"
        );
        let mut answers = vec![Answer::new(200, &page(&["a"]))
            .header("link", r#"</v2/team/repo/tags/list?last=a>; rel="next""#)];
        answers.extend((0..=DEFAULT_POLICY.retries).map(|_| Answer::new(500, b"oops")));
        let broken_second_page = client(answers);
        assert!(
            broken_second_page.list_tags().is_err(),
            "a failed page fails the listing, never a short list"
        );
        assert!(client(vec![Answer::new(200, b"<html>")])
            .list_tags()
            .is_err());
        assert!(matches!(
            client(vec![Answer::new(401, b"")]).list_tags(),
            Err(StoreError::Unauthorized(_))
        ));
    }

    #[test]
    fn locations_are_resolved_or_refused() {
        let c = client(vec![]);
        assert_eq!(
            c.resolve("/v2/team/repo/blobs/uploads/u?_state=x").unwrap(),
            "http://r:5000/v2/team/repo/blobs/uploads/u?_state=x"
        );
        assert_eq!(
            c.resolve("http://r:5000/v2/team/repo/blobs/uploads/u")
                .unwrap(),
            "http://r:5000/v2/team/repo/blobs/uploads/u"
        );
        for odd in [
            "uploads/u",
            "//evil/x",
            "ftp://x/y",
            "",
            "https://cdn.example/blob?sig=1",
            "https://r:5000/v2/x",
            "http://r:5001/v2/x",
        ] {
            assert!(c.resolve(odd).is_err(), "{odd}");
        }
    }

    #[test]
    fn manifest_put_rides_out_a_concurrent_blob_commit() {
        let racing = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
        let c = client(vec![
            Answer::new(400, racing),
            Answer::new(400, racing),
            Answer::new(201, b""),
        ]);
        c.put_manifest("lock-x", b"{}".to_vec()).unwrap();
        assert_eq!(c.transport().asked.borrow().len(), 3);
        let always = client(
            (0..=BLOB_UNKNOWN_RETRIES.len())
                .map(|_| Answer::new(400, racing))
                .collect(),
        );
        assert!(matches!(
            always.put_manifest("t", b"{}".to_vec()),
            Err(StoreError::Registry { status: 400, .. })
        ));
        let invalid = client(vec![Answer::new(
            400,
            br#"{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}"#,
        )]);
        assert!(invalid.put_manifest("t", b"{}".to_vec()).is_err());
        assert_eq!(
            invalid.transport().asked.borrow().len(),
            1,
            "other refusals are not retried"
        );
        // Under load distribution may name only DIGEST_INVALID.
        let digest_only = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        let c = client(vec![Answer::new(400, digest_only), Answer::new(201, b"")]);
        c.put_manifest("lock-y", b"{}".to_vec()).unwrap();
    }

    #[test]
    fn a_manifest_put_with_a_large_success_body_succeeds() {
        let c = client(vec![Answer::new(201, &vec![b'x'; 1 << 20])]);
        c.put_manifest("lock-x", b"{}".to_vec()).unwrap();
    }

    #[test]
    fn pages_and_locations_off_the_registry_origin_are_refused_unasked() {
        for link in [
            "http://r:5001/v2/team/repo/tags/list?last=a",
            "https://r:5000/v2/team/repo/tags/list?last=a",
            "http://evil.example/v2/team/repo/tags/list",
        ] {
            let c =
                client(vec![Answer::new(200, &page(&["a"]))
                    .header("link", &format!("<{link}>; rel=\"next\""))]);
            assert!(
                matches!(c.list_tags(), Err(StoreError::Registry { .. })),
                "{link}"
            );
            assert_eq!(c.transport().asked.borrow().len(), 1, "{link} was asked");
        }
        let c =
            client(vec![Answer::new(202, b"").header(
                "location",
                "http://r:5001/v2/team/repo/blobs/uploads/s",
            )]);
        assert!(matches!(c.start_upload(), Err(StoreError::Registry { .. })));
    }

    #[test]
    fn a_redirect_targets_401_teaches_no_realm() {
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let c = client_as(
            vec![
                Answer::new(307, b"").header("location", "http://cdn.example/blob"),
                Answer::new(401, b"").header(
                    "www-authenticate",
                    r#"Bearer realm="http://evil.example/token""#,
                ),
                Answer::new(200, &page(&["a"])),
            ],
            creds,
        );
        assert!(matches!(
            c.get_blob("sha256:aa", None),
            Err(StoreError::Unauthorized(_))
        ));
        // The next registry request goes as before: no token request to
        // the realm the CDN named.
        assert_eq!(c.list_tags().unwrap(), ["a"]);
        let asked = c.transport().asked.borrow();
        assert_eq!(asked.len(), 3);
        assert!(asked.iter().all(|a| !a.uri.contains("evil")));
    }

    #[test]
    fn tag_listings_are_capped() {
        let answers = (0..MAX_TAG_PAGES + 1)
            .map(|n| {
                Answer::new(200, &page(&["t"])).header(
                    "link",
                    &format!("</v2/team/repo/tags/list?page={n}>; rel=\"next\""),
                )
            })
            .collect();
        match client(answers).list_tags() {
            Err(StoreError::Registry { message, .. }) => assert!(message.contains("pages")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mount_answers() {
        let c = client(vec![
            Answer::new(201, b""),
            Answer::new(202, b"").header("location", "/v2/team/repo/blobs/uploads/s1"),
        ]);
        assert!(matches!(
            c.mount_or_start("sha256:aa").unwrap(),
            Mount::Exists
        ));
        match c.mount_or_start("sha256:bb").unwrap() {
            Mount::Upload(url) => assert_eq!(url, "http://r:5000/v2/team/repo/blobs/uploads/s1"),
            Mount::Exists => panic!("202 opens an upload"),
        }
        assert_eq!(
            c.transport().asked.borrow()[0].uri,
            "http://r:5000/v2/team/repo/blobs/uploads/?mount=sha256:aa&from=team/repo"
        );
    }

    #[test]
    fn a_registry_refusing_uploads_is_read_only() {
        let unsupported =
            br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
        // A pull-through cache: POST answers 405 UNSUPPORTED.
        let c = client(vec![Answer::new(405, unsupported)]);
        assert!(!c.takes_writes(false).unwrap());
        // Writes say why.
        let c = client(vec![
            Answer::new(405, unsupported),
            Answer::new(405, unsupported),
        ]);
        match c.mount_or_start("sha256:aa") {
            Err(StoreError::Unsupported(m)) => assert!(m.contains("read-only"), "{m}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a mirror accepted an upload"),
        }
        match c.put_manifest("lock-x", b"{}".to_vec()) {
            Err(StoreError::Unsupported(m)) => assert!(m.contains("read-only"), "{m}"),
            other => panic!("{other:?}"),
        }
        // A writable registry: the session is opened, then cancelled.
        let c = client(vec![
            Answer::new(202, b"").header("location", "/v2/team/repo/blobs/uploads/s1"),
            Answer::new(204, b""),
        ]);
        assert!(c.takes_writes(false).unwrap());
        assert_eq!(c.transport().methods(), ["POST", "DELETE"]);
        // Credentials without push: read-only too; a server error is an error.
        let c = client(vec![Answer::new(403, b"")]);
        assert!(!c.takes_writes(false).unwrap());
        let c = client(vec![Answer::new(400, b"")]);
        assert!(c.takes_writes(false).is_err());
        // A 401: read-only for an anonymous store (a public repository),
        // but an error when credentials were given (a wrong password).
        let c = client(vec![Answer::new(401, b"")]);
        assert!(!c.takes_writes(true).unwrap());
        let c = client(vec![Answer::new(401, b"")]);
        assert!(matches!(
            c.takes_writes(false),
            Err(StoreError::Unauthorized(_))
        ));
    }

    const CHALLENGE: &str =
        r#"Bearer realm="http://r:5000/token",service="r:5000",scope="repository:team/repo:pull""#;

    #[test]
    fn a_401_leads_to_a_token_and_one_resend() {
        let c = client_as(
            vec![
                Answer::new(401, b"").header("www-authenticate", CHALLENGE),
                Answer::new(200, br#"{"token":"T","expires_in":300}"#),
                Answer::new(200, &page(&["a"])),
                Answer::new(200, &page(&["b"])),
            ],
            Credentials::Basic {
                username: "u".into(),
                password: "p".into(),
            },
        );
        assert_eq!(c.list_tags().unwrap(), ["a"]);
        assert_eq!(
            c.list_tags().unwrap(),
            ["b"],
            "the cached token serves the next request directly"
        );
        let asked = c.transport().asked.borrow();
        assert_eq!(asked.len(), 4);
        assert!(asked[1].uri.starts_with("http://r:5000/token?service=r%3A5000&scope=repository%3Ateam%2Frepo%3Apull%2Cpush%2Cdelete"));
    }

    #[test]
    fn auth_failures_are_typed() {
        // A token that lacks a right: denied, after one fresh try.
        let scope = format!("{CHALLENGE},error=\"insufficient_scope\"");
        let denied = client(vec![
            Answer::new(401, b"").header("www-authenticate", CHALLENGE),
            Answer::new(200, br#"{"token":"T"}"#),
            Answer::new(401, b"").header("www-authenticate", &scope),
            Answer::new(200, br#"{"token":"T2"}"#),
            Answer::new(
                401,
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header("www-authenticate", &scope),
        ]);
        assert!(matches!(denied.list_tags(), Err(StoreError::Denied(_))));
        // The token server refuses the credentials.
        let refused = client_as(
            vec![
                Answer::new(401, b"").header("www-authenticate", CHALLENGE),
                Answer::new(401, b""),
                Answer::new(401, b""),
            ],
            Credentials::Basic {
                username: "u".into(),
                password: "wrong".into(),
            },
        );
        match refused.list_tags() {
            Err(StoreError::Unauthorized(m)) => assert!(!m.contains("wrong"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Basic auth with bad credentials: unauthorized, with one retry only.
        let basic = client_as(
            vec![
                Answer::new(401, b"").header("www-authenticate", r#"Basic realm="x""#),
                Answer::new(401, b"").header("www-authenticate", r#"Basic realm="x""#),
            ],
            Credentials::Basic {
                username: "u".into(),
                password: "p".into(),
            },
        );
        assert!(matches!(
            basic.list_tags(),
            Err(StoreError::Unauthorized(_))
        ));
        assert_eq!(basic.transport().asked.borrow().len(), 2);
    }

    #[test]
    fn transient_answers_are_retried_and_bounded() {
        // 503 then 429 with Retry-After, then the answer.
        let c = client(vec![
            Answer::new(503, b"busy"),
            Answer::new(429, b"").header("retry-after", "2"),
            Answer::new(200, &page(&["a"])),
        ]);
        assert_eq!(c.list_tags().unwrap(), ["a"]);
        let slept = c.transport().slept.borrow().clone();
        assert_eq!(slept.len(), 2);
        assert_eq!(slept[1], Duration::from_secs(2), "Retry-After honoured");
        // Always 500: the last answer's error, after the policy's retries.
        let failing = client(
            (0..=DEFAULT_POLICY.retries)
                .map(|_| Answer::new(500, b""))
                .collect(),
        );
        assert!(matches!(
            failing.list_tags(),
            Err(StoreError::Registry { status: 500, .. })
        ));
        assert_eq!(
            failing.transport().asked.borrow().len(),
            DEFAULT_POLICY.retries + 1
        );
        // A Retry-After past the bound: rate-limited at once.
        let patient = client(vec![Answer::new(429, b"").header("retry-after", "3600")]);
        assert!(matches!(
            patient.list_tags(),
            Err(StoreError::RateLimited(_))
        ));
        assert!(patient.transport().slept.borrow().is_empty());
    }

    #[test]
    fn a_put_whose_answer_is_lost_is_not_resent_when_the_blob_is_there() {
        let session = "http://r:5000/v2/team/repo/blobs/uploads/s";
        let c = client(vec![Answer::broken(), Answer::new(200, b"")]);
        c.complete_upload(session, "sha256:aa", vec![9; 1000])
            .unwrap();
        let methods = c.transport().methods();
        assert_eq!(methods, ["PUT", "HEAD"]);

        let c = client(vec![
            Answer::broken(),
            Answer::new(404, b""),
            Answer::new(201, b""),
        ]);
        c.complete_upload(session, "sha256:aa", vec![9; 1000])
            .unwrap();
        let asked = c.transport().asked.borrow();
        assert_eq!(asked.len(), 3);
        assert_eq!(asked[2].body.len(), 1000, "the body is sent whole again");
    }

    #[test]
    fn a_completed_upload_whose_answer_was_lost_counts_as_done() {
        let unknown = br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}"#;
        let c = client(vec![Answer::new(404, unknown), Answer::new(200, b"")]);
        c.complete_upload(
            "http://r:5000/v2/team/repo/blobs/uploads/s",
            "sha256:aa",
            b"x".to_vec(),
        )
        .unwrap();
        assert_eq!(c.transport().asked.borrow()[1].method, "HEAD");
        let really_lost = client(vec![Answer::new(404, unknown), Answer::new(404, b"")]);
        let result = really_lost.complete_upload(
            "http://r:5000/v2/team/repo/blobs/uploads/s",
            "sha256:aa",
            b"x".to_vec(),
        );
        assert!(matches!(result, Err(StoreError::NotFound(_))));
    }

    /// What an error shows of registry-sent text: no control characters
    /// (it reaches logs and terminals) and no more than a few hundred
    /// characters, whatever the registry sent.
    fn assert_tamed(error: &StoreError, shown_of_it: &str) {
        let shown = error.to_string();
        assert!(
            !shown.chars().any(char::is_control),
            "control characters in {shown:?}"
        );
        assert!(shown.len() < 400, "{} bytes: {shown}", shown.len());
        assert!(shown.contains(shown_of_it), "{shown}");
    }

    #[test]
    fn an_unreadable_upload_range_is_quoted_tamed() {
        // A tab is the one control character a header value may hold; the
        // rest of this one is 5000 characters of junk.
        let range = format!("0-\t{}", "9x".repeat(2500));
        let c = client(vec![Answer::new(204, b"").header("range", &range)]);
        match c.upload_status("http://r:5000/v2/team/repo/blobs/uploads/s") {
            Err(e @ StoreError::Registry { .. }) => {
                assert_tamed(&e, "unreadable Range '0- 9x9x");
            }
            other => panic!("{:?}", other.map(|s| s.received)),
        }
    }

    #[test]
    fn an_unreadable_tag_page_is_quoted_tamed() {
        // serde_json quotes the offending value, here 100,000 characters
        // with an escape sequence and newlines in them.
        let junk = format!("\u{1b}[2J\n{}\r\n", "A".repeat(100_000));
        let body =
            serde_json::to_vec(&serde_json::json!({ "name": "team/repo", "tags": junk })).unwrap();
        let c = client(vec![Answer::new(200, &body)]);
        match c.list_tags() {
            Err(e @ StoreError::Registry { .. }) => {
                assert_tamed(&e, "unreadable tag list: invalid type: string");
            }
            other => panic!("{other:?}"),
        }
    }
}
