//! The component's way out: the wasi:http `send_request` hook.
//!
//! One [`Egress`] serves every instance of a store handle. It owns a pooled
//! HTTP/1.1 client (so instances reuse each other's connections), refuses
//! authorities outside the allow-list, applies timeouts and counts requests.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allow_list::AllowList;
use crate::egress_error::client_error;
use crate::response_body::ResponseBody;
use crate::timeouts::{self, Timeouts, WatchedBody};

type HttpsClient = Client<HttpsConnector<HttpConnector>, WatchedBody>;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Idle pooled connections are closed after this; registries and proxies
/// commonly drop idle keep-alive connections after about a minute.
const POOL_IDLE: Duration = Duration::from_secs(50);

/// Request body chunks wasi-http may buffer between the guest and the client.
/// Two let the guest hash the next MiB while the client writes the last one.
const BODY_BUFFER_CHUNKS: usize = 2;

/// The egress of one store handle; cheap to clone, shared by its instances.
#[derive(Clone)]
pub struct Egress {
    shared: Arc<Shared>,
}

struct Shared {
    client: HttpsClient,
    /// Behind a lock because the list will grow while requests run: token
    /// realms and redirect targets are learnt from the registry's answers.
    allow: RwLock<AllowList>,
    requests: Arc<AtomicU64>,
}

impl Egress {
    /// Builds the client from a TLS configuration; `requests` counts every
    /// request sent.
    pub fn new(tls: rustls::ClientConfig, allow: AllowList, requests: Arc<AtomicU64>) -> Self {
        let mut http = HttpConnector::new();
        // The TLS layer wraps this connector, so it must accept https URIs.
        http.enforce_http(false);
        http.set_nodelay(true);
        // The pool hides connects from the per-request watchdog, which then
        // allows connect + first-byte; this caps the TCP connect itself.
        http.set_connect_timeout(Some(timeouts::DEFAULT_CONNECT));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        Egress {
            shared: Arc::new(Shared {
                client,
                allow: RwLock::new(allow),
                requests,
            }),
        }
    }
}

impl Egress {
    /// Sends one request as the component's would be sent: through the
    /// allow-list, counted, under `options`' timeouts, over the shared pool.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        self.shared.send(request, options).await
    }
}

impl Shared {
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let carries_credentials = request.headers().contains_key(http::header::AUTHORIZATION);
        let permitted = self
            .allow
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .permits_request(request.uri(), carries_credentials);
        if !permitted {
            return Err(Error::HttpRequestDenied);
        }
        let uri = request.uri().clone();
        self.requests.fetch_add(1, Ordering::Relaxed);

        let limits = Timeouts::from_options(options);
        let (parts, body) = request.into_parts();
        let (body, watch) = timeouts::watch_body(body);
        let request = http::Request::from_parts(parts, body);
        let pending = async { self.client.request(request).await.map_err(client_error) };
        let response = timeouts::await_head(pending, &watch, &limits).await?;
        // The registry's challenges name its token realm, its redirects the
        // hosts that serve its blobs: admit those for what follows.
        self.allow
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .learn_from_answer(&uri, response.status().as_u16(), response.headers());
        Ok(response
            .map(|incoming| ResponseBody::new(incoming, limits.between_bytes).boxed_unsync()))
    }
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let shared = self.shared.clone();
        Box::new(async move {
            let response = shared.send(request, options).await?;
            // The client's own tasks drive the connection, so there is no
            // separate I/O work to report on.
            let io: IoFuture = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        BODY_BUFFER_CHUNKS
    }
}
