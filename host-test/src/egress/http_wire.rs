//! The network side of the egress: a pooled HTTP/1.1 client (rustls), with
//! timeouts, reading large bodies ahead of the guest.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::egress::error::client_error;
use crate::egress::response_body::ResponseBody;
use crate::egress::timeouts::{self, Timeouts, WatchedBody};
use crate::egress::{BoxFuture, Wire};

type HttpsClient = Client<HttpsConnector<HttpConnector>, WatchedBody>;

/// Idle pooled connections are closed after this; registries and proxies
/// commonly drop idle keep-alive connections after about a minute.
const POOL_IDLE: Duration = Duration::from_secs(50);

/// Response bodies larger than this (or of unknown length) are read ahead
/// of the guest; smaller ones, such as ranged reads and manifests, are not
/// worth a task each.
const READ_AHEAD_MIN_BYTES: u64 = 1 << 20;

/// Frames (one socket read each, at most about 400 KiB in hyper) read ahead
/// of the guest per response.
const READ_AHEAD_FRAMES: usize = 8;

/// The pooled client every instance of a handle shares.
pub struct HttpWire {
    client: HttpsClient,
}

impl HttpWire {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        let mut http = HttpConnector::new();
        // The TLS layer wraps this connector, so it must accept https URIs.
        http.enforce_http(false);
        http.set_nodelay(true);
        // The pool hides connects from the per-request watchdog, which then
        // allows connect + first-byte; this caps the TCP connect itself.
        http.set_connect_timeout(Some(kloset_oci::config::MAX_CONNECT_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        HttpWire { client }
    }
}

impl Wire for HttpWire {
    fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> BoxFuture<'_, Result<http::Response<WasiBody>, Error>> {
        Box::pin(async move {
            let limits = Timeouts::from_options(options);
            let (parts, body) = request.into_parts();
            let (body, watch) = timeouts::watch_body(body);
            let request = http::Request::from_parts(parts, body);
            let pending = async { self.client.request(request).await.map_err(client_error) };
            let response = timeouts::await_head(pending, &watch, &limits).await?;
            Ok(response.map(|incoming| {
                let body = ResponseBody::new(incoming, limits.between_bytes);
                if body.size_hint().exact().unwrap_or(u64::MAX) > READ_AHEAD_MIN_BYTES {
                    ReadAhead::spawn(body).boxed_unsync()
                } else {
                    body.boxed_unsync()
                }
            }))
        })
    }

    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), port)).await?;
            Ok(addresses.map(|a| a.ip()).collect())
        })
    }
}

/// A response body read by a task of its own, up to [`READ_AHEAD_FRAMES`]
/// ahead of the guest.
///
/// hyper reads a body from the socket only as it is asked for frames, and
/// the guest asks only between its own work: while it hashes a MiB of a
/// whole read, the registry could send no more than the socket buffers
/// hold. Reading ahead lets the transfer go on meanwhile, on another core.
/// The between-bytes timeout still applies to the network: the task polls
/// the body only while it has room, so a guest that reads late is not
/// timed out.
struct ReadAhead {
    frames: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Error>>,
    size: SizeHint,
}

impl ReadAhead {
    fn spawn(mut body: ResponseBody) -> Self {
        let size = body.size_hint();
        let (sender, frames) = tokio::sync::mpsc::channel(READ_AHEAD_FRAMES);
        tokio::spawn(async move {
            loop {
                // Stop as soon as the guest drops the body, rather than at
                // the next frame (which a stalled registry may never send).
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    () = sender.closed() => return,
                };
                let Some(frame) = frame else { return };
                if sender.send(frame).await.is_err() {
                    return;
                }
            }
        });
        ReadAhead { frames, size }
    }
}

impl Body for ReadAhead {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.frames.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.size
    }
}
