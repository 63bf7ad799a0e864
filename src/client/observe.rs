//! One request sent only to see how the registry answers it: its status
//! and the headers that tell what it does (`probe`). Credentials, retries
//! and the deadline apply as to any request; the body is drained unread.

use super::RegistryClient;
use crate::error::StoreError;
use crate::transport::Transport;
use http::Method;

/// Headers a probe reports when a registry sends them.
pub const TELLING_HEADERS: [&str; 9] = [
    "location",
    "range",
    "content-range",
    "link",
    "oci-chunk-min-length",
    "ratelimit-limit",
    "ratelimit-remaining",
    "retry-after",
    "www-authenticate",
];

/// How the registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub status: u16,
    /// The telling headers it sent, lower-case names, values as sent.
    pub headers: Vec<(String, String)>,
    /// The body's first bytes (an error document, a tag page).
    pub body: Vec<u8>,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What of a body an observation keeps.
const KEPT_BODY: usize = 64 * 1024;

impl<T: Transport> RegistryClient<T> {
    /// Sends `method` to `/v2/<repository>/<path>` (or to `/v2/` for an
    /// empty path) with `headers`, and reports the answer. Redirects are
    /// not followed: seeing them is the point.
    pub fn observe(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Observed, StoreError> {
        let url = if path.is_empty() {
            format!("{}/v2/", self.base)
        } else {
            self.url(path)
        };
        let mut builder = self.request(method, &url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut response = self.send(builder.body(Vec::new()))?;
        let status = response.status().as_u16();
        let headers = TELLING_HEADERS
            .iter()
            .flat_map(|name| {
                response
                    .headers()
                    .get_all(*name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(|v| (name.to_string(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut body = Vec::new();
        use crate::transport::ResponseBody;
        while body.len() < KEPT_BODY {
            match response.body_mut().read_chunk(KEPT_BODY - body.len()) {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Observed {
            status,
            headers,
            body,
        })
    }
}
