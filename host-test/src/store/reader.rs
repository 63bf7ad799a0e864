//! Streaming an object out of the component.

use std::io::{self, Read};

use wasmtime::component::ResourceAny;

use crate::plugin::pool::Lease;
use crate::{ContractError, Error};

/// Bytes asked of the component per `reader.read` call. The component fills
/// them from several response frames (about 300 KiB each from a local
/// registry), so this is one call per MiB. Measured here (64 MiB verified
/// gets): 4 MiB was slower (0.52 to 0.59 of the guest's sha256 speed,
/// against 0.81 to 0.92) until the egress read ahead, then no better.
pub(crate) const READ_CHUNK: u32 = 1 << 20;

/// An object (or a range of it) being read. Holds one instance of the
/// handle's pool until dropped.
///
/// Errors are `io::Error`s wrapping a [`Error`]; get it back with
/// [`store_error_from_io`] (or `into_inner` and `downcast`). An object read
/// whole is verified by the component as it ends, so read to the end.
pub struct ObjectReader {
    lease: Lease,
    reader: Option<ResourceAny>,
    chunk: Vec<u8>,
    pos: usize,
    state: ReadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    Done,
    Failed,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ObjectReader {
    pub(crate) fn new(lease: Lease, reader: ResourceAny) -> Self {
        ObjectReader {
            lease,
            reader: Some(reader),
            chunk: Vec::new(),
            pos: 0,
            state: ReadState::Open,
        }
    }

    /// Fetches the next chunk; `Ok(false)` at the end.
    fn refill(&mut self) -> Result<bool, Error> {
        let reader = self.reader.expect("an open reader holds its resource");
        let chunk = self.lease.try_call(|i| {
            let (api, store, _) = i.parts();
            api.reader().call_read(store, reader, READ_CHUNK)
        })?;
        if chunk.is_empty() {
            return Ok(false);
        }
        if chunk.len() > READ_CHUNK as usize {
            return Err(Error::BrokenContract(format!(
                "a read of at most {READ_CHUNK} bytes returned {}",
                chunk.len()
            ))
            .into());
        }
        self.chunk = chunk;
        self.pos = 0;
        Ok(true)
    }

    /// Makes the next chunk current once the last is used up; `Ok(false)`
    /// at the end. A failure sticks, so that a retry never looks like a
    /// clean end of the object.
    fn next_chunk(&mut self) -> io::Result<bool> {
        match self.state {
            ReadState::Done => Ok(false),
            ReadState::Failed => Err(io::Error::other("the object reader failed earlier")),
            ReadState::Open => match self.refill() {
                Ok(true) => Ok(true),
                Ok(false) => {
                    self.state = ReadState::Done;
                    Ok(false)
                }
                Err(err) => {
                    self.state = ReadState::Failed;
                    Err(io_error(err))
                }
            },
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.chunk.len() && !self.next_chunk()? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    /// Appends each chunk as the component hands it over. The default
    /// zero-fills the buffer's spare room before each `read` (a pass over
    /// every byte of a whole object, most of them on fresh pages) and copies
    /// every chunk; this moves the first one in when `buf` starts empty.
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = buf.len();
        loop {
            if self.pos < self.chunk.len() {
                if buf.is_empty() && self.pos == 0 && buf.capacity() < self.chunk.len() {
                    *buf = std::mem::take(&mut self.chunk);
                } else {
                    buf.extend_from_slice(&self.chunk[self.pos..]);
                }
                self.chunk.clear();
                self.pos = 0;
            }
            if !self.next_chunk()? {
                return Ok(buf.len() - start);
            }
        }
    }
}

impl ObjectReader {
    /// [`Read::read_to_end`], stopping once `buf` would pass `limit` bytes
    /// read: `Ok(false)` then, with at most one chunk past the limit read
    /// and none of it kept.
    pub(crate) fn read_to_end_within(&mut self, buf: &mut Vec<u8>, limit: u64) -> io::Result<bool> {
        let start = buf.len();
        loop {
            let pending = self.chunk.len() - self.pos;
            if (buf.len() - start + pending) as u64 > limit {
                return Ok(false);
            }
            if pending > 0 {
                if buf.is_empty() && self.pos == 0 && buf.capacity() < self.chunk.len() {
                    *buf = std::mem::take(&mut self.chunk);
                } else {
                    buf.extend_from_slice(&self.chunk[self.pos..]);
                }
                self.chunk.clear();
                self.pos = 0;
            }
            if !self.next_chunk()? {
                return Ok(true);
            }
        }
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        // Drop the guest's reader before the instance goes back to the pool.
        if let Some(reader) = self.reader.take() {
            if !self.lease.is_poisoned() {
                let _ = self.lease.call(|i| reader.resource_drop(i.parts().1));
            }
        }
    }
}

fn io_error(err: Error) -> io::Error {
    let kind = match &err {
        Error::Contract(ContractError::NotFound(_)) => io::ErrorKind::NotFound,
        Error::Contract(ContractError::Integrity(_)) => io::ErrorKind::InvalidData,
        Error::Contract(ContractError::InvalidArgument(_)) => io::ErrorKind::InvalidInput,
        Error::Contract(ContractError::Unauthorized(_))
        | Error::Contract(ContractError::Denied(_)) => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, err)
}

/// Recovers the [`Error`] inside an error of an [`ObjectReader`]; other
/// I/O errors become [`Error::Io`].
pub fn store_error_from_io(err: io::Error) -> Error {
    if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = err.into_inner().expect("checked above");
        return *inner.downcast::<Error>().expect("checked above");
    }
    Error::Io {
        context: "reading an object".into(),
        source: err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_survive_the_io_round_trip() {
        let io = io_error(Error::Contract(ContractError::Integrity(
            "digest mismatch".into(),
        )));
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        match store_error_from_io(io) {
            Error::Contract(ContractError::Integrity(msg)) => {
                assert_eq!(msg, "digest mismatch")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn foreign_io_errors_become_host_errors() {
        let err = store_error_from_io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(err, Error::Io { .. }));
    }
}
