//! Chunked uploads (`upload_mode=chunked`, the default): an object goes in
//! PATCHes with `Content-Range`. Only the chunk in flight is held.
//!
//! The chunk adapts to the registry (what it learnt is kept per store
//! instance, [`Learnt`]):
//! - a PATCH refused as too large (413; GHCR's `416 ... the request body is
//!   too large and exceeds the maximum permissible limit of 4.00MiB`,
//!   oras-project/rust-oci-client#35; ECR's `400 BLOB_UPLOAD_INVALID ...
//!   layer part size exceeds the maximum of 20971520 bytes`) is sent again
//!   in pieces of the limit the refusal states, or of half the chunk;
//! - a later PATCH taken (ECR answers 201) while the session's `Range` does
//!   not move at all is ECR's stale `Range` (aws/containers-roadmap#2831:
//!   first read as bodies dropped, then shown byte for byte to be stored,
//!   the `Range` "stuck at the first chunk boundary"; crashappsec/chalk#682
//!   tracks the offset by what was sent): from then on the upload trusts
//!   what it sent, and the closing PUT's digest check, which the registry
//!   makes, decides. A wrong guess fails the put; it never stores wrong
//!   bytes.
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
use crate::spare_buffer;
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

/// The smallest chunk a too-large refusal may bring a chunk down to: below
/// it requests dominate, and a registry refusing such bodies takes none.
pub const MIN_ADAPTED_CHUNK: usize = 64 << 10;

/// What the uploads of one store instance learnt of the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Learnt {
    /// The most a request body may hold, from a too-large refusal.
    pub body_cap: Option<usize>,
    /// The registry's `Range` after a session's first PATCH is stale: what
    /// was sent is what it holds.
    pub stale_range: bool,
    /// The registry refuses PATCHes with `Content-Range`: objects go in one
    /// streamed PATCH.
    pub no_chunks: bool,
}

impl Learnt {
    /// Both views together: the smaller cap, every flag either has.
    pub fn merged(self, other: Learnt) -> Learnt {
        Learnt {
            body_cap: match (self.body_cap, other.body_cap) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            stale_range: self.stale_range || other.stale_range,
            no_chunks: self.no_chunks || other.no_chunks,
        }
    }
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
    learnt: Learnt,
}

/// Whether a refusal says the request body was too large, and the limit it
/// states, if any (`Some(None)`: too large, no limit given).
pub fn too_large(error: &StoreError) -> Option<Option<u64>> {
    let StoreError::Registry {
        status,
        code,
        message,
    } = error
    else {
        return None;
    };
    let lower = message.to_ascii_lowercase();
    let says = match status {
        413 => true,
        416 => lower.contains("too large"),
        400 => code == "BLOB_UPLOAD_INVALID" && lower.contains("exceeds the maximum"),
        _ => false,
    };
    says.then(|| stated_limit(message))
}

/// Whether a refusal of a session's first chunk says the registry takes
/// no chunks at all: `UNSUPPORTED` or 405, a 400, 415 or 501, or a 416
/// that is no size refusal (the first chunk cannot be out of order).
fn refuses_chunks(error: &StoreError) -> bool {
    match error {
        StoreError::Unsupported(_) => true,
        StoreError::Registry { status, .. } => {
            matches!(status, 400 | 405 | 415 | 416 | 501) && too_large(error).is_none()
        }
        _ => false,
    }
}

/// The chunk to go on with after a body of `current` bytes was refused as
/// too large, stating `limit` or not: the limit where it is a usable size
/// under the chunk, else half the chunk. Each refusal at least halves it
/// unless the registry names a size it takes; below `MIN_ADAPTED_CHUNK`
/// there is nothing left to try (`None`).
pub fn smaller_chunk(current: usize, limit: Option<u64>) -> Option<usize> {
    let stated = limit
        .map(|l| l.min(usize::MAX as u64) as usize)
        .filter(|&l| (MIN_ADAPTED_CHUNK..current).contains(&l));
    Some(stated.unwrap_or(current / 2)).filter(|&c| c >= MIN_ADAPTED_CHUNK)
}

