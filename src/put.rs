//! One object being stored. Small objects are buffered and sent in one PUT
//! whose digest is known up front (and skipped when the registry already has
//! the blob; sent again in chunks when the registry refuses the body as too
//! large). Past `BUFFER_LIMIT` the object travels as `upload_mode` says: in
//! resumable chunks that adapt to the registry (`chunked`, the default),
//! streamed in one PATCH while its digest is computed (`stream`), or
//! buffered whole for one PUT (`monolithic`). The object becomes visible only when its manifest is PUT,
//! the last step.
//!
//! The digest is computed as the bytes are written, or handed by a caller
//! that hashed them itself (`PutSession::hashed`, WIT `put-hashed`), which
//! the session then never hashes. A handed digest is checked where it is
//! used: the registry verifies every upload against the digest that closes
//! it (OCI distribution spec v1.1, "Pushing blobs": a mismatch is 400
//! `DIGEST_INVALID`), and a mounted blob, which no upload checks, is
//! checked by hashing the buffered bytes (`Repository::push_blob_as`).

use crate::chunked::ChunkedUpload;
use crate::config::UploadMode;
use crate::digest::WrittenDigest;
use crate::error::StoreError;
use crate::manifest::BlobRef;
use crate::repository::Repository;
use crate::resource::{Mac, Resource};
use crate::spare_buffer;
use crate::transport::{Transport, Upload};
use std::rc::Rc;

/// Objects up to this size are buffered: Kloset's locks, states and tail
/// packfiles; 64 MiB packfiles are streamed.
pub const BUFFER_LIMIT: usize = 8 << 20;

/// A buffer about to pass this size is given its limit's room at once.
const GROW_AT_ONCE: usize = 1 << 20;

pub struct PutSession<T: Transport> {
    repo: Rc<Repository<T>>,
    kind: Resource,
    mac: Mac,
    digest: WrittenDigest,
    stage: Stage<T::Upload>,
}

enum Stage<U> {
    Buffering(Vec<u8>),
    Streaming { session: String, upload: U },
    Chunking(ChunkedUpload),
    Finished,
    Failed,
}

impl<T: Transport> PutSession<T> {
    /// A put that hashes what it is written; finished by [`Self::finish`].
    pub(crate) fn new(repo: Rc<Repository<T>>, kind: Resource, mac: Mac) -> Self {
        Self::with_digest(repo, kind, mac, WrittenDigest::computing())
    }

    /// A put whose caller hashes what it writes and hands the digest to
    /// [`Self::finish_with_digest`]: nothing is hashed here.
    pub(crate) fn hashed(repo: Rc<Repository<T>>, kind: Resource, mac: Mac) -> Self {
        Self::with_digest(repo, kind, mac, WrittenDigest::handed())
    }

