//! Timeouts of one egress request, so a stalled registry yields an error
//! instead of a hang.
//!
//! The pooled client hides when it connects, so the guest's three timeouts
//! are applied to what can be seen:
//! - until the response head arrives, a watchdog measures silence: time since
//!   the client last took (or asked for) a piece of the request body. Time in
//!   which the client waits for the *guest* to write more body does not count:
//!   a slow caller of `put` is not a stalled registry. Before the client ever
//!   touches the body (connecting, TLS, a GET's whole exchange) the allowance
//!   is `connect + first_byte`; after, `first_byte`.
//! - the response body gets `between_bytes` for each frame it waits for.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::Instant;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// How often the watchdog looks again while the guest, not the registry, is
/// the one being waited for.
const RECHECK: Duration = Duration::from_secs(1);

/// The three timeouts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Timeouts {
    /// The guest's values, with the defaults for those it did not set.
    pub fn from_options(options: Option<RequestOptions>) -> Self {
        // Those the guest leaves unset are the store's defaults (option
        // `timeout`), as the core's table states them.
        let (connect, first_byte, between_bytes) = kloset_oci::config::default_timeouts();
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(connect),
            first_byte: options.first_byte_timeout.unwrap_or(first_byte),
            between_bytes: options.between_bytes_timeout.unwrap_or(between_bytes),
        }
    }
}

/// What the client last did with the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Not touched yet: still connecting, or the request has no body.
    Untouched,
    /// The client took a frame and is writing it.
    Writing,
    /// The client asked for more and the guest has not written it yet.
    WaitingOnGuest,
    /// The whole body was taken; the response head is due.
    Sent,
}

#[derive(Debug)]
struct Progress {
    started: Instant,
    last: Instant,
    state: BodyState,
}

/// Shared between the watched body (which the client polls) and the watchdog.
#[derive(Debug, Clone)]
pub struct Watch(Arc<Mutex<Progress>>);

impl Watch {
    fn new() -> Self {
        let now = Instant::now();
        Watch(Arc::new(Mutex::new(Progress {
            started: now,
            last: now,
            state: BodyState::Untouched,
        })))
    }

    fn record(&self, state: BodyState) {
        let mut progress = self.0.lock().unwrap_or_else(|e| e.into_inner());
        progress.last = Instant::now();
        progress.state = state;
    }

    /// When the request counts as stalled, and the error it then gets; `None`
    /// while the guest is the one being waited for.
    fn deadline(&self, limits: &Timeouts) -> Option<(Instant, Error)> {
        let progress = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match progress.state {
            BodyState::Untouched => Some((
                progress.started + limits.connect + limits.first_byte,
                Error::ConnectionTimeout,
            )),
            BodyState::Writing => Some((
                progress.last + limits.first_byte,
                Error::ConnectionWriteTimeout,
            )),
            BodyState::WaitingOnGuest => None,
            BodyState::Sent => Some((
                progress.last + limits.first_byte,
                Error::ConnectionReadTimeout,
            )),
        }
    }
}

/// Wraps a request body so the watchdog can see the client's progress.
pub fn watch_body(body: WasiBody) -> (WatchedBody, Watch) {
    let watch = Watch::new();
    (
        WatchedBody {
            inner: body,
            watch: watch.clone(),
        },
        watch,
    )
}

/// A request body that reports every poll to its [`Watch`].
pub struct WatchedBody {
    inner: WasiBody,
    watch: Watch,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        this.watch.record(match &polled {
            Poll::Pending => BodyState::WaitingOnGuest,
            Poll::Ready(Some(Ok(_))) => BodyState::Writing,
            Poll::Ready(Some(Err(_)) | None) => BodyState::Sent,
        });
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Awaits the response head, failing once the request has stalled longer
/// than its limits allow.
pub async fn await_head<F, T>(response: F, watch: &Watch, limits: &Timeouts) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    let mut response = std::pin::pin!(response);
    loop {
        let wake_at = match watch.deadline(limits) {
            Some((deadline, _)) => deadline,
            None => Instant::now() + RECHECK,
        };
        tokio::select! {
            result = &mut response => return result,
            () = tokio::time::sleep_until(wake_at) => {
                // The body may have moved on while we slept: look again.
                if let Some((deadline, error)) = watch.deadline(limits) {
                    if deadline <= Instant::now() {
                        return Err(error);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    // Real time, short limits: tokio's paused clock needs a feature the
    // host does not otherwise build.
    fn limits(millis: u64) -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(millis),
            first_byte: Duration::from_millis(millis),
            between_bytes: Duration::from_millis(millis),
        }
    }

    #[test]
    fn unset_options_take_the_defaults() {
        let set = RequestOptions {
            connect_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let t = Timeouts::from_options(Some(set));
        assert_eq!(t.connect, Duration::from_secs(1));
        // The core's table: `timeout` 120 s, a connect capped at 30 s.
        assert_eq!(t.first_byte, Duration::from_secs(120));
        let unset = Timeouts::from_options(None);
        assert_eq!(unset.between_bytes, Duration::from_secs(120));
        assert_eq!(unset.connect, Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_silent_exchange_times_out() {
        let watch = Watch::new();
        let never = std::future::pending::<Result<(), Error>>();
        let err = await_head(never, &watch, &limits(50)).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionTimeout), "{err:?}");
    }

    #[tokio::test]
    async fn waiting_on_the_guest_does_not_time_out() {
        let watch = Watch::new();
        watch.record(BodyState::WaitingOnGuest);
        let late = async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok::<_, Error>(7)
        };
        assert_eq!(await_head(late, &watch, &limits(50)).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_sent_body_without_answer_is_a_read_timeout() {
        let body = http_body_util::Full::new(Bytes::from_static(b"x"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let (mut body, watch) = watch_body(body);
        while body.frame().await.is_some() {}
        let never = std::future::pending::<Result<(), Error>>();
        let err = await_head(never, &watch, &limits(50)).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
    }
}
