//! An object reader as the stream of Get replies.
//!
//! A blocking task reads the object and sends replies of up to
//! [`REPLY_CHUNK`] bytes into a bounded channel that tonic streams out. Each
//! reply stays far below the 4 MiB message limit of plakar's gRPC client.
//! An object read whole is verified by the component as its end is read, so
//! the task always reads to the end; the verdict becomes the stream's last
//! item (an error status) when it fails.

use std::io::Read;

use bytes::Bytes;
use kloset_host::{store_error_from_io, ObjectReader};
use tokio::sync::mpsc;
use tonic::Status;

use crate::proto::GetResponse;

/// Bytes per Get reply: plakar's own servers send 1 MiB chunks.
pub const REPLY_CHUNK: usize = 1 << 20;

/// Replies queued ahead of the client.
const REPLIES_IN_FLIGHT: usize = 4;

/// The receiving end of the replies, for `ReceiverStream`.
pub type Replies = mpsc::Receiver<Result<GetResponse, Status>>;

/// Starts reading `reader` on a blocking thread; `describe` turns a read
/// failure into the stream's closing status.
pub fn stream_object(
    mut reader: ObjectReader,
    describe: impl FnOnce(kloset_host::Error) -> Status + Send + 'static,
) -> Replies {
    let (tx, rx) = mpsc::channel(REPLIES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        // A panic while reading must not end the stream as if the object
        // were complete (tonic would send status OK after a short object):
        // it becomes the stream's closing error.
        let sender = tx.clone();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            send_object(&mut reader, &tx, describe)
        }));
        if read.is_err() {
            let _ = sender.blocking_send(Err(Status::internal(
                "the plugin failed while reading the object (it panicked; see the plugin's stderr)",
            )));
        }
    });
    rx
}

/// Replies holding `pieces` (a range in order, read already: slices of the
/// handle's blocks), [`REPLY_CHUNK`] bytes at most each. The replies share
/// the pieces' bytes; nothing is copied here.
pub fn stream_pieces(pieces: Vec<Bytes>) -> Replies {
    let replies: Vec<Bytes> = pieces
        .into_iter()
        .flat_map(|piece| {
            (0..piece.len())
                .step_by(REPLY_CHUNK)
                .map(move |start| piece.slice(start..piece.len().min(start + REPLY_CHUNK)))
        })
        .collect();
    let (tx, rx) = mpsc::channel(replies.len().max(1));
    for chunk in replies {
        tx.try_send(Ok(GetResponse { chunk }))
            .expect("the channel holds every reply");
    }
    rx
}

/// Sends the object in replies until its end, a read failure (sent as the
/// closing status) or the client going away.
fn send_object(
    reader: &mut ObjectReader,
    tx: &mpsc::Sender<Result<GetResponse, Status>>,
    describe: impl FnOnce(kloset_host::Error) -> Status,
) {
    let mut buf = vec![0u8; REPLY_CHUNK];
    loop {
        match fill(reader, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let reply = GetResponse {
                    chunk: Bytes::copy_from_slice(&buf[..n]),
                };
                // The client went away: stop reading (dropping the reader
                // gives its instance back to the pool).
                if tx.blocking_send(Ok(reply)).is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = tx.blocking_send(Err(describe(store_error_from_io(err))));
                return;
            }
        }
    }
}

/// Reads until `buf` is full or the object ends. Bytes read before a
/// failure are dropped with it: the failure ends the stream anyway.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_become_replies_of_at_most_one_chunk_each_sharing_their_bytes() {
        let big = Bytes::from(vec![7u8; REPLY_CHUNK + 10]);
        let small = Bytes::from_static(b"tail");
        let mut replies = stream_pieces(vec![big.clone(), Bytes::new(), small]);
        let mut got = Vec::new();
        while let Ok(reply) = replies.try_recv() {
            got.push(reply.unwrap().chunk);
        }
        let lengths: Vec<usize> = got.iter().map(Bytes::len).collect();
        assert_eq!(lengths, [REPLY_CHUNK, 10, 4]);
        assert_eq!(got[0].as_ptr(), big.as_ptr(), "a slice, not a copy");
        assert_eq!(&got[2][..], b"tail");
    }

    #[test]
    fn an_empty_range_is_no_reply() {
        let mut replies = stream_pieces(Vec::new());
        assert!(replies.try_recv().is_err());
    }
}
