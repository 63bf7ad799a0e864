//! `Transport` over wasi:http (the `wasi` crate's raw bindings). The only
//! module that sends anything.
//!
//! wasi:http rules this follows (FIELD-NOTES section 4): call
//! `outgoing-handler.handle` before writing a body (writing more than the
//! host buffers first deadlocks); write in `check-write`-sized pieces, never
//! `blocking-write-and-flush` (4 KiB at most); flush once at the end, and take
//! `closed` from that final flush as success once every byte was written.
//!
//! Every wait on the registry (room to write a body, a flush, an answer)
//! is a poll of its pollable together with a timer at the operation's
//! deadline: wasi:http's timeouts bound the wait for an answer's bytes,
//! but none bounds a body the registry reads at a trickle or not at all.

use crate::error::StoreError;
use crate::failure::{body_refused, describe, Failure};
use crate::transport::{ResponseBody, SendFailure, Transport, Upload};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Sends through wasi:http with the store's timeouts (option `timeout`).
pub struct WasiTransport {
    /// Connect, first-byte and between-bytes timeouts, in nanoseconds.
    timeouts: [u64; 3],
    /// The operation's deadline (see `Deadline`), shared with the uploads
    /// under way.
    deadline: Deadline,
}

/// When the operation under way must end (monotonic clock, nanoseconds;
/// `None`: no operation). Shared, as an upload started in one operation is
/// written in later ones.
type Deadline = Rc<Cell<Option<u64>>>;

impl WasiTransport {
    pub fn new(connect: Duration, first_byte: Duration, between_bytes: Duration) -> Self {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        WasiTransport {
            timeouts: [ns(connect), ns(first_byte), ns(between_bytes)],
            deadline: Deadline::default(),
        }
    }

    /// Timeouts so that a stalled registry fails instead of hanging. Hosts
    /// that refuse to set them (some do) keep their own.
    fn options(&self) -> RequestOptions {
        let [connect, first_byte, between_bytes] = self.timeouts;
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(connect));
        let _ = options.set_first_byte_timeout(Some(first_byte));
        let _ = options.set_between_bytes_timeout(Some(between_bytes));
        options
    }
}

/// A response body. Fields drop in order: the stream before its body, the
/// body before its response, as wasi:http requires of child resources.
pub struct WasiBody {
    /// When reading must stop (monotonic clock, nanoseconds): see
    /// `ResponseBody::set_deadline`.
    deadline: Option<u64>,
    stream: Option<InputStream>,
    _body: Option<IncomingBody>,
    _response: IncomingResponse,
}

/// A request whose body is still being written.
pub struct WasiUpload {
    stream: Option<OutputStream>,
    body: Option<OutgoingBody>,
    future: FutureIncomingResponse,
    what: String,
    deadline: Deadline,
}

fn transport_error(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Transport(format!("{what}: {detail}"))
}

fn error_code(what: &str, code: ErrorCode) -> StoreError {
    kind(code).error(what)
}

fn failure(what: &str, code: ErrorCode) -> SendFailure {
    kind(code).send_failure(what)
}

