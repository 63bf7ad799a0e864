//! A handle's egress, for native code: the benchmark's baseline sends the
//! very requests the component sends, over the same pooled connections,
//! allow-list, timeouts and request counter, so the two differ only in
//! where the protocol code runs (wasm or native).

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::egress::Egress;

/// The egress a [`crate::StoreHandle`] gives its component instances.
#[derive(Clone)]
pub struct EgressClient {
    egress: Egress,
}

impl std::fmt::Debug for EgressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressClient").finish_non_exhaustive()
    }
}

impl EgressClient {
    pub(crate) fn new(egress: Egress) -> Self {
        EgressClient { egress }
    }

    /// Sends one request. Run it on wasmtime-wasi's runtime
    /// (`wasmtime_wasi::runtime::spawn` or `in_tokio`), where the component's
    /// requests run too.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        self.egress.send(request, options).await
    }
}
