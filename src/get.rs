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
                return Ok(GetReader {
                    body: None,
                    skip: 0,
                    remaining: 0,
                    verify: None,
                    what: what.into(),
                });
            }
        }
        let response = client.get_blob(&blob.digest, range)?;
        let status = response.status().as_u16();
        let slice = match range {
            Some(r) => plan_slice(r, status, header(&response, "content-range"), blob.size)?,
            None if status == 200 => Slice {
                skip: 0,
                take: blob.size,
            },
            None => {
                return Err(StoreError::Integrity(format!(
                    "{what}: status {status} to a whole read"
                )))
            }
        };
        let verify = range
            .is_none()
            .then(|| (StreamingDigest::default(), blob.digest.clone()));
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
        // Built only when the body does end early: this is the hot path of
        // ranged reads.
        let (what, missing) = (&self.what, self.remaining + self.skip);
        let short = || StoreError::Integrity(format!("{what}: body ended {missing} bytes early"));
        let body = self
            .body
            .as_mut()
            .expect("a reader with bytes to give has a body");
        while self.skip > 0 {
            let chunk = body
                .read_chunk(self.skip.min(1 << 20) as usize)?
                .ok_or_else(short)?;
            self.skip -= chunk.len() as u64;
        }
        let want = (max.max(1) as u64).min(self.remaining) as usize;
        let chunk = body.read_chunk(want)?.ok_or_else(short)?;
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
            Some((digest, expected)) if digest.clone().finish() != expected => {
                Err(StoreError::Integrity(format!(
                    "{}: the bytes read do not match digest {expected}",
                    self.what
                )))
            }
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

#[cfg(test)]
mod tests {
    //! A scripted transport stands in for registries that behave in ways
    //! distribution does not: ignoring `Range`, truncating, corrupting.
    use super::*;
    use crate::digest::sha256_digest;
    use crate::scripted::{Answer, Scripted};

    fn object() -> (Vec<u8>, BlobRef) {
        let bytes: Vec<u8> = (0..100u8).collect();
        let blob = BlobRef {
            digest: sha256_digest(&bytes),
            size: 100,
        };
        (bytes, blob)
    }

    fn read(
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        blob: &BlobRef,
        range: Option<ByteRange>,
    ) -> (Result<Vec<u8>, StoreError>, Vec<Option<String>>) {
        let transport = Scripted::new([Answer {
            status,
            headers,
            body,
            broken: false,
        }]);
        let auth = crate::auth::Authenticator::new(
            "r",
            "repo",
            crate::auth::credentials::Credentials::Anonymous,
        );
        let client = RegistryClient::new(transport, "http://r".into(), "repo".into(), auth);
        let result = GetReader::open(&client, blob, range, "obj").and_then(GetReader::read_all);
        let ranges = client
            .transport()
            .asked
            .borrow()
            .iter()
            .map(|a| a.range.clone())
            .collect();
        (result, ranges)
    }

    #[test]
    fn a_200_to_a_ranged_read_is_cut_exactly() {
        let (bytes, blob) = object();
        for (offset, length) in [(0, 10), (45, 10), (90, 10), (99, 1)] {
            let r = ByteRange { offset, length };
            let (got, ranges) = read(200, vec![], bytes.clone(), &blob, Some(r));
            assert_eq!(
                got.unwrap(),
                bytes[offset as usize..(offset + length as u64) as usize]
            );
            assert_eq!(ranges, vec![Some(r.header())], "the range was asked for");
        }
    }

    #[test]
    fn a_206_is_checked_and_delivered() {
        let (bytes, blob) = object();
        let r = ByteRange {
            offset: 20,
            length: 5,
        };
        let cr = vec![("content-range", "bytes 20-24/100".to_string())];
        let (got, _) = read(206, cr, bytes[20..25].to_vec(), &blob, Some(r));
        assert_eq!(got.unwrap(), &bytes[20..25]);
        let wrong = vec![("content-range", "bytes 21-25/100".to_string())];
        let (got, _) = read(206, wrong, bytes[21..26].to_vec(), &blob, Some(r));
        assert!(matches!(got, Err(StoreError::Integrity(_))));
    }

    #[test]
    fn whole_reads_are_verified() {
        let (bytes, blob) = object();
        assert_eq!(
            read(200, vec![], bytes.clone(), &blob, None).0.unwrap(),
            bytes
        );
        let mut corrupt = bytes.clone();
        corrupt[50] ^= 1;
        assert!(
            matches!(read(200, vec![], corrupt, &blob, None).0, Err(StoreError::Integrity(m)) if m.contains("do not match"))
        );
        let truncated = bytes[..60].to_vec();
        assert!(
            matches!(read(200, vec![], truncated, &blob, None).0, Err(StoreError::Integrity(m)) if m.contains("early"))
        );
        let cr = vec![("content-range", "bytes 0-99/100".to_string())];
        assert!(matches!(
            read(206, cr, bytes, &blob, None).0,
            Err(StoreError::Integrity(_))
        ));
    }

    #[test]
    fn ranges_past_the_end_fail_before_any_request() {
        let (bytes, blob) = object();
        let (got, ranges) = read(
            200,
            vec![],
            bytes,
            &blob,
            Some(ByteRange {
                offset: 95,
                length: 10,
            }),
        );
        assert!(matches!(got, Err(StoreError::InvalidArgument(_))));
        assert!(ranges.is_empty());
        let (got, ranges) = read(
            200,
            vec![],
            vec![],
            &blob,
            Some(ByteRange {
                offset: 100,
                length: 0,
            }),
        );
        assert_eq!(got.unwrap(), Vec::<u8>::new());
        assert!(ranges.is_empty());
    }
}
