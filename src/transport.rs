//! The seam between protocol logic and the network. Everything above this
//! trait builds and reads plain `http` types; the wasi:http implementation
//! (`wasi_transport`) is the only code that touches the network.

use crate::error::StoreError;

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Whether sending again may work: a broken or refused connection may,
    /// a certificate the host does not trust or a denied host never will.
    pub retryable: bool,
    pub error: StoreError,
}

impl From<StoreError> for SendFailure {
    fn from(error: StoreError) -> Self {
        SendFailure {
            retryable: false,
            error,
        }
    }
}

/// A response body read in chunks.
pub trait ResponseBody {
    /// Up to `max` bytes; `None` once the body has ended.
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError>;

    /// A time (on `Transport::now`'s clock) past which reading fails with
    /// `transport` instead of waiting for more: a body drip-fed just under
    /// the between-bytes timeout must not stretch an operation without end.
    /// Bodies read in one piece from memory need not care.
    fn set_deadline(&mut self, _at: Option<std::time::Duration>) {}
}

/// A request whose body is written piece by piece after it was sent (a
/// streamed PATCH). Dropping it without `finish` abandons the request, so the
/// registry never sees a complete body.
pub trait Upload {
    type Body: ResponseBody;
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    fn finish(self) -> Result<http::Response<Self::Body>, StoreError>;
}

pub trait Transport {
    type Body: ResponseBody;
    type Upload: Upload<Body = Self::Body>;

    /// Sends a request with a body known in full (possibly empty). Taken by
    /// reference so that a failed attempt can be sent again without a copy.
    fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Self::Body>, SendFailure>;

    /// Sends a request whose body follows through the returned `Upload`.
    fn start(&self, request: http::Request<()>) -> Result<Self::Upload, StoreError>;

    /// Waits before a retry. Timing belongs to the edge, so protocol logic
    /// and its tests never sleep.
    fn sleep(&self, _duration: std::time::Duration) {}

    /// A random number, to spread retries of clients that failed together.
    fn random(&self) -> u64 {
        0
    }

    /// A time (on `now`'s clock) past which writing a request body, or
    /// waiting for the answer to one, fails with `transport` instead of
    /// waiting on: a registry that takes an upload at a trickle, or never
    /// reads it, must not stall an operation without end. Set by the
    /// client as operations start and end; transports whose bodies cannot
    /// stall need not care.
    fn set_deadline(&self, _at: Option<std::time::Duration>) {}

    /// A monotonic clock, for token lifetimes.
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Reads a whole body, refusing more than `cap` bytes (a manifest or an
/// error document is small; a huge one is a broken or hostile answer).
pub fn read_to_vec(
    body: &mut impl ResponseBody,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.read_chunk(64 * 1024)? {
        if out.len() + chunk.len() > cap {
            return Err(StoreError::Integrity(format!(
                "{what}: answer larger than {cap} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The first value of a response header, if it is valid text.
pub fn header<'a, B>(response: &'a http::Response<B>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
