//! `/v2/<name>/manifests/<reference>`: HEAD, GET, PUT and DELETE (OCI
//! distribution spec v1.1, "Pulling manifests", "Pushing manifests",
//! "Deleting manifests").

use super::answers::{read_only_hint, MAX_ERROR_BODY};
use super::exchange::{challenges_of, Fetched, Resend};
use super::RegistryClient;
use crate::digest::is_sha256_digest;
use crate::error::StoreError;
use crate::manifest::{MAX_MANIFEST_BYTES, OCI_MANIFEST};
use crate::registry_error::{error_codes, error_from_response};
use crate::transport::{header, read_to_vec, Transport};
use http::Method;
use std::time::Duration;

/// Waits before re-PUTting a manifest refused for a blob still being committed.
/// About 3 s in all: under load (2 cores, four writers of one blob) the
/// race has been seen to outlast 750 ms. Like every wait, they end within
/// the request's `retry_budget` and the operation's deadline.
pub(super) const BLOB_UNKNOWN_RETRIES: [Duration; 6] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

impl<T: Transport> RegistryClient<T> {
    /// The digest a tag points at, or `None` if there is no such tag.
    pub fn head_manifest(&self, tag: &str) -> Result<Option<String>, StoreError> {
        let what = format!("HEAD manifest {tag}");
        let url = self.url(&format!("manifests/{tag}"));
        let response = self.send(
            self.request(Method::HEAD, &url)
                .header("accept", OCI_MANIFEST)
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200 => {
                let digest = header(&response, "docker-content-digest").map(str::to_string);
                self.drain(response, &what)?;
                match digest {
                    Some(d) if is_sha256_digest(&d) => Ok(Some(d)),
                    _ => Err(StoreError::Protocol(format!(
                        "{what}: answer names no sha256 Docker-Content-Digest"
                    ))),
                }
            }
            404 => {
                self.drain(response, &what)?;
                Ok(None)
            }
            // A bare 400, 401 or 403 is asked again by GET for its words;
            // a 429 or 5xx says enough, and a GET would count as a pull.
            400 | 401 | 403 => Err(self.refusal_in_registry_words(response, &url, &what)),
            _ => Err(self.fail(response, &what)),
        }
    }

    /// An answer to a HEAD has no body, so a refusal says only its status
    /// (`unauthorized: HEAD manifest config: HTTP 401`); the same URL asked
    /// by GET says why in the registry's words (Harbor's "project X not
    /// found"). Asked once, only when the HEAD failed.
    fn refusal_in_registry_words(
        &self,
        head: http::Response<T::Body>,
        url: &str,
        what: &str,
    ) -> StoreError {
        let status = head.status();
        // A 401 carrying a challenge was answered by logging in already:
        // asking again would try the credentials once more (a registry
        // may lock an account out after a few).
        let challenged = status.as_u16() == 401 && !challenges_of(&head).is_empty();
        let bare = self.fail(head, what);
        if challenged {
            return bare;
        }
        let asked = self.send(
            self.request(Method::GET, url)
                .header("accept", OCI_MANIFEST)
                .body(Vec::new()),
        );
        match asked {
            Ok(response) if response.status() == status => self.fail(response, what),
            Ok(response) => {
                let _ = self.drain(response, what);
                bare
            }
            Err(_) => bare,
        }
    }

