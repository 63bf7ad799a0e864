//! GitHub's container registry (ghcr.io): upload request bodies over
//! 4 MiB are refused with a 416, DELETE through the registry API is not
//! supported, and tag lists come 100 a page with `Link`.

use super::{error, Endpoint, Paging, Request, Rules, Upstream};
use crate::wire::Message;
use std::io;

/// GHCR's rules, with the body limit as a setting.
#[derive(Debug)]
pub struct Ghcr {
    /// The largest upload request body taken: 4 MiB ("the request body is
    /// too large and exceeds the maximum permissible limit of 4.00MiB",
    /// oras-project/rust-oci-client #35 and #37, wasmCloud/wash-archive#268,
    /// ocx-sh/ocx#237).
    pub max_body: usize,
}

impl Default for Ghcr {
    fn default() -> Self {
        Ghcr { max_body: 4 << 20 }
    }
}

impl Ghcr {
    /// "Tag lists: 100 a page with `Link`" (REGISTRY-RULES.md, GHCR). The
    /// source gives no other page size, so a larger `n` still gets 100:
    /// our reading, the stricter one.
    pub const PAGING: Paging = Paging {
        default_page: 100,
        max_page: Some(100),
        sorted: true,
        cursor: "last",
        opaque: false,
    };

    pub fn new() -> Ghcr {
        Ghcr::default()
    }
}

impl Rules for Ghcr {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        let upload = matches!(
            request.route.endpoint,
            Endpoint::UploadStart | Endpoint::Upload(_)
        );
        // "Any upload request whose body exceeds 4 MiB: 416
        // REQUESTED_RANGE_NOT_SATISFIABLE" (rust-oci-client #35/#37,
        // wash-archive#268, ocx#237). A streamed PATCH without a length
        // "may pass: not established": the proxy has the whole body in
        // hand either way and refuses it too, the stricter reading.
        if upload
            && matches!(request.method(), "PATCH" | "PUT" | "POST")
            && request.body().len() > self.max_body
        {
            return Ok(error(
                416,
                "REQUESTED_RANGE_NOT_SATISFIABLE",
                &format!(
                    "the request body is too large and exceeds the maximum permissible limit of {:.2}MiB",
                    self.max_body as f64 / f64::from(1 << 20)
                ),
                None,
            ));
        }
        // "DELETE through the registry API: 405 UNSUPPORTED (GitHub
        // Packages API only)".
        if request.method() == "DELETE" {
            return Ok(error(
                405,
                "UNSUPPORTED",
                "The operation is unsupported.",
                None,
            ));
        }
        if request.route.endpoint == Endpoint::TagList && request.method() == "GET" {
            return Ghcr::PAGING.page(request, upstream);
        }
        upstream.forward(&request.message)
    }
}
