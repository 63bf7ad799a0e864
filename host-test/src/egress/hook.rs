//! The component's way out: the wasi:http `send_request` hook.
//!
//! One [`Egress`] serves every instance of a store handle. Each request is
//! checked against the allow-list ([`crate::egress::allow_list`]: the registry for
//! anything, its token realm for token requests, a redirect target for the
//! one GET redirected there), counted, and sent over the [`Wire`] (the
//! pooled client of [`crate::egress::http_wire`], or canned answers in tests); the
//! registry's answer then teaches the list its realm and redirects.
//!
//! A named host given by name is resolved first and refused when any of its
//! addresses is not public (unless it is the registry's own host). The
//! client resolves the name again to connect, so a name whose answers
//! change between the two lookups (DNS rebinding) is not caught; host
//! addresses and `localhost` names are refused without a lookup.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::egress::address;
use crate::egress::allow_list::{AllowList, Refusal};
use crate::egress::counts::RequestCounts;
use crate::egress::http_wire::HttpWire;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Request body chunks wasi-http may buffer between the guest and the client.
/// Two let the guest hash the next MiB while the client writes the last one.
const BODY_BUFFER_CHUNKS: usize = 2;

/// Refusals remembered for [`Egress::refusals`].
const MAX_REFUSALS: usize = 32;

/// Where admitted requests go: the network, or a test's canned answers.
pub(crate) trait Wire: Send + Sync {
    fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> BoxFuture<'_, Result<http::Response<WasiBody>, Error>>;

    /// The addresses of `host`, to check before a request goes to a host
    /// the registry named.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<IpAddr>>>;
}

/// The egress of one store handle; cheap to clone, shared by its instances.
#[derive(Clone)]
pub struct Egress {
    shared: Arc<Shared>,
}

struct Shared {
    wire: Box<dyn Wire>,
    /// Behind a lock because the list grows while requests run: token
    /// realms and redirect targets are learnt from the registry's answers.
    allow: RwLock<AllowList>,
    requests: Arc<RequestCounts>,
    refusals: Mutex<Vec<Refusal>>,
}

impl Egress {
    /// Builds the client from a TLS configuration; `requests` counts every
    /// request sent, and those that failed.
    pub fn new(tls: rustls::ClientConfig, allow: AllowList, requests: Arc<RequestCounts>) -> Self {
        Self::over(Box::new(HttpWire::new(tls)), allow, requests)
    }

    pub(crate) fn over(
        wire: Box<dyn Wire>,
        allow: AllowList,
        requests: Arc<RequestCounts>,
    ) -> Self {
        Egress {
            shared: Arc::new(Shared {
                wire,
                allow: RwLock::new(allow),
                requests,
                refusals: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sends one request as the component's would be sent: through the
    /// allow-list, counted, under `options`' timeouts, over the shared pool.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        self.shared.send(request, options).await
    }

    /// The latest requests refused (at most 32), oldest first.
    #[cfg(test)]
    pub(crate) fn refusals(&self) -> Vec<Refusal> {
        self.shared
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Shared {
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let admitted = self
            .allow
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .check(&request);
        let admitted = admitted.map_err(|refusal| self.refuse(refusal))?;
        if let Some((host, port)) = &admitted.resolve {
            let addresses = self.wire.resolve(host, *port).await.unwrap_or_default();
            // No address, or any that is not public: this host may be made
            // to point anywhere, so it is refused rather than half-trusted.
            if addresses.is_empty() || !addresses.iter().all(|ip| address::is_public(*ip)) {
                return Err(self.refuse(Refusal::PrivateAddress(format!("{host}:{port}"))));
            }
        }
        let method = request.method().clone();
        let uri = request.uri().clone();
        self.requests.count_sent();
        let response = self.wire.send(request, options).await;
        self.requests.count_outcome(
            method.as_str(),
            uri.path(),
            response.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let response = response?;
        // The registry's challenges name its token realm, its redirects the
        // places that serve its blobs: admit those for what they are for.
        self.allow
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .learn_from_answer(
                &method,
                &uri,
                response.status().as_u16(),
                response.headers(),
            );
        Ok(response)
    }

    fn refuse(&self, refusal: Refusal) -> Error {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if refusals.len() == MAX_REFUSALS {
            refusals.remove(0);
        }
        refusals.push(refusal);
        Error::HttpRequestDenied
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

#[cfg(test)]
#[path = "hook_tests.rs"]
mod tests;
