//! Chunked uploads (`upload_mode=chunked`): an object goes in PATCHes of a
//! fixed size with `Content-Range`, for registries and proxies that cap
//! request bodies (GHCR: 4 MiB per chunk). Only the chunk in flight is held.
//!
//! A chunk whose PATCH fails is resumed from what the session says arrived
//! (OCI distribution spec v1.1, "Resuming an upload": `GET <session>`
//! answers `Range: 0-<last>`). When the session cannot say — distribution
//! 2.8 cancels a session asked with stale state, which is what a lost
//! answer leaves behind — the upload restarts in a new session if every
//! byte sent so far is still held (the first chunk), and fails otherwise:
//! nothing becomes visible and the caller may put again. The commit checks
//! the digest, so a wrong guess here can fail a put but never store wrong
//! bytes.

use crate::client::RegistryClient;
use crate::error::StoreError;
use crate::retry::Outcome;
use crate::transport::Transport;
use std::time::Duration;

/// The most a registry may make us hold per chunk (`OCI-Chunk-Min-Length`).
pub const MAX_CHUNK: u64 = 256 << 20;
/// The least a short acknowledgement must advance a chunk by (or all that
/// is left of it): a registry taking a byte at a time would otherwise have
/// us resend almost the whole chunk once per byte.
pub const MIN_PROGRESS: usize = 64 << 10;

/// Whether a registry that now holds `at` bytes of a chunk, after holding
/// `offset`, moved on by a real amount.
pub fn real_progress(offset: usize, at: usize, len: usize) -> bool {
    at > offset && at - offset >= MIN_PROGRESS.min(len - offset)
}

pub struct ChunkedUpload {
    /// Where the session's next request goes (each answer names the next).
    url: String,
    /// Bytes per PATCH; the last chunk goes with the closing PUT.
    chunk: usize,
    /// Written but not sent yet; shorter than `chunk`.
    pending: Vec<u8>,
    /// Bytes the registry holds.
    sent: u64,
}

/// How to go on with a chunk once the session said how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Send the chunk from this offset within it (its length: nothing left).
    From(usize),
    /// Start a new session: every byte is still held.
    Restart,
    /// The session holds bytes we no longer have, or too few: give up.
    Lost,
}

/// Where a chunk of `len` bytes starting at `start` goes on when the session
/// holds `received` bytes.
pub fn resume_point(received: u64, start: u64, len: usize) -> Resume {
    if (start..=start + len as u64).contains(&received) {
        Resume::From((received - start) as usize)
    } else if start == 0 {
        Resume::Restart
    } else {
        Resume::Lost
    }
}

/// The chunk size used: the option, raised to the registry's minimum.
pub fn effective_chunk(chunk_size: usize, min_chunk: Option<u64>) -> Result<usize, StoreError> {
    match min_chunk {
        Some(min) if min > MAX_CHUNK => Err(StoreError::Unsupported(format!(
            "the registry wants chunks of at least {min} bytes (OCI-Chunk-Min-Length), more \
             than the {MAX_CHUNK} a store holds in memory; use upload_mode=stream"
        ))),
        Some(min) => Ok(chunk_size.max(min as usize)),
        None => Ok(chunk_size),
    }
}

impl ChunkedUpload {
    pub fn start<T: Transport>(
        client: &RegistryClient<T>,
        chunk_size: usize,
    ) -> Result<Self, StoreError> {
        let session = client.start_upload()?;
        let chunk = effective_chunk(chunk_size, session.min_chunk).inspect_err(|_| {
            client.cancel_upload(&session.url);
        })?;
        Ok(ChunkedUpload {
            url: session.url,
            chunk,
            pending: Vec::new(),
            sent: 0,
        })
    }

    /// The session's current URL, to cancel it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn write<T: Transport>(
        &mut self,
        client: &RegistryClient<T>,
        mut bytes: &[u8],
    ) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(self.chunk);
            }
            let take = (self.chunk - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == self.chunk {
                let full = std::mem::take(&mut self.pending);
                self.send(client, full)?;
            }
        }
        Ok(())
    }

    /// Sends what is left with the closing PUT, which the client retries
    /// as a whole (a lost answer to it is resolved by a blob HEAD).
    pub fn finish<T: Transport>(
        mut self,
        client: &RegistryClient<T>,
        digest: &str,
    ) -> Result<(), StoreError> {
        let last = std::mem::take(&mut self.pending);
        client.complete_upload(&self.url, digest, last)
    }

    /// PATCHes one full chunk, resuming or restarting it as the session
    /// allows. The chunk's attempts, and the waits between them, share one
    /// budget (the client's `exchange`): the `retries` and `retry_budget`
    /// options hold for a chunk as for any request.
    fn send<T: Transport>(
        &mut self,
        client: &RegistryClient<T>,
        mut chunk: Vec<u8>,
    ) -> Result<(), StoreError> {
        let base = self.sent;
        let end = base + chunk.len() as u64;
        let mut offset = 0;
        let mut budget = client.budget();
        loop {
            // The first attempt sends the chunk itself; a resumed one a copy
            // of its tail.
            let mut body = if offset == 0 {
                std::mem::take(&mut chunk)
            } else {
                chunk[offset..].to_vec()
            };
            let result =
                client.patch_chunk(&mut budget, &self.url, base + offset as u64, &mut body);
            if offset == 0 {
                chunk = body;
            }
            let failed = match result {
                Ok(accepted) => {
                    self.url = accepted.url;
                    let held = accepted.received.unwrap_or(end);
                    if held == end {
                        self.sent = end;
                        return Ok(());
                    }
                    // Took less than it was sent, without an error: go on
                    // from there, as long as that is real progress, and
                    // as often as the retry option allows.
                    match resume_point(held, base, chunk.len()) {
                        Resume::From(at)
                            if real_progress(offset, at, chunk.len()) && budget.retries_left() =>
                        {
                            budget.count_retry();
                            offset = at;
                            continue;
                        }
                        _ => {
                            return Err(StoreError::Registry {
                                status: 202,
                                code: String::new(),
                                message: format!(
                                    "the registry says it holds {held} bytes after a chunk \
                                     ending at byte {end} (it took too little, or too often)"
                                ),
                            })
                        }
                    }
                }
                Err(failed) => failed,
            };
            let wait = match failed.retry {
                // Out of order: the session knows better; ask it at once.
                Outcome::Answer { status: 416, .. } if budget.retries_left() => {
                    Some(Duration::ZERO)
                }
                outcome => client.backoff(&budget, outcome),
            };
            let Some(wait) = wait else {
                return Err(failed.error);
            };
            client.wait(&mut budget, wait);
            let resume = match client.upload_status(&self.url) {
                Ok(status) => {
                    self.url = status.url;
                    resume_point(status.received, base, chunk.len())
                }
                Err(_) if base == 0 => Resume::Restart,
                Err(e) => {
                    return Err(lost(base, &format!("asking the session failed: {e}")));
                }
            };
            match resume {
                Resume::From(at) if at == chunk.len() => {
                    self.sent = end;
                    return Ok(());
                }
                Resume::From(at) => offset = at,
                Resume::Restart => {
                    client.cancel_upload(&self.url);
                    self.url = client.start_upload()?.url;
                    offset = 0;
                }
                Resume::Lost => {
                    return Err(lost(
                        base,
                        "the session holds a different amount than was sent",
                    ))
                }
            }
        }
    }
}

fn lost(at: u64, why: &str) -> StoreError {
    StoreError::Transport(format!(
        "a chunked upload broke after byte {at} and cannot be resumed ({why}); \
         nothing was stored"
    ))
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
