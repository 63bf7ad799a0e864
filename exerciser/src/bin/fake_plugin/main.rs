//! exerciser-fake-plugin: a small Plakar storage plugin keeping objects
//! in a folder (location `fake:///DIR`), written for the exerciser's own
//! tests. Right by default; the option `flaw` makes it wrong on purpose,
//! so the tests can see the exerciser name the check and show the proof:
//!
//! - `flaw=wrong-range`: a ranged Get answers from one byte too far;
//! - `flaw=lists-deleted`: List still names deleted keys;
//! - `flaw=second-create`: Create overwrites an existing repository;
//! - `flaw=crash-missing`: Get of a missing key exits (status 3);
//! - `flaw=hang-missing`: Get of a missing key is never answered;
//! - `flaw=endless-get`: a Get's right bytes are followed by 1 MiB
//!   chunks of zeros without end (`endless-empty-get`: empty ones);
//! - `flaw=init-once`: Init is refused in every process but the first.
//!
//! Objects are written to a temporary file and renamed into place when
//! their Put ends, so a Put cut short leaves nothing.

mod store;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use kloset_exerciser::proto::store_server::StoreServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;
use tonic::transport::Server;

#[tokio::main]
async fn main() {
    let incoming = tokio_stream::StreamExt::chain(
        tokio_stream::once(Ok::<_, io::Error>(Stdio {
            input: tokio::io::stdin(),
            output: tokio::io::stdout(),
        })),
        // A stream that ends would stop the server with its connection.
        tokio_stream::pending(),
    );
    let served = Server::builder()
        .add_service(
            StoreServer::new(store::FakeStore::default()).max_decoding_message_size(8 << 20),
        )
        .serve_with_incoming(incoming)
        .await;
    if let Err(e) = served {
        eprintln!("exerciser-fake-plugin: {e}");
        std::process::exit(1);
    }
}

/// stdin and stdout as one connection; the end of stdin ends the process.
struct Stdio {
    input: tokio::io::Stdin,
    output: tokio::io::Stdout,
}

impl Connected for Stdio {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Stdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.input).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if buf.filled().len() == before {
                // plakar has gone: so do we.
                std::process::exit(0);
            }
        }
        polled
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.output).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_shutdown(cx)
    }
}
