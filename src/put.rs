//! One object being stored. Small objects are buffered and sent in one PUT
//! whose digest is known up front (and skipped when the registry already has
//! the blob); past `BUFFER_LIMIT` the object is streamed in one PATCH while
//! its digest is computed, so guest memory stays bounded whatever the size.
//! The object becomes visible only when its manifest is PUT, the last step.

use crate::digest::StreamingDigest;
use crate::error::StoreError;
use crate::manifest::BlobRef;
use crate::resource::{Mac, Resource};
use crate::store::OciStore;
use crate::transport::{Transport, Upload};
use std::rc::Rc;

/// Objects up to this size are buffered: Kloset's locks, states and tail
/// packfiles; 64 MiB packfiles are streamed.
pub const BUFFER_LIMIT: usize = 8 << 20;

pub struct PutSession<T: Transport> {
    store: Rc<OciStore<T>>,
    kind: Resource,
    mac: Mac,
    digest: StreamingDigest,
    stage: Stage<T::Upload>,
}

enum Stage<U> {
    Buffering(Vec<u8>),
    Streaming { session: String, upload: U },
    Finished,
    Failed,
}

impl<T: Transport> PutSession<T> {
    pub(crate) fn new(store: Rc<OciStore<T>>, kind: Resource, mac: Mac) -> Self {
        PutSession {
            store,
            kind,
            mac,
            digest: StreamingDigest::default(),
            stage: Stage::Buffering(Vec::new()),
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let result = self.write_inner(chunk);
        if result.is_err() {
            self.abandon();
        }
        result
    }

    fn write_inner(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.store.check_open()?;
        match &mut self.stage {
            Stage::Buffering(buffer) if buffer.len() + chunk.len() <= BUFFER_LIMIT => {
                buffer.extend_from_slice(chunk);
            }
            Stage::Buffering(buffer) => {
                let buffered = std::mem::take(buffer);
                let client = &self.store.client;
                let session = client.start_upload()?;
                // Park the session first so a failure below still cancels it.
                self.stage = Stage::Streaming {
                    session: session.clone(),
                    upload: client.start_patch(&session)?,
                };
                if let Stage::Streaming { upload, .. } = &mut self.stage {
                    upload.write(&buffered)?;
                    upload.write(chunk)?;
                }
            }
            Stage::Streaming { upload, .. } => upload.write(chunk)?,
            Stage::Finished | Stage::Failed => {
                return Err(StoreError::InvalidArgument(
                    "this writer is finished or failed".into(),
                ))
            }
        }
        self.digest.update(chunk);
        Ok(())
    }

    /// Completes the upload and makes the object visible; returns its size.
    pub fn finish(&mut self) -> Result<u64, StoreError> {
        let result = self.finish_inner();
        if result.is_err() {
            self.abandon();
        }
        result
    }

    fn finish_inner(&mut self) -> Result<u64, StoreError> {
        self.store.check_open()?;
        let blob = BlobRef {
            digest: self.digest.clone().finish(),
            size: self.digest.length(),
        };
        match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Buffering(buffer) => {
                self.store.ensure_empty_config()?;
                self.store.push_blob(buffer)?;
            }
            Stage::Streaming { session, upload } => {
                let client = &self.store.client;
                let result = client
                    .finish_patch(upload)
                    .and_then(|next| client.complete_upload(&next, &blob.digest, Vec::new()));
                if let Err(e) = result {
                    client.cancel_upload(&session);
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
        self.store.commit_object(self.kind, &self.mac, blob)?;
        self.stage = Stage::Finished;
        Ok(size)
    }

    /// Drops whatever was sent: the PATCH is abandoned (the registry never
    /// gets a whole body) and the upload session is cancelled.
    fn abandon(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Streaming { session, upload } => {
                drop(upload);
                self.store.client.cancel_upload(&session);
            }
            Stage::Finished => self.stage = Stage::Finished,
            Stage::Buffering(_) | Stage::Failed => {}
        }
    }
}

impl<T: Transport> Drop for PutSession<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}
