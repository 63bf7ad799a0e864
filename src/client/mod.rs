//! The OCI distribution API calls the store needs, one method each, over any
//! `Transport`. URLs, headers and status handling follow the OCI distribution
//! spec v1.1 ("Pulling", "Pushing", "Content discovery", "Content management").
//!
//! Layers, from the wire up:
//! - `exchange`: the one loop every request goes through (credentials, a
//!   401's login, retries and their waits within `retry_budget` and the
//!   operation's deadline). No other code of the client sleeps or resends.
//! - `answers`: reading an answer (draining it, its `Location`, an error
//!   document into a typed `StoreError`, hints naming the option to change).
//! - one file per endpoint over them: `manifests`, `blobs`, `uploads`, `tags`.

mod answers;
mod blobs;
mod exchange;
mod manifests;
mod observe;
mod tag_page;
mod tags;
mod uploads;

#[cfg(test)]
mod exchange_tests;
#[cfg(test)]
mod tests;

pub use blobs::Mount;
pub use exchange::{Budget, Operation};
pub use manifests::Removal;
pub use observe::{Observed, TELLING_HEADERS};
pub use tags::{Scanned, MAX_TAGS, MAX_TAG_PAGES, TAG_PAGE_SIZE};
pub use uploads::{parse_received, ChunkAccepted, ChunkFailed, UploadSession, UploadStatus};

use crate::auth::Authenticator;
use crate::error::StoreError;
use crate::retry::{Policy, DEFAULT_POLICY};
use crate::transport::Transport;
use http::{Method, Request};
use std::cell::Cell;
use std::time::Duration;

pub struct RegistryClient<T> {
    transport: T,
    base: String,
    repository: String,
    auth: Authenticator,
    policy: Policy,
    /// How long one operation may take in all (option `deadline`).
    limit: Duration,
    /// When the operation under way must end, on the transport's clock.
    deadline: Cell<Option<Duration>>,
}

impl<T: Transport> RegistryClient<T> {
    pub fn new(transport: T, base: String, repository: String, auth: Authenticator) -> Self {
        RegistryClient {
            transport,
            base,
            repository,
            auth,
            policy: DEFAULT_POLICY,
            limit: crate::config::DEFAULT_DEADLINE,
            deadline: Cell::new(None),
        }
    }

    /// Ends every operation within `limit` instead of the default.
    pub fn with_deadline(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The longest one operation may take (option `deadline`).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The client a store configuration describes: its registry and
    /// repository, credentials and retry policy.
    pub fn for_store(transport: T, config: &crate::config::StoreConfig) -> Self {
        let auth = Authenticator::new(
            &config.base_url(),
            &config.repository,
            config.credentials.clone(),
        );
        RegistryClient::new(
            transport,
            config.base_url(),
            config.repository.clone(),
            auth,
        )
        .with_policy(config.retry)
        .with_deadline(config.deadline)
    }

    /// Retries as `policy` says instead of the default.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    /// Upload `Location` and `Link` targets may be absolute or relative to
    /// the registry; either way they must be on its own origin
    /// (`origin::resolve_on_registry`).
    pub fn resolve(&self, location: &str) -> Result<String, StoreError> {
        crate::origin::resolve_on_registry(&self.base, location)
    }

    fn request(&self, method: Method, url: &str) -> http::request::Builder {
        Request::builder().method(method).uri(url)
    }

    /// `GET /v2/`: is the registry there and speaking the API?
    pub fn ping(&self) -> Result<(), StoreError> {
        let what = "GET /v2/";
        let response = self.send(
            self.request(Method::GET, &format!("{}/v2/", self.base))
                .body(Vec::new()),
        )?;
        if response.status().is_success() {
            self.drain(response, what)
        } else {
            Err(self.fail(response, what))
        }
    }
}