/// wasi:http's `error-code` as the core's [`Failure`], case for case: the
/// words and the retry split are `failure.rs`'s, shared with the host's
/// native transport.
fn kind(code: ErrorCode) -> Failure {
    use ErrorCode as C;
    match code {
        C::DnsTimeout => Failure::DnsTimeout,
        C::DnsError(payload) => Failure::DnsError {
            rcode: payload.rcode,
        },
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
        C::TlsProtocolError => Failure::TlsProtocolError,
        C::TlsCertificateError => Failure::TlsCertificateError,
        C::TlsAlertReceived(alert) => Failure::TlsAlertReceived {
            message: alert.alert_message,
            id: alert.alert_id,
        },
        C::HttpRequestDenied => Failure::HttpRequestDenied,
        C::HttpRequestLengthRequired => Failure::HttpRequestLengthRequired,
        C::HttpRequestBodySize(size) => Failure::HttpRequestBodySize(size),
        C::HttpRequestMethodInvalid => Failure::HttpRequestMethodInvalid,
        C::HttpRequestUriInvalid => Failure::HttpRequestUriInvalid,
        C::HttpRequestUriTooLong => Failure::HttpRequestUriTooLong,
        C::HttpRequestHeaderSectionSize(_) | C::HttpRequestHeaderSize(_) => {
            Failure::HttpRequestHeaderSize
        }
        C::HttpRequestTrailerSectionSize(_) | C::HttpRequestTrailerSize(_) => {
            Failure::HttpRequestTrailerSize
        }
        C::HttpResponseIncomplete => Failure::HttpResponseIncomplete,
        C::HttpResponseHeaderSectionSize(_) | C::HttpResponseHeaderSize(_) => {
            Failure::HttpResponseHeaderSize
        }
        C::HttpResponseBodySize(size) => Failure::HttpResponseBodySize(size),
        C::HttpResponseTrailerSectionSize(_) | C::HttpResponseTrailerSize(_) => {
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
    }
}

fn build(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    what: &str,
) -> Result<OutgoingRequest, StoreError> {
    let fields = Fields::new();
    for (name, value) in headers.iter() {
        fields
            .append(name.as_str(), value.as_bytes())
            .map_err(|e| transport_error(what, format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        other => {
            return Err(transport_error(
                what,
                format!("unsupported scheme {other:?}"),
            ))
        }
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    request
        .set_method(&method)
        .map_err(|()| transport_error(what, "method refused"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| transport_error(what, "scheme refused"))?;
    request
        .set_authority(uri.authority().map(|a| a.as_str()))
        .map_err(|()| transport_error(what, "authority refused"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| transport_error(what, "path refused"))?;
    Ok(request)
}

/// Waits until `ready` is, or until `deadline` (nanoseconds on the
/// monotonic clock); `false` when the deadline came first.
fn ready_by(ready: &Pollable, deadline: Option<u64>) -> bool {
    let Some(at) = deadline else {
        ready.block();
        return true;
    };
    if !ready.ready() {
        let timer = wasi::clocks::monotonic_clock::subscribe_instant(at);
        wasi::io::poll::poll(&[ready, &timer]);
    }
    ready.ready()
}

/// The error for a wait on the registry that the deadline ended.
fn past_deadline(what: &str, waiting: &str) -> StoreError {
    StoreError::Transport(format!(
        "{what}: the operation's deadline passed while {waiting} (option deadline)"
    ))
}

const TAKING_BODY: &str = "the registry was still taking the request body";

fn write_all(
    stream: &OutputStream,
    mut bytes: &[u8],
    what: &str,
    deadline: Option<u64>,
) -> Result<(), StoreError> {
    while !bytes.is_empty() {
        let permit = stream.check_write().map_err(|e| stream_error(what, e))?;
        if permit == 0 {
            if !ready_by(&stream.subscribe(), deadline) {
                return Err(past_deadline(what, TAKING_BODY));
            }
            continue;
        }
        let n = bytes.len().min(permit as usize);
        stream
            .write(&bytes[..n])
            .map_err(|e| stream_error(what, e))?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// `blocking-flush`, by the deadline: a flush is done when the stream
/// takes writes again.
fn flush(stream: &OutputStream, what: &str, deadline: Option<u64>) -> Result<(), StoreError> {
    let flushed = stream.flush().and_then(|()| {
        if !ready_by(&stream.subscribe(), deadline) {
            return Ok(false);
        }
        stream.check_write().map(|_| true)
    });
    match flushed {
        Ok(true) | Err(StreamError::Closed) => Ok(()),
        Ok(false) => Err(past_deadline(what, TAKING_BODY)),
        Err(e) => Err(stream_error(what, e)),
    }
}

fn stream_error(what: &str, error: StreamError) -> StoreError {
    match error {
        StreamError::Closed => StoreError::Transport(format!("{what}: connection closed")),
        StreamError::LastOperationFailed(e) => {
            // An HTTP failure mid-body (a connection cut): its code in words.
            if let Some(code) = wasi::http::types::http_error_code(&e) {
                return error_code(what, code);
            }
            // The host's debug text can carry a whole backtrace: keep its
            // first line.
            let detail = e.to_debug_string();
            let first = detail.lines().next().unwrap_or("stream error").to_string();
            StoreError::Transport(format!("{what}: {first}"))
        }
    }
}

fn wait(
    future: &FutureIncomingResponse,
    what: &str,
    deadline: Option<u64>,
) -> Result<http::Response<WasiBody>, SendFailure> {
    if !ready_by(&future.subscribe(), deadline) {
        return Err(past_deadline(what, "waiting for the registry's answer").into());
    }
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(failure(what, code)),
        Some(Err(())) | None => return Err(transport_error(what, "response already taken").into()),
    };
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = response
        .consume()
        .map_err(|()| transport_error(what, "body already taken"))?;
    let stream = body
        .stream()
        .map_err(|()| transport_error(what, "body stream already taken"))?;
    let body = WasiBody {
        deadline: None,
        stream: Some(stream),
        _body: Some(body),
        _response: response,
    };
    Ok(builder
        .body(body)
        .map_err(|e| transport_error(what, format!("bad response head: {e}")))?)
}

impl Transport for WasiTransport {
    type Body = WasiBody;
    type Upload = WasiUpload;

    fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<WasiBody>, SendFailure> {
        let what = describe(request.method(), request.uri());
        let deadline = self.deadline.get();
        let bytes = request.body();
        let request = build(request.method(), request.uri(), request.headers(), &what)?;
        let body = request
            .body()
            .map_err(|()| transport_error(&what, "body already taken"))?;
        let future = outgoing_handler::handle(request, Some(self.options()))
            .map_err(|c| failure(&what, c))?;
        if !bytes.is_empty() {
            let stream = body
                .write()
                .map_err(|()| transport_error(&what, "body stream already taken"))?;
            // A write that fails means the connection broke under us.
            let broken = |error| SendFailure {
                retryable: true,
                error,
            };
            write_all(&stream, bytes, &what, deadline).map_err(broken)?;
            flush(&stream, &what, deadline).map_err(broken)?;
        }
        OutgoingBody::finish(body, None).map_err(|c| failure(&what, c))?;
        wait(&future, &what, deadline)
    }

    fn start(&self, request: http::Request<()>) -> Result<WasiUpload, StoreError> {
        let what = describe(request.method(), request.uri());
        let request = build(request.method(), request.uri(), request.headers(), &what)?;
        let body = request
            .body()
            .map_err(|()| transport_error(&what, "body already taken"))?;
        let future = outgoing_handler::handle(request, Some(self.options()))
            .map_err(|c| error_code(&what, c))?;
        let stream = body
            .write()
            .map_err(|()| transport_error(&what, "body stream already taken"))?;
        Ok(WasiUpload {
            stream: Some(stream),
            body: Some(body),
            future,
            what,
            deadline: Rc::clone(&self.deadline),
        })
    }

    fn set_deadline(&self, at: Option<Duration>) {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.deadline.set(at.map(ns));
    }

    fn sleep(&self, duration: std::time::Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
    }

    fn random(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(wasi::clocks::monotonic_clock::now())
    }
}

impl Upload for WasiUpload {
    type Body = WasiBody;

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let stream = self
            .stream
            .as_ref()
            .expect("an unfinished upload has its stream");
        let deadline = self.deadline.get();
        write_all(stream, bytes, &self.what, deadline).map_err(|broken| {
            // The body stream only says it closed. The request's own fate
            // is the better error: the host denied it, the connection was
            // refused, or the server answered (a 413, say) before taking the
            // whole body. It is settled by now, or within the timeouts
            // (and the deadline, which may also be what ended the write).
            if !ready_by(&self.future.subscribe(), deadline) {
                return broken;
            }
            match self.future.get() {
                Some(Ok(Err(code))) => body_refused(&self.what, Err(kind(code))),
                Some(Ok(Ok(response))) => body_refused(&self.what, Ok(response.status())),
                _ => broken,
            }
        })
    }

    fn finish(mut self) -> Result<http::Response<WasiBody>, StoreError> {
        let deadline = self.deadline.get();
        if let Some(stream) = self.stream.take() {
            flush(&stream, &self.what, deadline)?;
        }
        let body = self.body.take().expect("an unfinished upload has its body");
        OutgoingBody::finish(body, None).map_err(|c| error_code(&self.what, c))?;
        wait(&self.future, &self.what, deadline).map_err(|f| f.error)
    }
}

impl ResponseBody for WasiBody {
    fn set_deadline(&mut self, at: Option<Duration>) {
        self.deadline = at.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Fills up to `max` bytes from as many body frames as it takes, or to
    /// the end of the body. A frame is what one socket read gave the host
    /// (often 16 to 64 KiB); handing frames out one by one would cost the
    /// host a `reader.read` call, with its boundary crossing, per frame.
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let mut filled: Option<Vec<u8>> = None;
        while let Some(stream) = &self.stream {
            let have = filled.as_ref().map_or(0, Vec::len);
            if have >= max {
                break;
            }
            // Each read waits at most the between-bytes timeout; a body
            // drip-fed just under it ends here, at the operation's deadline.
            if self
                .deadline
                .is_some_and(|at| wasi::clocks::monotonic_clock::now() >= at)
            {
                self.stream = None;
                return Err(StoreError::Transport(
                    "reading a response body: the operation's deadline passed while the \
                     registry was still sending (option deadline)"
                        .into(),
                ));
            }
            // Wait for bytes no later than the deadline: a blocking read
            // would wait the host's whole between-bytes timeout (or for
            // ever in a host without one), past the deadline.
            if !ready_by(&stream.subscribe(), self.deadline) {
                self.stream = None;
                return Err(StoreError::Transport(
                    "reading a response body: the operation's deadline passed while the \
                     registry was still sending (option deadline)"
                        .into(),
                ));
            }
            match stream.read((max - have) as u64) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => match &mut filled {
                    None => filled = Some(bytes),
                    Some(out) => {
                        // Grown once to `max`, not by doubling per frame.
                        out.reserve_exact(max - have);
                        out.extend_from_slice(&bytes);
                    }
                },
                // A failed stream is closed for good: bytes gathered before
                // are dropped with the error, never handed out.
                Err(StreamError::Closed) => self.stream = None,
                Err(e) => return Err(stream_error("reading a response body", e)),
            }
        }
        Ok(filled)
    }
}
