//! kloset-oci's `Transport`, natively, over a host egress (one pooled
//! HTTP/1.1 client, allow-list, timeouts, request counter), driven on the
//! wasmtime-wasi runtime the component's requests run on. Two users: the
//! benchmark's native baseline, over the very egress a `StoreHandle` gives
//! its component instances (so both paths make the same requests over the
//! same connections and differ only in wasm against native code), and the
//! host's own registry client for publishing and pulling the component.
//!
//! It mirrors `src/wasi_transport.rs` where that matters to speed: request
//! bodies go out as `Bytes` in the chunks the caller writes, through a
//! channel as deep as wasi-http's (`p2_outgoing_body_buffer_chunks` + 1,
//! `kloset_host`'s egress sets 2); response bodies come back a frame at a
//! time, cut to what the reader asks, as wasi-http's input stream does.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use kloset_oci::failure::{body_refused, describe, Failure};
use kloset_oci::transport::{ResponseBody, SendFailure, Transport, Upload};
use kloset_oci::StoreError;

use crate::egress::client::EgressClient;
use tokio::sync::mpsc;
use wasmtime_wasi::runtime::{in_tokio, spawn, AbortOnDropJoinHandle};
use wasmtime_wasi_http::{Error as ErrorCode, RequestOptions, WasiBody};

/// Body chunks in flight between the writer and the client: wasi-http's
/// channel holds `buffer_chunks + 1` and the host's egress asks for 2.
const UPLOAD_CHANNEL_DEPTH: usize = 3;

type Answer = Result<http::Response<WasiBody>, ErrorCode>;

pub struct NativeTransport {
    egress: EgressClient,
    started: Instant,
    options: RequestOptions,
}

impl NativeTransport {
    /// A transport with the component's default timeouts.
    pub fn new(egress: EgressClient) -> Self {
        let (connect, first_byte, between_bytes) = kloset_oci::config::default_timeouts();
        Self::with_timeouts(egress, connect, first_byte, between_bytes)
    }

    /// A transport with these connect, first-byte and between-bytes timeouts
    /// (the store option `timeout`, as `StoreConfig::timeouts` gives them).
    pub fn with_timeouts(
        egress: EgressClient,
        connect: Duration,
        first_byte: Duration,
        between_bytes: Duration,
    ) -> Self {
        NativeTransport {
            egress,
            started: Instant::now(),
            options: RequestOptions {
                connect_timeout: Some(connect),
                first_byte_timeout: Some(first_byte),
                between_bytes_timeout: Some(between_bytes),
            },
        }
    }

    /// Sends on the runtime the component's requests run on, as wasi-http's
    /// `handle` does (it spawns the hook's future there).
    fn dispatch(&self, request: http::Request<WasiBody>) -> AbortOnDropJoinHandle<Answer> {
        let egress = self.egress.clone();
        let options = self.options;
        spawn(async move { egress.send(request, Some(options)).await })
    }
}

fn transport_error(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Transport(format!("{what}: {detail}"))
}

fn failure(what: &str, code: ErrorCode) -> SendFailure {
    kind(code).send_failure(what)
}

/// wasmtime-wasi-http's error as the core's [`Failure`], case for case: the
/// words and the retry split are the core's (`src/failure.rs`), shared with
/// the component's wasi:http transport.
pub fn kind(code: ErrorCode) -> Failure {
    use ErrorCode as C;
    match code {
        C::DnsTimeout => Failure::DnsTimeout,
        C::DnsError { rcode, .. } => Failure::DnsError { rcode },
        C::DestinationNotFound => Failure::DestinationNotFound,
        C::DestinationUnavailable => Failure::DestinationUnavailable,
        C::DestinationIpProhibited => Failure::DestinationIpProhibited,
        C::DestinationIpUnroutable => Failure::DestinationIpUnroutable,
        C::ConnectionRefused => Failure::ConnectionRefused,
        C::ConnectionTerminated => Failure::ConnectionTerminated,
        C::ConnectionTimeout => Failure::ConnectionTimeout,
        C::ConnectionReadTimeout => Failure::ConnectionReadTimeout,
        C::ConnectionWriteTimeout => Failure::ConnectionWriteTimeout,
        C::ConnectionLimitReached => Failure::ConnectionLimitReached,
        C::Connect(err) => Failure::Connect(err.to_string()),
        C::TlsProtocolError => Failure::TlsProtocolError,
        C::TlsCertificateError => Failure::TlsCertificateError,
        C::TlsAlertReceived {
            alert_message,
            alert_id,
        } => Failure::TlsAlertReceived {
            message: alert_message,
            id: alert_id,
        },
        C::Tls(err) => Failure::Tls(err.to_string()),
        C::HttpRequestDenied => Failure::HttpRequestDenied,
        C::HttpRequestLengthRequired => Failure::HttpRequestLengthRequired,
        C::HttpRequestBodySize(size) => Failure::HttpRequestBodySize(size),
        C::HttpRequestMethodInvalid => Failure::HttpRequestMethodInvalid,
        C::HttpRequestUriInvalid => Failure::HttpRequestUriInvalid,
        C::HttpRequestUriTooLong => Failure::HttpRequestUriTooLong,
        C::HttpRequestHeaderSectionSize(_) | C::HttpRequestHeaderSize { .. } => {
            Failure::HttpRequestHeaderSize
        }
        C::HttpRequestTrailerSectionSize(_) | C::HttpRequestTrailerSize { .. } => {
            Failure::HttpRequestTrailerSize
        }
        C::HttpResponseIncomplete => Failure::HttpResponseIncomplete,
        C::HttpResponseHeaderSectionSize(_) | C::HttpResponseHeaderSize { .. } => {
            Failure::HttpResponseHeaderSize
        }
        C::HttpResponseBodySize(size) => Failure::HttpResponseBodySize(size),
        C::HttpResponseTrailerSectionSize(_) | C::HttpResponseTrailerSize { .. } => {
            Failure::HttpResponseTrailerSize
        }
        C::HttpResponseTransferCoding(_) => Failure::HttpResponseTransferCoding,
        C::HttpResponseContentCoding(_) => Failure::HttpResponseContentCoding,
        C::HttpResponseTimeout => Failure::HttpResponseTimeout,
        C::HttpUpgradeFailed => Failure::HttpUpgradeFailed,
        C::HttpProtocolError => Failure::HttpProtocolError,
        C::LoopDetected => Failure::LoopDetected,
        C::ConfigurationError => Failure::ConfigurationError,
        C::InternalError(text) => Failure::InternalError(text),
        C::Hyper(err) => Failure::Http(err.to_string()),
        // The type is non-exhaustive: a code added later is said as
        // wasmtime says it, never as its Rust name.
        other => Failure::InternalError(Some(other.to_string())),
    }
}

