//! Reading an object back: the whole of it, verified against its digest as
//! it streams, or one range of it, cut exactly whatever the registry sent.
//!
//! A body that breaks mid-way (a connection cut, a truncated answer) is
//! asked again with `Range` from the byte reached, within the retry
//! options: a whole read's running digest carries on across the
//! resumption, a ranged read asks for what is left of its range. Only a
//! resumption that moved the read on by a real amount starts the count of
//! retries afresh, so a registry that sends a few bytes and cuts, again and
//! again, spends the `retries` option like any other failure.
//!
//! The whole get is one operation of the `deadline` option: its opening,
//! every read of its body, every resumption's request and wait draw on the
//! one allowance, so neither a body drip-fed just under `timeout` nor
//! answers that come slowly and break stretch a get without end. The
//! caller's own time between two reads is not the registry's and is not
//! counted.

use crate::client::RegistryClient;
use crate::digest::StreamingDigest;
use crate::error::StoreError;
use crate::manifest::BlobRef;
use crate::range::{plan_slice, ByteRange, Span};
use crate::repository::Repository;
use crate::retry::Outcome;
use crate::transport::{header, ResponseBody, Transport};
use std::rc::Rc;
use std::time::Duration;

pub struct GetReader<B> {
    body: Option<B>,
    blob: BlobRef,
    /// The blob offset of the next byte to deliver, and where the read ends
    /// (exclusive).
    pos: u64,
    end: u64,
    /// Bytes of the current body to discard before `pos`.
    skip: u64,
    /// For whole reads: the digest being computed.
    verify: Option<StreamingDigest>,
    what: String,
    /// Resumptions in a row without real progress (bounded by the
    /// `retries` option), and where the last one started.
    resumes: usize,
    resumed_at: u64,
    /// Time the get has taken so far, its opening and its reads (bounded
    /// by the `deadline` option).
    spent: Duration,
}

/// Whether a body that broke at `at`, having been asked from `from`, moved
/// the read on by a real amount: 64 KiB (as chunked uploads ask), or all
/// that was left before `end`. A byte or two is no progress.
fn real_progress(from: u64, at: u64, end: u64) -> bool {
    let min = crate::chunked::MIN_PROGRESS as u64;
    at > from && at - from >= min.min(end - from)
}

impl<B: ResponseBody> GetReader<B> {
    pub(crate) fn whole<T: Transport<Body = B>>(
        client: &RegistryClient<T>,
        blob: &BlobRef,
        what: &str,
    ) -> Result<Self, StoreError> {
        Self::open(client, blob, None, what)
    }

    pub(crate) fn open<T: Transport<Body = B>>(
        client: &RegistryClient<T>,
        blob: &BlobRef,
        range: Option<ByteRange>,
        what: &str,
    ) -> Result<Self, StoreError> {
        let began = client.transport().now();
        let (pos, end) = match range {
            Some(r) => {
                r.check_within(blob.size)?;
                (r.offset, r.offset + u64::from(r.length))
            }
            None => (0, blob.size),
        };
        let mut reader = GetReader {
            body: None,
            blob: blob.clone(),
            pos,
            end,
            skip: 0,
            verify: range.is_none().then(StreamingDigest::default),
            what: what.into(),
            resumes: 0,
            resumed_at: pos,
            spent: Duration::ZERO,
        };
        if range.is_some_and(|r| r.length == 0) {
            return Ok(reader);
        }
        reader.request(client, range.map(Span::from))?;
        // The operation that opened the reader (looking the object up,
        // asking for it) is part of the get.
        reader.spent = match client.time_left() {
            Some(left) => client.limit().saturating_sub(left),
            None => client.transport().now().saturating_sub(began),
        };
        Ok(reader)
    }

    /// Asks for the blob from `pos` (`span`), or all of it (`None`), and
    /// checks the answer is what was asked.
    fn request<T: Transport<Body = B>>(
        &mut self,
        client: &RegistryClient<T>,
        span: Option<Span>,
    ) -> Result<(), StoreError> {
        let response = client.get_blob(&self.blob.digest, span)?;
        let status = response.status().as_u16();
        let length = header(&response, "content-length");
        let skip = match span {
            Some(span) => {
                plan_slice(
                    span,
                    status,
                    header(&response, "content-range"),
                    length,
                    self.blob.size,
                )?
                .skip
            }
            None if status != 200 => {
                return Err(StoreError::Integrity(format!(
                    "{}: status {status} to a whole read",
                    self.what
                )))
            }
            // A length other than the blob's is another blob, or a broken
            // answer: refused before any byte is handed out.
            None => match length.map(|l| l.trim().parse::<u64>()) {
                Some(Ok(n)) if n != self.blob.size => {
                    return Err(StoreError::Integrity(format!(
                        "{}: the answer holds {n} bytes, not the blob's {}",
                        self.what, self.blob.size
                    )))
                }
                _ => 0,
            },
        };
        self.body = Some(response.into_body());
        self.skip = skip;
        Ok(())
    }

