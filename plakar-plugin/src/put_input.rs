//! A Put stream's chunks as the blocking `Read` that `StoreHandle::put`
//! consumes.
//!
//! The async side forwards each chunk into a bounded channel ([`Feed`]);
//! the blocking side reads from it. The end of the object is a message of
//! its own ([`Piece::End`]), never just the channel closing: see
//! [`ChunkReader`]. The bound keeps memory to a few chunks (plakar sends
//! 1 MiB each) however fast plakar sends and however slow the registry is.
//!
//! Nothing is forwarded before the store reads: a put first waits for one
//! of the handle's put slots, and at `-concurrency 8` plakar streams nine
//! packfiles at once while four are written. A waiting Put then holds its
//! first chunk (1 MiB) and what HTTP/2 flow control lets plakar send ahead
//! (one stream window), not a channel's worth of chunks more.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight between the gRPC stream and the store: with plakar's
/// 1 MiB chunks, at most this many MiB wait per Put being written (and one
/// more in the forwarder's hand). Two: one being read, the next arriving.
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

/// A new channel: the feed for the gRPC side, the reader for the store.
pub fn channel() -> (Feed, ChunkReader) {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let (reading, started) = oneshot::channel();
    (
        Feed {
            tx,
            started: Some(started),
        },
        ChunkReader {
            rx,
            current: Bytes::new(),
            ended: false,
            reading: Some(reading),
        },
    )
}

/// The gRPC side's end of the channel.
pub struct Feed {
    tx: mpsc::Sender<Piece>,
    /// Fires (or is dropped) when the store first reads.
    started: Option<oneshot::Receiver<()>>,
}

impl Feed {
    /// Hands `piece` to the store, once the store has started reading and
    /// has room for it. `false`: the store stopped reading (it failed, and
    /// its error is the answer) or never will.
    pub async fn send(&mut self, piece: Piece) -> bool {
        if let Some(started) = &mut self.started {
            // An error is a reader dropped unread: the send below fails.
            let _ = started.await;
            self.started = None;
        }
        self.tx.send(piece).await.is_ok()
    }
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
    /// Tells the feed the store reads now (it holds its put slot).
    reading: Option<oneshot::Sender<()>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reading) = self.reading.take() {
            let _ = reading.send(());
        }
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
    use std::time::Duration;

    /// Feeds `pieces` from a runtime of its own, as the gRPC side does.
    fn feed(mut feed: Feed, pieces: Vec<Piece>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                for piece in pieces {
                    if !feed.send(piece).await {
                        break;
                    }
                }
            });
        })
    }

    fn chunk(bytes: &'static [u8]) -> Piece {
        Piece::Chunk(Bytes::from_static(bytes))
    }

    #[test]
    fn a_channel_closed_without_the_end_is_a_failure_not_the_end() {
        let (tx, mut reader) = channel();
        let feeder = feed(tx, vec![chunk(b"first part")]);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        feeder.join().unwrap();
        assert_eq!(out, b"first part");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("went away"), "{err}");
    }

    #[test]
    fn chunks_are_read_in_order_then_the_end() {
        let (tx, mut reader) = channel();
        let feeder = feed(
            tx,
            vec![chunk(b"hello "), chunk(b""), chunk(b"world"), Piece::End],
        );
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        feeder.join().unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn a_broken_stream_fails_the_read_after_the_bytes_before_it() {
        let (tx, mut reader) = channel();
        let feeder = feed(
            tx,
            vec![chunk(b"abc"), Piece::Broken("client went away".into())],
        );
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        feeder.join().unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("client went away"));
    }

    #[test]
    fn small_reads_take_a_chunk_in_pieces() {
        let (tx, mut reader) = channel();
        let feeder = feed(tx, vec![chunk(b"abcdef"), Piece::End]);
        let mut two = [0u8; 2];
        assert_eq!(reader.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"ab");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        feeder.join().unwrap();
        assert_eq!(rest, b"cdef");
    }

    #[test]
    fn nothing_is_forwarded_until_the_store_reads() {
        let (mut tx, mut reader) = channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // Waiting for a put slot: the store has not read yet, so not even
        // the first chunk goes into the channel.
        let early = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(50), tx.send(chunk(b"abc"))).await
        });
        assert!(
            early.is_err(),
            "a chunk was forwarded before the store read"
        );
        assert!(reader.rx.is_empty());
        let store = std::thread::spawn(move || {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        });
        runtime.block_on(async {
            assert!(tx.send(chunk(b"abc")).await);
            assert!(tx.send(Piece::End).await);
        });
        assert_eq!(store.join().unwrap().unwrap(), b"abc");
    }

    #[test]
    fn a_store_that_fails_before_reading_frees_the_feed() {
        let (mut tx, reader) = channel();
        // The put failed before its first read (no instance, a refusal):
        // the feed must not wait for ever.
        drop(reader);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(!runtime.block_on(tx.send(chunk(b"abc"))));
    }
}
