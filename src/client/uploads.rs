//! `/v2/<name>/blobs/uploads/`: opening a session, PATCHing into it (one
//! streamed body or resumable chunks), asking where it stands, completing
//! it with the digest, and cancelling it (OCI distribution spec v1.1,
//! "Pushing blobs", "Pushing a blob in chunks", "Resuming an upload").

use super::answers::{outcome_of, read_only_hint, upload_hint};
use super::exchange::{Budget, Resend};
use super::RegistryClient;
use crate::error::StoreError;
use crate::retry::Outcome;
use crate::transport::{header, Transport};
use http::{Method, Response};

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

fn unbuildable(e: http::Error) -> StoreError {
    StoreError::InvalidArgument(format!("cannot build request: {e}"))
}

impl<T: Transport> RegistryClient<T> {
    /// Opens an upload session.
    pub fn start_upload(&self) -> Result<UploadSession, StoreError> {
        self.open_session(Resend::Transient)
    }

    /// Opens an upload session, retrying transient failures or not (a
    /// probe that a failure answers well enough).
    fn open_session(&self, resend: Resend) -> Result<UploadSession, StoreError> {
        let what = "POST blob upload";
        let mut request = self
            .request(Method::POST, &self.url("blobs/uploads/"))
            .header("content-length", "0")
            .body(Vec::new())
            .map_err(unbuildable)?;
        let mut budget = self.budget();
        let response = self
            .exchange(&mut budget, &mut request, true, resend)
            .map_err(|f| f.error)?;
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
    /// (401, 403), is read-only.
    ///
    /// A 401 means read-only only for an anonymous store (a public
    /// repository read without logging in); with credentials it is the
    /// error it is, so a wrong password is reported as `unauthorized`
    /// rather than hidden behind a read-only mode.
    ///
    /// Any other refusal (a 500 from a registry whose disk is full, a 429,
    /// a repository the registry will not create) does not make the
    /// repository unreadable: reading never depends on the registry taking
    /// writes (Kloset asks `mode` before every read). It counts as
    /// writable, and a write then fails with the registry's own words.
    pub fn takes_writes(&self, anonymous: bool) -> Result<bool, StoreError> {
        match self.open_session(Resend::Unanswered) {
            Ok(session) => {
                self.cancel_upload(&session.url);
                Ok(true)
            }
            Err(StoreError::Unsupported(_) | StoreError::Denied(_)) => Ok(false),
            Err(StoreError::Unauthorized(_)) if anonymous => Ok(false),
            Err(error @ (StoreError::Unauthorized(_) | StoreError::Transport(_))) => Err(error),
            Err(_) => Ok(true),
        }
    }

    /// PATCHes one chunk, `bytes` starting at `start`, in a single attempt:
    /// resending blindly could append twice, so a failure is for the caller
    /// to resolve by asking the session (`upload_status`), within `budget`.
    /// `bytes` is lent to the request and handed back, for a resend.
    pub fn patch_chunk(
        &self,
        budget: &mut Budget,
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
            .map_err(|e| ChunkFailed::fatal(unbuildable(e)))?;
        let outcome = self.exchange(budget, &mut request, true, Resend::Never);
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
            Some(range) => parse_received(range).ok_or_else(|| {
                StoreError::Protocol(format!(
                    "{what}: unreadable Range '{}'",
                    crate::registry_error::excerpt(range, 64)
                ))
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
        self.complete_upload_keeping(session, digest, body)
            .map_err(|(error, _)| error)
    }

    /// `complete_upload`, handing the body back with the error when it
    /// fails: the caller may send the bytes again another way (in chunks a
    /// capped registry takes) without having kept a copy.
    pub fn complete_upload_keeping(
        &self,
        session: &str,
        digest: &str,
        body: Vec<u8>,
    ) -> Result<(), (StoreError, Vec<u8>)> {
        let what = format!("PUT blob {digest}");
        let separator = if session.contains('?') { '&' } else { '?' };
        let url = format!("{session}{separator}digest={digest}");
        let length = body.len().to_string();
        let mut request = match self
            .request(Method::PUT, &url)
            .header("content-type", "application/octet-stream")
            .header("content-length", length)
            .body(body)
        {
            Ok(request) => request,
            Err(e) => return Err((unbuildable(e), Vec::new())),
        };
        let mut budget = self.budget();
        let result = loop {
            let outcome = self.exchange(&mut budget, &mut request, true, Resend::Never);
            match (self.backoff(&budget, outcome_of(&outcome)), outcome) {
                (Some(wait), outcome) => {
                    let unanswered = outcome.is_err();
                    if let Ok(response) = outcome {
                        let _ = self.drain(response, "answer to retry");
                    }
                    self.wait(&mut budget, wait);
                    if unanswered {
                        match self.blob_exists(digest) {
                            Ok(true) => break Ok(()),
                            Ok(false) => {}
                            Err(e) => break Err(e),
                        }
                    }
                }
                (None, Err(failure)) => break Err(failure.error),
                (None, Ok(response)) => break self.upload_completed(response, digest, &what),
            }
        };
        let body = std::mem::take(request.body_mut());
        match result {
            Ok(()) => {
                crate::spare_buffer::give_back(body);
                Ok(())
            }
            Err(e) => Err((e, body)),
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
            // The digest the registry says it stored the blob under, when it
            // names one: another sha256 than the one asked means it did not
            // check the upload against it (a registry or proxy that skips
            // the check), and the object must not name a digest its bytes
            // lack. A digest of another algorithm says nothing of ours.
            let named = header(&response, "docker-content-digest")
                .filter(|named| crate::digest::is_sha256_digest(named))
                .filter(|named| *named != digest)
                .map(str::to_string);
            self.drain(response, what)?;
            return match named {
                Some(named) => Err(StoreError::Integrity(format!(
                    "{what}: the registry stored the upload as {named}, not as the digest asked"
                ))),
                None => Ok(()),
            };
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

    /// Starts a streamed PATCH of an upload session (no Content-Range: the
    /// whole blob in one request, as `docker push` sends it). Its body
    /// cannot be sent twice, so it is never retried.
    pub fn start_patch(&self, session: &str) -> Result<T::Upload, StoreError> {
        let mut request = self
            .request(Method::PATCH, session)
            .header("content-type", "application/octet-stream")
            .body(())
            .map_err(unbuildable)?;
        let uri = request.uri().clone();
        self.authorize(&Method::PATCH, &uri, request.headers_mut())?;
        self.transport.start(request)
    }

    /// Completes a streamed PATCH; returns the session URL to finish with.
    pub fn finish_patch(&self, upload: T::Upload) -> Result<String, StoreError> {
        use crate::transport::Upload;
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
}
