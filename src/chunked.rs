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
mod tests {
    use super::*;
    use crate::auth::credentials::Credentials;
    use crate::auth::Authenticator;
    use crate::digest::sha256_digest;
    use crate::scripted::{Answer, Scripted};

    const SESSION: &str = "http://r:5000/v2/team/repo/blobs/uploads/s";

    fn client(answers: Vec<Answer>) -> RegistryClient<Scripted> {
        RegistryClient::new(
            Scripted::new(answers),
            "http://r:5000".into(),
            "team/repo".into(),
            Authenticator::new("http://r:5000", "team/repo", Credentials::Anonymous),
        )
    }

    fn opened() -> Answer {
        Answer::new(202, b"").header("location", &format!("{SESSION}?_state=0"))
    }

    /// A PATCH taken, the registry now holding `held` bytes.
    fn took(held: u64) -> Answer {
        Answer::new(202, b"")
            .header("location", &format!("{SESSION}?_state={held}"))
            .header("range", &format!("0-{}", held - 1))
    }

    fn status(held: u64) -> Answer {
        let last = held.saturating_sub(1);
        Answer::new(204, b"")
            .header("location", &format!("{SESSION}?_state={held}"))
            .header("range", &format!("0-{last}"))
    }

    fn upload(c: &RegistryClient<Scripted>, data: &[u8], chunk: usize) -> Result<(), StoreError> {
        let mut up = ChunkedUpload::start(c, chunk)?;
        for piece in data.chunks(7) {
            up.write(c, piece)?;
        }
        up.finish(c, &sha256_digest(data))
    }

    #[test]
    fn resume_points() {
        assert_eq!(resume_point(100, 100, 50), Resume::From(0));
        assert_eq!(resume_point(120, 100, 50), Resume::From(20));
        assert_eq!(resume_point(150, 100, 50), Resume::From(50));
        assert_eq!(resume_point(90, 100, 50), Resume::Lost);
        assert_eq!(resume_point(151, 100, 50), Resume::Lost);
        assert_eq!(resume_point(60, 0, 50), Resume::Restart);
        assert_eq!(resume_point(0, 0, 50), Resume::From(0));
    }

    #[test]
    fn the_registry_minimum_raises_the_chunk() {
        assert_eq!(effective_chunk(4 << 20, None).unwrap(), 4 << 20);
        assert_eq!(effective_chunk(4 << 20, Some(1 << 20)).unwrap(), 4 << 20);
        assert_eq!(effective_chunk(1 << 20, Some(5 << 20)).unwrap(), 5 << 20);
        assert!(matches!(
            effective_chunk(1 << 20, Some(MAX_CHUNK + 1)),
            Err(StoreError::Unsupported(_))
        ));
    }

    #[test]
    fn chunks_carry_content_ranges_and_follow_each_location() {
        let data: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
        let c = client(vec![
            opened().header("oci-chunk-min-length", "100"),
            took(100),
            took(200),
            Answer::new(201, b""),
        ]);
        // Asked for 64-byte chunks; the registry's minimum of 100 wins.
        upload(&c, &data, 64).unwrap();
        let asked = c.transport().asked.borrow();
        let ranges: Vec<_> = asked.iter().map(|a| a.content_range.clone()).collect();
        assert_eq!(
            ranges,
            [None, Some("0-99".into()), Some("100-199".into()), None]
        );
        assert!(asked[2].uri.ends_with("_state=100"), "{}", asked[2].uri);
        assert!(asked[3].uri.contains("_state=200&digest=sha256:"));
        let sent: Vec<u8> = asked.iter().flat_map(|a| a.body.clone()).collect();
        assert_eq!(sent, data);
    }

    #[test]
    fn a_chunk_that_did_not_arrive_is_resent_after_asking() {
        let data = vec![7u8; 250];
        let c = client(vec![
            opened(),
            took(100),
            Answer::new(503, b""),
            status(100),
            took(200),
            Answer::new(201, b""),
        ]);
        upload(&c, &data, 100).unwrap();
        let asked = c.transport().asked.borrow();
        assert_eq!(asked[3].method, "GET");
        assert_eq!(asked[4].content_range.as_deref(), Some("100-199"));
        assert_eq!(asked[4].body.len(), 100);
        assert_eq!(c.transport().slept.borrow().len(), 1);
    }

