//! Reading an object back: the whole of it, verified against its digest as
//! it streams, or one range of it, cut exactly whatever the registry sent.

use crate::client::RegistryClient;
use crate::digest::StreamingDigest;
use crate::error::StoreError;
use crate::manifest::BlobRef;
use crate::range::{plan_slice, ByteRange, Slice};
use crate::transport::{header, ResponseBody, Transport};

pub struct GetReader<B> {
    body: Option<B>,
    skip: u64,
    remaining: u64,
    /// For whole reads: the digest being computed and the one expected.
    verify: Option<(StreamingDigest, String)>,
    what: String,
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
        if let Some(r) = range {
            r.check_within(blob.size)?;
            if r.length == 0 {
                return Ok(GetReader { body: None, skip: 0, remaining: 0, verify: None, what: what.into() });
            }
        }
        let response = client.get_blob(&blob.digest, range)?;
        let status = response.status().as_u16();
        let slice = match range {
            Some(r) => plan_slice(r, status, header(&response, "content-range"), blob.size)?,
            None if status == 200 => Slice { skip: 0, take: blob.size },
            None => return Err(StoreError::Integrity(format!("{what}: status {status} to a whole read"))),
        };
        let verify = range.is_none().then(|| (StreamingDigest::default(), blob.digest.clone()));
        Ok(GetReader {
            body: Some(response.into_body()),
            skip: slice.skip,
            remaining: slice.take,
            verify,
            what: what.into(),
        })
    }

    /// Up to `max` bytes; empty at the end. The read that completes a whole
    /// object checks its digest and fails with `integrity` on a mismatch,
    /// withholding the last bytes, so no caller sees a clean end of bad data.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, StoreError> {
        if self.remaining == 0 {
            return self.finish().map(|()| Vec::new());
        }
        let short = StoreError::Integrity(format!(
            "{}: body ended {} bytes early",
            self.what,
            self.remaining + self.skip
        ));
        let body = self.body.as_mut().expect("a reader with bytes to give has a body");
        while self.skip > 0 {
            let chunk = body.read_chunk(self.skip.min(1 << 20) as usize)?.ok_or_else(|| short.clone())?;
            self.skip -= chunk.len() as u64;
        }
        let want = (max.max(1) as u64).min(self.remaining) as usize;
        let chunk = body.read_chunk(want)?.ok_or(short)?;
        self.remaining -= chunk.len() as u64;
        if let Some((digest, _)) = &mut self.verify {
            digest.update(&chunk);
        }
        if self.remaining == 0 {
            self.finish()?;
        }
        Ok(chunk)
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        self.body = None;
        match self.verify.take() {
            Some((digest, expected)) if digest.clone().finish() != expected => Err(StoreError::Integrity(format!(
                "{}: the bytes read do not match digest {expected}",
                self.what
            ))),
            _ => Ok(()),
        }
    }

    /// Reads everything (for small objects such as the configuration).
    pub fn read_all(mut self) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        loop {
            let chunk = self.read(1 << 20)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }
}
