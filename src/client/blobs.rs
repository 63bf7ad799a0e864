//! `/v2/<name>/blobs/<digest>`: HEAD, GET (following redirects) and the
//! mount that checks for a blob and opens an upload in one request.

use super::answers::read_only_hint;
use super::RegistryClient;
use crate::error::StoreError;
use crate::range::Span;
use crate::transport::{header, Transport};
use http::{Method, Response};

/// Blob GETs may redirect to a CDN or object storage; follow a few hops.
const MAX_REDIRECTS: usize = 5;

/// What a mount attempt (`POST ...?mount=<digest>&from=<repo>`) found.
pub enum Mount {
    /// The blob is already in the repository.
    Exists,
    /// It is not; an upload session was opened at this URL.
    Upload(String),
}

impl<T: Transport> RegistryClient<T> {
    /// Checks for a blob and opens an upload in one request: a mount from our
    /// own repository answers 201 when the blob is there, else 202 with an
    /// upload session (OCI distribution spec, "Mounting a blob from another
    /// repository").
    pub fn mount_or_start(&self, digest: &str) -> Result<Mount, StoreError> {
        let what = format!("POST blob upload (mount {digest})");
        let url = self.url(&format!(
            "blobs/uploads/?mount={digest}&from={}",
            self.repository
        ));
        let response = self.send(
            self.request(Method::POST, &url)
                .header("content-length", "0")
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            201 => {
                self.drain(response, &what)?;
                Ok(Mount::Exists)
            }
            202 => {
                let location = self.location_of(&response, &what)?;
                self.drain(response, &what)?;
                Ok(Mount::Upload(location))
            }
            _ => Err(read_only_hint(self.fail(response, &what))),
        }
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: whether the repository has the blob.
    pub fn blob_exists(&self, digest: &str) -> Result<bool, StoreError> {
        let what = format!("HEAD blob {digest}");
        let response = self.send(
            self.request(Method::HEAD, &self.url(&format!("blobs/{digest}")))
                .body(Vec::new()),
        )?;
        match response.status().as_u16() {
            200 => self.drain(response, &what).map(|()| true),
            // A registry whose blobs live in object storage (distribution on
            // S3, GHCR, Docker Hub) redirects a blob HEAD there: it names
            // where the blob is, so the blob exists. The target need not be
            // asked (GHCR's S3 answers a HEAD 403).
            301 | 302 | 303 | 307 | 308 => self.drain(response, &what).map(|()| true),
            404 => self.drain(response, &what).map(|()| false),
            _ => Err(self.fail(response, &what)),
        }
    }

    /// GETs a blob (or a range of it), following redirects. Returns the
    /// successful answer (200 or 206) for the caller to read.
    pub fn get_blob(
        &self,
        digest: &str,
        range: Option<Span>,
    ) -> Result<Response<T::Body>, StoreError> {
        let what = format!("GET blob {digest}");
        let mut url = self.url(&format!("blobs/{digest}"));
        for _ in 0..=MAX_REDIRECTS {
            let mut builder = self.request(Method::GET, &url);
            if let Some(r) = range {
                builder = builder.header("range", r.header());
            }
            let response = self.send(builder.body(Vec::new()))?;
            match response.status().as_u16() {
                200 | 206 => return Ok(response),
                301 | 302 | 303 | 307 | 308 => {
                    // Any host may serve a blob (a CDN, object storage):
                    // requests there carry no credentials (`Authenticator`
                    // keeps `Authorization` on the registry's origin), and
                    // never go down to plain http.
                    let location = header(&response, "location").ok_or_else(|| {
                        StoreError::Protocol(format!(
                            "{what}: redirect {} has no Location",
                            response.status().as_u16()
                        ))
                    })?;
                    url = crate::origin::resolve_redirect(&url, &self.base, location)?;
                    self.drain(response, &what)?;
                }
                _ => return Err(self.fail(response, &what)),
            }
        }
        Err(StoreError::Transport(format!(
            "{what}: more than {MAX_REDIRECTS} redirects"
        )))
    }
}