    #[test]
    fn a_chunk_that_half_arrived_goes_on_from_where_it_stopped() {
        let data: Vec<u8> = (0..250u32).map(|i| (i * 3) as u8).collect();
        let c = client(vec![
            opened(),
            took(100),
            Answer::broken(),
            status(160),
            took(200),
            Answer::new(201, b""),
        ]);
        upload(&c, &data, 100).unwrap();
        let asked = c.transport().asked.borrow();
        assert_eq!(asked[4].content_range.as_deref(), Some("160-199"));
        assert_eq!(asked[4].body, data[160..200]);
    }

    #[test]
    fn a_chunk_that_arrived_whole_is_not_sent_again() {
        let data = vec![1u8; 250];
        let c = client(vec![
            opened(),
            took(100),
            Answer::broken(),
            status(200),
            Answer::new(201, b""),
        ]);
        upload(&c, &data, 100).unwrap();
        let asked = c.transport().asked.borrow();
        assert_eq!(asked.len(), 5);
        assert_eq!(asked[4].method, "PUT");
        assert_eq!(asked[4].body.len(), 50);
    }

    #[test]
    fn an_unanswerable_first_chunk_restarts_in_a_new_session() {
        let data = vec![2u8; 150];
        let gone =
            br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#;
        let c = client(vec![
            opened(),
            Answer::broken(),
            // distribution 2.8: stale state; the session is cancelled.
            Answer::new(400, gone),
            Answer::new(204, b""), // our own DELETE of it
            opened(),
            took(100),
            Answer::new(201, b""),
        ]);
        upload(&c, &data, 100).unwrap();
        let methods = c.transport().methods();
        assert_eq!(
            methods,
            ["POST", "PATCH", "GET", "DELETE", "POST", "PATCH", "PUT"]
        );
    }

    #[test]
    fn a_later_chunk_the_session_lost_fails_the_upload() {
        let data = vec![3u8; 250];
        let gone =
            br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#;
        let c = client(vec![
            opened(),
            took(100),
            Answer::broken(),
            Answer::new(400, gone),
        ]);
        match upload(&c, &data, 100) {
            Err(StoreError::Transport(m)) => {
                assert!(m.contains("after byte 100"), "{m}");
                assert!(m.contains("nothing was stored"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_are_bounded_by_the_retry_policy() {
        let data = vec![4u8; 150];
        let mut answers = vec![opened()];
        for attempt in 0..5 {
            answers.push(Answer::new(503, b""));
            if attempt < 4 {
                answers.push(status(0));
            }
        }
        let c = client(answers);
        match upload(&c, &data, 100) {
            Err(StoreError::Registry { status: 503, .. }) => {}
            other => panic!("{other:?}"),
        }
        // The default policy: four retries, each after asking the session.
        assert_eq!(c.transport().slept.borrow().len(), 4);
    }

    #[test]
    fn a_registry_taking_a_byte_at_a_time_fails_the_upload() {
        // 200 KiB chunks; every PATCH is acknowledged one byte further.
        let chunk = 200 << 10;
        let data = vec![6u8; chunk + 10];
        let mut answers = vec![opened()];
        answers.extend((1..=3).map(|held| took(held)));
        let c = client(answers);
        match upload(&c, &data, chunk) {
            Err(StoreError::Registry {
                status: 202,
                message,
                ..
            }) => {
                assert!(message.contains("too little"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.transport().methods(),
            ["POST", "PATCH"],
            "not resent for one byte of progress"
        );
        // Real progress is followed, within the retry option.
        assert!(real_progress(0, MIN_PROGRESS, chunk));
        assert!(!real_progress(0, MIN_PROGRESS - 1, chunk));
        assert!(real_progress(chunk - 5, chunk, chunk), "all that is left");
        assert!(!real_progress(chunk - 5, chunk - 1, chunk));
        let c = client(vec![
            opened(),
            took(100 << 10),
            took(chunk as u64),
            Answer::new(201, b""),
        ]);
        upload(&c, &data, chunk).unwrap();
        assert_eq!(
            c.transport().asked.borrow()[2].body.len(),
            chunk - (100 << 10)
        );
    }

    #[test]
    fn a_413_names_the_options_that_get_under_the_cap() {
        let c = client(vec![opened(), Answer::new(413, b"")]);
        match upload(&c, &[5u8; 150], 100) {
            Err(StoreError::Registry {
                status: 413,
                message,
                ..
            }) => {
                assert!(message.contains("chunk_size"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
