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
use kloset_oci::transport::{ResponseBody, SendFailure, Transport, Upload};
use kloset_oci::StoreError;

use crate::egress::words::{host_of, plain_words};
use crate::EgressClient;
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

/// Method and path, never the query (upload URLs carry session state).
fn describe(method: &http::Method, uri: &http::Uri) -> String {
    format!(
        "{method} {}{}",
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

/// The same split as `src/wasi_transport.rs`: what may succeed if sent again.
fn retryable(code: &ErrorCode) -> bool {
    !matches!(
        code,
        ErrorCode::HttpRequestDenied
            | ErrorCode::HttpRequestUriInvalid
            | ErrorCode::DnsError { .. }
            | ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived { .. }
            | ErrorCode::ConfigurationError
    )
}

fn transport_error(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Transport(format!("{what}: {detail}"))
}

fn failure(what: &str, code: ErrorCode) -> SendFailure {
    SendFailure {
        retryable: retryable(&code),
        error: transport_error(what, plain_words(&code, host_of(what))),
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
    what: String,
}

impl Upload for NativeUpload {
    type Body = NativeBody;

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let sender = self
            .sender
            .as_ref()
            .expect("an unfinished upload has its sender");
        sender
            .blocking_send(Bytes::copy_from_slice(bytes))
            .map_err(|_| transport_error(&self.what, "connection closed"))
    }

    fn finish(mut self) -> Result<http::Response<NativeBody>, StoreError> {
        // Closing the channel ends the body.
        drop(self.sender.take());
        let what = self.what.clone();
        answer(in_tokio(&mut self.response), &what).map_err(|f| f.error)
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
                    let words = plain_words(&code, "the registry");
                    return Err(transport_error("reading a response body", words));
                }
            }
        }
    }
}
