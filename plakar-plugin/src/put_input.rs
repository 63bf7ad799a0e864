//! A Put stream's chunks as the blocking `Read` that `StoreHandle::put`
//! consumes.
//!
//! The async side forwards each chunk into a bounded channel; the blocking
//! side reads from it. The end of the object is a message of its own
//! ([`Piece::End`]), never just the channel closing: see [`ChunkReader`]. The bound keeps memory to a few chunks (plakar sends
//! 1 MiB each) however fast plakar sends and however slow the registry is.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

/// Chunks in flight between the gRPC stream and the store: with plakar's
/// 1 MiB chunks, at most this many MiB wait per Put (and one more in the
/// forwarder's hand). Two: one being read, the next arriving. At
/// `-concurrency 8` plakar streams nine packfiles at once while the
/// handle writes four (its put slots): the others wait here, and each
/// chunk more per Put was five MiB more.
pub const CHUNKS_IN_FLIGHT: usize = 2;

/// What the async side hands over.
#[derive(Debug)]
pub enum Piece {
    /// The next bytes of the object.
    Chunk(Bytes),
    /// The client half-closed the stream: the object is complete.
    End,
    /// The stream broke; the object must be abandoned.
    Broken(String),
}

/// A new channel: the sender for the gRPC side, the reader for the store.
pub fn channel() -> (mpsc::Sender<Piece>, ChunkReader) {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    (
        tx,
        ChunkReader {
            rx,
            current: Bytes::new(),
            ended: false,
        },
    )
}

/// Reads the chunks in order. Only an explicit [`Piece::End`] ends the
/// object: a channel closed without it means the gRPC side went away (hyper
/// drops a handler whose client reset the stream), and fails the read like
/// a broken stream, so the store abandons the object instead of storing
/// its first part.
pub struct ChunkReader {
    rx: mpsc::Receiver<Piece>,
    current: Bytes,
    ended: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.ended && !self.current.has_remaining() {
            return Ok(0);
        }
        while !self.current.has_remaining() {
            match self.rx.blocking_recv() {
                Some(Piece::Chunk(chunk)) => self.current = chunk,
                Some(Piece::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                Some(Piece::Broken(why)) => {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, why))
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the client went away before the end of the object",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.remaining());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_closed_without_the_end_is_a_failure_not_the_end() {
        let (tx, mut reader) = channel();
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"first part")))
            .unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"first part");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("went away"), "{err}");
    }

    #[test]
    fn chunks_are_read_in_order_then_the_end() {
        let (tx, mut reader) = channel();
        let feeder = std::thread::spawn(move || {
            for part in [&b"hello "[..], b"", b"world"] {
                tx.blocking_send(Piece::Chunk(Bytes::copy_from_slice(part)))
                    .unwrap();
            }
            tx.blocking_send(Piece::End).unwrap();
        });
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        feeder.join().unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn a_broken_stream_fails_the_read_after_the_bytes_before_it() {
        let (tx, mut reader) = channel();
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"abc")))
            .unwrap();
        tx.blocking_send(Piece::Broken("client went away".into()))
            .unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"abc");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("client went away"));
    }

    #[test]
    fn small_reads_take_a_chunk_in_pieces() {
        let (tx, mut reader) = channel();
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"abcdef")))
            .unwrap();
        tx.blocking_send(Piece::End).unwrap();
        drop(tx);
        let mut two = [0u8; 2];
        assert_eq!(reader.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"cdef");
    }
}