    /// The manifest bytes at a tag, or `None` if there is no such tag.
    pub fn get_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let what = format!("GET manifest {tag}");
        let fetched = self.fetch(
            self.request(Method::GET, &self.url(&format!("manifests/{tag}")))
                .header("accept", OCI_MANIFEST)
                .body(Vec::new()),
            MAX_MANIFEST_BYTES,
            &what,
        )?;
        let (parts, bytes) = match fetched {
            Fetched::Whole(parts, bytes) => (parts, bytes),
            Fetched::Other(response) if response.status().as_u16() == 404 => {
                self.drain(response, &what)?;
                return Ok(None);
            }
            Fetched::Other(response) => return Err(self.fail(response, &what)),
        };
        if parts.status.as_u16() != 200 {
            return Err(StoreError::Protocol(format!(
                "{what}: a manifest GET answered {} without a manifest",
                parts.status.as_u16()
            )));
        }
        // The registry names the digest of what it sent; a mismatch
        // means the bytes were damaged on the way.
        let claimed = parts
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok());
        if let Some(claimed) = claimed {
            if is_sha256_digest(claimed) && crate::digest::sha256_digest(&bytes) != claimed {
                return Err(StoreError::Integrity(format!(
                    "{what}: body does not match its digest"
                )));
            }
        }
        Ok(Some(bytes))
    }

    /// PUTs a manifest whose blobs we have just pushed or found. distribution
    /// can answer `MANIFEST_BLOB_UNKNOWN` and/or `DIGEST_INVALID` for a blob
    /// another client is committing at the same moment (two uploads of one
    /// digest race in its storage), so those answers are retried after a
    /// pause, within the request's budget. A PUT by tag names no digest of
    /// its own, so `DIGEST_INVALID` can only be about a layer.
    pub fn put_manifest(&self, tag: &str, manifest: Vec<u8>) -> Result<(), StoreError> {
        let what = format!("PUT manifest {tag}");
        let mut request = self
            .request(Method::PUT, &self.url(&format!("manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest)
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        let mut budget = self.budget();
        let mut resends = 0;
        loop {
            let mut response = self
                .exchange(&mut budget, &mut request, true, Resend::Transient)
                .map_err(|f| f.error)?;
            if response.status().is_success() {
                // What follows a success is of no use to us, and may be
                // anything in size: dropped unread (the connection with it).
                return Ok(());
            }
            let status = response.status().as_u16();
            let body = read_to_vec(response.body_mut(), MAX_ERROR_BODY, &what).unwrap_or_default();
            let racing = error_codes(&body)
                .iter()
                .any(|c| c == "MANIFEST_BLOB_UNKNOWN" || c == "DIGEST_INVALID");
            if racing
                && resends < BLOB_UNKNOWN_RETRIES.len()
                && self.wait_within(&budget, BLOB_UNKNOWN_RETRIES[resends])
            {
                resends += 1;
                continue;
            }
            return Err(read_only_hint(error_from_response(status, &body, &what)));
        }
    }

    /// Deletes a manifest by digest (removing every tag on it). `Ok(true)`
    /// when deleted or already gone, `Ok(false)` when the registry does not
    /// allow deletion (405, or `UNSUPPORTED`; distribution's default).
    pub fn delete_manifest(&self, digest: &str, tag: &str) -> Result<bool, StoreError> {
        Ok(self.remove_manifest(digest, tag)? != Removal::Refused)
    }

    /// Deletes a manifest by digest, saying how it went. Google Artifact
    /// Registry refuses to delete a manifest by digest while a tag still
    /// references it (`GOOGLE_MANIFEST_DANGLING_TAG`: genuinetools/reg#136,
    /// fluxcd/pkg#328): then `tag` is deleted first (DELETE by tag untags,
    /// there and in distribution v3), and the digest after it.
    pub fn remove_manifest(&self, digest: &str, tag: &str) -> Result<Removal, StoreError> {
        match self.delete_reference(digest)? {
            Deleted::Yes => Ok(Removal::Deleted),
            Deleted::Refused => Ok(Removal::Refused),
            Deleted::StillTagged(refusal) => match self.untag_then_delete(digest, tag) {
                Ok(removal) => Ok(removal),
                // Untagging failed otherwise: the digest's refusal says
                // more of what the registry wants.
                Err(_) => Err(refusal),
            },
        }
    }

    /// DELETE by tag, then by digest: two requests where the registry is
    /// known to refuse a tagged manifest's deletion.
    pub fn untag_then_delete(&self, digest: &str, tag: &str) -> Result<Removal, StoreError> {
        match self.delete_reference(tag)? {
            Deleted::Yes => match self.delete_reference(digest)? {
                Deleted::Yes => Ok(Removal::Untagged),
                Deleted::Refused => Ok(Removal::Refused),
                Deleted::StillTagged(again) => Err(again),
            },
            // No tag deleted, nothing changed: the registry deletes
            // nothing the store can use, so deletions become tombstones.
            Deleted::Refused => Ok(Removal::Refused),
            Deleted::StillTagged(again) => Err(again),
        }
    }

    /// DELETE by tag alone: whether the registry deleted it (or it was
    /// gone), `false` when it deletes no tags (distribution 2.8 answers
    /// UNSUPPORTED). Where it does, the tag disappears from listings at
    /// once: the DELETE by digest that follows can take seconds on a
    /// repository of 100,000 tags (distribution looks through every tag
    /// for those naming the digest), and a listing that saw the tag in
    /// that time would find the manifest gone.
    ///
    /// A registry that reads the tag as a malformed digest (400
    /// DIGEST_INVALID) or refuses it otherwise deletes no tags either; the
    /// DELETE by digest that follows says what it thinks of deletes.
    /// Failures that would fail that one too (no answer, no right, a rate
    /// limit, a failing registry) end here.
    pub fn untag(&self, tag: &str) -> Result<bool, StoreError> {
        match self.delete_reference(tag) {
            Ok(Deleted::Yes) => Ok(true),
            Ok(Deleted::Refused | Deleted::StillTagged(_)) => Ok(false),
            Err(
                e @ (StoreError::Transport(_)
                | StoreError::Unauthorized(_)
                | StoreError::Denied(_)
                | StoreError::RateLimited(_)),
            ) => Err(e),
            // A registry failing (5xx, after the retries) says nothing of
            // what it does with tags.
            Err(e @ StoreError::Registry { status: 500.., .. }) => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// One DELETE of a manifest by digest or tag.
    fn delete_reference(&self, reference: &str) -> Result<Deleted, StoreError> {
        let what = format!("DELETE manifest {reference}");
        let response = self.send(
            self.request(Method::DELETE, &self.url(&format!("manifests/{reference}")))
                .body(Vec::new()),
        )?;
        let status = response.status().as_u16();
        if (200..=299).contains(&status) || status == 404 {
            self.drain(response, &what)?;
            return Ok(Deleted::Yes);
        }
        let (error, codes) = self.fail_with_codes(response, &what);
        let still_tagged = codes.iter().any(|c| c == "GOOGLE_MANIFEST_DANGLING_TAG");
        match error {
            StoreError::Unsupported(_) => Ok(Deleted::Refused),
            refusal if still_tagged => Ok(Deleted::StillTagged(refusal)),
            other => Err(other),
        }
    }
}

/// How a manifest was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// By digest, at once.
    Deleted,
    /// Its tag first, then by digest (the registry refused a tagged one).
    Untagged,
    /// The registry deletes no manifests.
    Refused,
}

/// What one DELETE of a manifest came to.
enum Deleted {
    /// Gone, or never there.
    Yes,
    /// The registry does not delete manifests.
    Refused,
    /// A tag still references it; the refusal, to show if untagging fails.
    StillTagged(StoreError),
}