    fn with_digest(
        repo: Rc<Repository<T>>,
        kind: Resource,
        mac: Mac,
        digest: WrittenDigest,
    ) -> Self {
        PutSession {
            repo,
            kind,
            mac,
            digest,
            stage: Stage::Buffering(Vec::new()),
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let repo = Rc::clone(&self.repo);
        let _op = repo.client.operation();
        let result = self.write_inner(chunk);
        if result.is_err() {
            self.abandon();
        }
        result
    }

    /// What is buffered for one PUT: small objects, or all of them in
    /// monolithic mode. Chunked mode sends anything over one chunk in chunks,
    /// so that no request body exceeds the chunk size.
    fn buffer_limit(&self) -> usize {
        let limit = match self.repo.config.upload {
            UploadMode::Stream => BUFFER_LIMIT,
            UploadMode::Chunked { chunk_size } => BUFFER_LIMIT.min(chunk_size),
            UploadMode::Monolithic => usize::MAX,
        };
        // A body cap learnt from the registry: nothing larger in one PUT.
        match self.repo.uploads().body_cap {
            Some(cap) if self.repo.config.upload != UploadMode::Monolithic => limit.min(cap),
            _ => limit,
        }
    }

    fn write_inner(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.repo.check_open()?;
        let limit = self.buffer_limit();
        let client = &self.repo.client;
        match &mut self.stage {
            Stage::Buffering(buffer) if buffer.len().saturating_add(chunk.len()) <= limit => {
                // Past 1 MiB the object is likely large: room for the whole
                // buffer at once. Grown by doubling (1, 2, 4, 8 MiB) its
                // freed smaller copies cannot hold the next one, and the
                // guest's memory grew to 16 MiB for an 8 MiB buffer.
                let wanted = buffer.len() + chunk.len();
                // (Not in monolithic mode, whose limit is no size.)
                if limit <= BUFFER_LIMIT && wanted > GROW_AT_ONCE && buffer.capacity() < wanted {
                    // The kept buffer, so that no put's chunk is a new
                    // allocation (`spare_buffer`).
                    let mut room = spare_buffer::take(limit);
                    room.extend_from_slice(buffer);
                    *buffer = room;
                }
                buffer.extend_from_slice(chunk);
            }
            Stage::Buffering(buffer) => {
                let buffered = std::mem::take(buffer);
                self.stage = self.start_upload()?;
                match &mut self.stage {
                    Stage::Streaming { upload, .. } => {
                        upload.write(&buffered)?;
                        upload.write(chunk)?;
                    }
                    Stage::Chunking(upload) => {
                        let mut written = upload.write_owned(client, buffered);
                        let mut rest = chunk;
                        if written.is_ok() {
                            written = upload.write(client, chunk);
                            rest = &[];
                        }
                        self.repo.learn_uploads(upload.learnt());
                        if let Err(refusal) = written {
                            let mut unsent = upload.take_unsent().ok_or(refusal)?;
                            unsent.extend_from_slice(rest);
                            self.stream_instead(unsent)?;
                        }
                    }
                    _ => unreachable!("start_upload starts a PATCH"),
                }
            }
            Stage::Streaming { upload, .. } => upload.write(chunk)?,
            Stage::Chunking(upload) => {
                let written = upload.write(client, chunk);
                self.repo.learn_uploads(upload.learnt());
                if let Err(refusal) = written {
                    let unsent = upload.take_unsent().ok_or(refusal)?;
                    self.stream_instead(unsent)?;
                }
            }
            Stage::Finished | Stage::Failed => {
                return Err(StoreError::InvalidArgument(
                    "this writer is finished or failed".into(),
                ))
            }
        }
        self.digest.update(chunk);
        Ok(())
    }

    /// The registry refused this upload's first chunk as a chunk (it takes
    /// no chunked PATCH): the bytes written so far, none of which it holds,
    /// start one streamed PATCH in a new session, which the rest follows.
    fn stream_instead(&mut self, unsent: Vec<u8>) -> Result<(), StoreError> {
        if let Stage::Chunking(upload) = &self.stage {
            self.repo.client.cancel_upload(upload.url());
        }
        self.stage = Stage::Failed;
        self.stage = self.start_stream()?;
        match &mut self.stage {
            Stage::Streaming { upload, .. } => upload.write(&unsent),
            _ => unreachable!("start_stream starts a PATCH"),
        }
    }

    /// Opens a session and starts one streamed PATCH into it.
    fn start_stream(&self) -> Result<Stage<T::Upload>, StoreError> {
        let client = &self.repo.client;
        let session = client.start_upload()?.url;
        match client.start_patch(&session) {
            Ok(upload) => Ok(Stage::Streaming { session, upload }),
            Err(e) => {
                client.cancel_upload(&session);
                Err(e)
            }
        }
    }

    /// Opens the session an object past the buffer goes through. Once it is
    /// in `self.stage`, a failure cancels it.
    fn start_upload(&self) -> Result<Stage<T::Upload>, StoreError> {
        let client = &self.repo.client;
        match self.repo.config.upload {
            UploadMode::Chunked { .. } if self.repo.uploads().no_chunks => self.start_stream(),
            UploadMode::Chunked { chunk_size } => {
                ChunkedUpload::start_learnt(client, chunk_size, self.repo.uploads())
                    .map(Stage::Chunking)
            }
            UploadMode::Stream | UploadMode::Monolithic => self.start_stream(),
        }
    }

    /// Completes the upload and makes the object visible; returns its size.
    pub fn finish(&mut self) -> Result<u64, StoreError> {
        self.finish_as(None)
    }

    /// [`Self::finish`] for a put whose caller hashed the bytes: `digest`
    /// is their `sha256:<hex>`. A digest of another form is
    /// `InvalidArgument`; one the bytes do not have fails the put (see the
    /// module's doc). Either way the object is abandoned.
    pub fn finish_with_digest(&mut self, digest: &str) -> Result<u64, StoreError> {
        self.finish_as(Some(digest))
    }

    fn finish_as(&mut self, handed: Option<&str>) -> Result<u64, StoreError> {
        let repo = Rc::clone(&self.repo);
        let _op = repo.client.operation();
        let result = self.finish_inner(handed);
        if result.is_err() {
            self.abandon();
        }
        result
    }

    fn finish_inner(&mut self, handed: Option<&str>) -> Result<u64, StoreError> {
        self.repo.check_open()?;
        if matches!(self.stage, Stage::Finished | Stage::Failed) {
            return Err(StoreError::InvalidArgument(
                "this writer is finished or failed".into(),
            ));
        }
        let blob = BlobRef {
            digest: self.digest.finish(handed)?,
            size: self.digest.length(),
        };
        match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Buffering(buffer) => {
                self.repo.ensure_empty_blob()?;
                self.repo
                    .push_blob_as(buffer, &blob, self.digest.is_handed())?;
            }
            Stage::Streaming { session, upload } => {
                let client = &self.repo.client;
                let result = client
                    .finish_patch(upload)
                    .and_then(|next| client.complete_upload(&next, &blob.digest, Vec::new()));
                if let Err(e) = result {
                    client.cancel_upload(&session);
                    return Err(e);
                }
            }
            Stage::Chunking(upload) => {
                let session = upload.url().to_string();
                if let Err(e) = upload.finish(&self.repo.client, &blob.digest) {
                    self.repo.client.cancel_upload(&session);
                    return Err(e);
                }
            }
            Stage::Finished | Stage::Failed => {
                return Err(StoreError::InvalidArgument(
                    "this writer is finished or failed".into(),
                ))
            }
        }
        let size = blob.size;
        self.repo.commit_object(self.kind, &self.mac, blob)?;
        self.stage = Stage::Finished;
        Ok(size)
    }

    /// Drops whatever was sent: the PATCH is abandoned (the registry never
    /// gets a whole body) and the upload session is cancelled.
    fn abandon(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Streaming { session, upload } => {
                drop(upload);
                self.repo.client.cancel_upload(&session);
            }
            Stage::Chunking(upload) => self.repo.client.cancel_upload(upload.url()),
            Stage::Finished => self.stage = Stage::Finished,
            Stage::Buffering(_) | Stage::Failed => {}
        }
    }
}

impl<T: Transport> Drop for PutSession<T> {
    fn drop(&mut self) {
        // Cancelling the session is requests too: by the deadline.
        let repo = Rc::clone(&self.repo);
        let _op = repo.client.operation();
        self.abandon();
    }
}

#[cfg(test)]
#[path = "put_tests.rs"]
mod tests;