    /// Up to `max` bytes; empty at the end. The read that completes a whole
    /// object checks its digest and fails with `integrity` on a mismatch,
    /// withholding the last bytes, so no caller sees a clean end of bad data.
    pub fn read<T: Transport<Body = B>>(
        &mut self,
        client: &RegistryClient<T>,
        max: usize,
    ) -> Result<Vec<u8>, StoreError> {
        if self.pos == self.end {
            return self.finish().map(|()| Vec::new());
        }
        // Every read, resumptions included, within what is left of the
        // get's deadline.
        let clock = client.transport();
        let began = clock.now();
        let result = {
            let _operation = client.operation_within(client.limit().saturating_sub(self.spent));
            self.read_within(client, max)
        };
        self.spent += clock.now().saturating_sub(began);
        result
    }

    fn read_within<T: Transport<Body = B>>(
        &mut self,
        client: &RegistryClient<T>,
        max: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let want = (max.max(1) as u64).min(self.end - self.pos) as usize;
        let chunk = loop {
            match self.next_chunk(client, want) {
                Ok(Some(chunk)) => break chunk,
                Ok(None) => {
                    let missing = self.end - self.pos;
                    let short = StoreError::Integrity(format!(
                        "{}: body ended {missing} bytes early",
                        self.what
                    ));
                    self.resume(client, short)?;
                }
                Err(e @ StoreError::Transport(_)) => self.resume(client, e)?,
                Err(e) => return Err(e),
            }
        };
        self.pos += chunk.len() as u64;
        if let Some(digest) = &mut self.verify {
            digest.update(&chunk);
        }
        if self.pos == self.end {
            self.finish()?;
        }
        Ok(chunk)
    }

    /// The next bytes at `pos` from the current body, by the deadline.
    fn next_chunk<T: Transport<Body = B>>(
        &mut self,
        client: &RegistryClient<T>,
        want: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // No body: a resumption failed and its error was returned. A caller
        // that reads again gets an error, not a trap.
        let Some(body) = self.body.as_mut() else {
            return Err(StoreError::Transport(format!(
                "{}: the read failed earlier; open the object again",
                self.what
            )));
        };
        body.set_deadline(client.deadline());
        while self.skip > 0 {
            let Some(chunk) = body.read_chunk(self.skip.min(1 << 20) as usize)? else {
                return Ok(None);
            };
            self.skip -= chunk.len() as u64;
        }
        body.read_chunk(want)
    }

    /// After the body broke with `error`: asks again for what is left
    /// (within the read's operation, so by the get's deadline), or gives up
    /// with `error` when the retries are spent, or with a deadline error
    /// when the wait before asking again would end past it.
    fn resume<T: Transport<Body = B>>(
        &mut self,
        client: &RegistryClient<T>,
        error: StoreError,
    ) -> Result<(), StoreError> {
        self.body = None;
        // A resumption that moved the read on by a real amount starts the
        // count afresh: a long read over a link that breaks every few MiB
        // still ends. A few bytes are no progress: a registry sending
        // those and cutting, again and again, spends the retries.
        if real_progress(self.resumed_at, self.pos, self.end) {
            self.resumes = 0;
        }
        self.resumed_at = self.pos;
        // The retry count and the wait are the exchange's rules; the
        // resumptions of a get draw on what is left of its deadline.
        let mut budget = client.resumption_budget(self.resumes);
        if !budget.retries_left() {
            self.verify = None;
            return Err(error);
        }
        let Some(wait) = client.backoff(&budget, Outcome::NoAnswer { retryable: true }) else {
            self.verify = None;
            return Err(client.past_deadline(&format!("{}, resuming its body", self.what)));
        };
        client.wait(&mut budget, wait);
        self.resumes = budget.failures();
        let rest = Span {
            offset: self.pos,
            length: self.end - self.pos,
        };
        self.request(client, Some(rest))
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        self.body = None;
        match self.verify.take() {
            Some(digest) if digest.clone().finish() != self.blob.digest => {
                Err(StoreError::Integrity(format!(
                    "{}: the bytes read do not match digest {}",
                    self.what, self.blob.digest
                )))
            }
            _ => Ok(()),
        }
    }

    /// Reads everything (for small objects such as the configuration).
    pub fn read_all<T: Transport<Body = B>>(
        mut self,
        client: &RegistryClient<T>,
    ) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        loop {
            let chunk = self.read(client, 1 << 20)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }
}

/// A reader handed to callers: a `GetReader` with the store whose client
/// resumes it.
pub struct ObjectReader<T: Transport> {
    store: Rc<Repository<T>>,
    reader: GetReader<T::Body>,
}

impl<T: Transport> ObjectReader<T> {
    pub(crate) fn new(store: Rc<Repository<T>>, reader: GetReader<T::Body>) -> Self {
        ObjectReader { store, reader }
    }

    /// Up to `max` bytes; empty at the end (see `GetReader::read`).
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, StoreError> {
        self.reader.read(&self.store.client, max)
    }

    pub fn read_all(self) -> Result<Vec<u8>, StoreError> {
        self.reader.read_all(&self.store.client)
    }
}

#[cfg(test)]
#[path = "get_tests.rs"]
mod tests;