/// A request with `parts` of `template` and `body`.
fn with_body<B>(template: &http::Request<B>, body: WasiBody) -> http::Request<WasiBody> {
    let mut request = http::Request::new(body);
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

fn answer(joined: Answer, what: &str) -> Result<http::Response<NativeBody>, SendFailure> {
    let response = joined.map_err(|code| failure(what, code))?;
    Ok(response.map(|body| NativeBody {
        body: Some(body),
        pending: Bytes::new(),
    }))
}

impl Transport for NativeTransport {
    type Body = NativeBody;
    type Upload = NativeUpload;

    fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<NativeBody>, SendFailure> {
        let what = describe(request.method(), request.uri());
        // One copy of the body, as the guest's write into wasi-http makes.
        let body = Full::new(Bytes::copy_from_slice(request.body()))
            .map_err(|never| match never {})
            .boxed_unsync();
        let pending = self.dispatch(with_body(request, body));
        answer(in_tokio(pending), &what)
    }

    fn start(&self, request: http::Request<()>) -> Result<NativeUpload, StoreError> {
        let what = describe(request.method(), request.uri());
        let (sender, receiver) = mpsc::channel(UPLOAD_CHANNEL_DEPTH);
        let body = ChannelBody { receiver }.boxed_unsync();
        let response = self.dispatch(with_body(&request, body));
        Ok(NativeUpload {
            sender: Some(sender),
            response,
            settled: None,
            what,
        })
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn random(&self) -> u64 {
        // A fresh randomly keyed hasher per call: jitter needs no more.
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A streamed request body fed by [`NativeUpload::write`].
struct ChannelBody {
    receiver: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A request whose body is still being written. Dropped without `finish`,
/// the body never ends and the request is aborted with its task.
pub struct NativeUpload {
    sender: Option<mpsc::Sender<Bytes>>,
    response: AbortOnDropJoinHandle<Answer>,
    /// The request's fate, once a write found the body closed and waited
    /// for it (a finished task is not polled again).
    settled: Option<Result<http::Response<WasiBody>, Failure>>,
    what: String,
}

impl Upload for NativeUpload {
    type Body = NativeBody;

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let sender = self
            .sender
            .as_ref()
            .expect("an unfinished upload has its sender");
        if sender.blocking_send(Bytes::copy_from_slice(bytes)).is_ok() {
            return Ok(());
        }
        // The body was closed: the request's own fate is the better error
        // (the host denied it, the connection was refused, or the registry
        // answered before taking the whole body), as the component says it.
        // It is settled by now, or within the egress's timeouts.
        let settled = in_tokio(&mut self.response).map_err(kind);
        let error = match &settled {
            Err(failure) => body_refused(&self.what, Err(failure.clone())),
            Ok(response) => body_refused(&self.what, Ok(response.status().as_u16())),
        };
        self.settled = Some(settled);
        Err(error)
    }

    fn finish(mut self) -> Result<http::Response<NativeBody>, StoreError> {
        // Closing the channel ends the body.
        drop(self.sender.take());
        let what = self.what.clone();
        let settled = match self.settled.take() {
            Some(settled) => settled,
            None => in_tokio(&mut self.response).map_err(kind),
        };
        let response = settled.map_err(|failure| failure.error(&what))?;
        Ok(response.map(|body| NativeBody {
            body: Some(body),
            pending: Bytes::new(),
        }))
    }
}

/// A response body, read a frame at a time.
pub struct NativeBody {
    body: Option<WasiBody>,
    pending: Bytes,
}

impl ResponseBody for NativeBody {
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        loop {
            if !self.pending.is_empty() {
                let n = max.max(1).min(self.pending.len());
                return Ok(Some(self.pending.split_to(n).to_vec()));
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match in_tokio(body.frame()) {
                None => {
                    self.body = None;
                    return Ok(None);
                }
                Some(Ok(frame)) => {
                    // Trailers carry nothing a registry client reads.
                    if let Ok(data) = frame.into_data() {
                        self.pending = data;
                    }
                }
                Some(Err(code)) => {
                    let words = kind(code).words("the registry");
                    return Err(transport_error("reading a response body", words));
                }
            }
        }
    }
}
