//! The registry's response body as wasi-http wants it, with the
//! between-bytes timeout applied.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// A response body that fails with `ConnectionReadTimeout` when a frame takes
/// longer than `between_bytes` to arrive.
///
/// The clock runs only while a frame is being waited for: a guest that reads
/// the body late (after other work) must not find it already timed out.
pub struct ResponseBody {
    incoming: Incoming,
    between_bytes: Duration,
    timer: Pin<Box<Sleep>>,
    waiting: bool,
}

impl ResponseBody {
    pub fn new(incoming: Incoming, between_bytes: Duration) -> Self {
        // tokio panics on a zero-length interval elsewhere; keep it positive.
        let between_bytes = between_bytes.max(Duration::from_nanos(1));
        ResponseBody {
            incoming,
            between_bytes,
            timer: Box::pin(tokio::time::sleep(between_bytes)),
            waiting: false,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if !this.waiting {
            this.timer
                .as_mut()
                .reset(Instant::now() + this.between_bytes);
            this.waiting = true;
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|r| r.map_err(body_error)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.waiting = false;
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

fn body_error(err: hyper::Error) -> Error {
    if err.is_timeout() {
        Error::HttpResponseTimeout
    } else if err.is_incomplete_message() {
        Error::HttpResponseIncomplete
    } else {
        Error::Hyper(err)
    }
}