/// The last size a message states, as `4.00MiB`, `20971520 bytes` or
/// `5 MB`: what registries write in their too-large refusals.
pub fn stated_limit(message: &str) -> Option<u64> {
    // Thousands separators go ("20,971,520 bytes"); a comma ending a word
    // is punctuation.
    let joined: String = message
        .char_indices()
        .filter(|&(i, c)| {
            let digit_at = |j: usize| {
                message[j..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            };
            !(c == ',' && i > 0 && digit_at(i - 1) && digit_at(i + 1))
        })
        .map(|(_, c)| c)
        .collect();
    let words: Vec<&str> = joined
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let unit_of = |u: &str| -> Option<f64> {
        match u.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "b" | "byte" | "bytes" => Some(1.0),
            "kib" | "kb" => Some(1024.0),
            "mib" | "mb" => Some(1024.0 * 1024.0),
            "gib" | "gb" => Some(1024.0 * 1024.0 * 1024.0),
            _ => None,
        }
    };
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        let digits = word
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(word.len());
        let (number, unit) = word.split_at(digits);
        let Ok(value) = number.parse::<f64>() else {
            continue;
        };
        let unit = if unit.is_empty() {
            words.get(i + 1).and_then(|u| unit_of(u))
        } else {
            unit_of(unit)
        };
        if let Some(unit) = unit {
            let bytes = value * unit;
            if bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64 {
                found = Some(bytes as u64);
            }
        }
    }
    found
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
        Self::start_learnt(client, chunk_size, Learnt::default())
    }

    /// Starts an upload with what earlier uploads learnt.
    pub fn start_learnt<T: Transport>(
        client: &RegistryClient<T>,
        chunk_size: usize,
        learnt: Learnt,
    ) -> Result<Self, StoreError> {
        let session = client.start_upload()?;
        let chunk = effective_chunk(chunk_size, session.min_chunk).inspect_err(|_| {
            client.cancel_upload(&session.url);
        })?;
        let chunk = learnt.body_cap.map_or(chunk, |cap| chunk.min(cap));
        Ok(ChunkedUpload {
            url: session.url,
            chunk,
            pending: Vec::new(),
            sent: 0,
            learnt,
        })
    }

    /// What this upload learnt (and was started with).
    pub fn learnt(&self) -> Learnt {
        self.learnt
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
                self.pending = spare_buffer::take(self.chunk);
            }
            let room = self.chunk.saturating_sub(self.pending.len());
            let take = room.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() >= self.chunk {
                let full = std::mem::take(&mut self.pending);
                if let Err(e) = self.send(client, full) {
                    if self.learnt.no_chunks && self.sent == 0 {
                        // Nothing is lost: the caller takes it all back.
                        self.pending.extend_from_slice(bytes);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Like [`ChunkedUpload::write`], but when no chunk is pending the
    /// caller's buffer becomes the pending chunk instead of being copied
    /// into a second one: a put's first bytes, buffered before the upload
    /// started, would otherwise be held twice (16 MiB of guest memory for
    /// a default 8 MiB chunk, per put in flight).
    pub fn write_owned<T: Transport>(
        &mut self,
        client: &RegistryClient<T>,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        if !self.pending.is_empty() || bytes.len() > self.chunk {
            return self.write(client, &bytes);
        }
        self.pending = bytes;
        if self.pending.len() >= self.chunk {
            let full = std::mem::take(&mut self.pending);
            self.send(client, full)?;
        }
        Ok(())
    }

    /// After a refusal of chunks (`Learnt::no_chunks`): every byte written
    /// so far, none of which the registry holds, for another way up.
    pub fn take_unsent(&mut self) -> Option<Vec<u8>> {
        (self.learnt.no_chunks && self.sent == 0).then(|| std::mem::take(&mut self.pending))
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
                    // A later chunk taken, and the Range not moved at all:
                    // ECR's stale Range (see the module's notes). What was
                    // sent is held; the closing PUT's digest check decides.
                    let stale = offset == 0 && base > 0 && held == base;
                    if held == end || stale || self.learnt.stale_range {
                        self.learnt.stale_range |= held != end;
                        self.sent = end;
                        spare_buffer::give_back(chunk);
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
                            return Err(StoreError::Protocol(format!(
                                "the registry says it holds {held} bytes after a chunk \
                                 ending at byte {end} (it took too little, or too often)"
                            )))
                        }
                    }
                }
                Err(failed) => failed,
            };
            // Refused as too large: the registry holds nothing of this
            // request; the chunk goes on in pieces it takes.
            if let Some(limit) = too_large(&failed.error) {
                let Some(smaller) = smaller_chunk(self.chunk, limit) else {
                    return Err(failed.error);
                };
                self.chunk = smaller;
                self.learnt.body_cap = Some(smaller);
                // The registry holds what came before this attempt.
                self.sent = base + offset as u64;
                return self.send_pieces(client, chunk.split_off(offset));
            }
            // The first chunk of a session refused outright: a registry that
            // takes no chunked PATCH (Google Artifact Registry: "does not
            // support Docker chunked uploads", its Docker API reference). The
            // chunk is kept for the caller, who streams it instead.
            if base == 0 && offset == 0 && budget.failures() == 0 && refuses_chunks(&failed.error) {
                self.learnt.no_chunks = true;
                self.pending = chunk;
                return Err(failed.error);
            }
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
                    spare_buffer::give_back(chunk);
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

impl ChunkedUpload {
    /// Sends `rest` (the registry holds everything before it) in full
    /// chunks; what is left short of a chunk waits for more writes.
    fn send_pieces<T: Transport>(
        &mut self,
        client: &RegistryClient<T>,
        mut rest: Vec<u8>,
    ) -> Result<(), StoreError> {
        while rest.len() >= self.chunk {
            let tail = rest.split_off(self.chunk);
            self.send(client, rest)?;
            rest = tail;
        }
        rest.append(&mut self.pending);
        self.pending = rest;
        Ok(())
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
