//! A handle's instruments: what the bench and the tests read to judge a
//! handle (requests sent, instances alive, memory reached, blocks held)
//! and the egress the bench's native baseline sends through. Callers that
//! only store and read need none of it; it is kept out of the handle's
//! file and out of the documented face.

use std::sync::atomic::Ordering;

use crate::egress::client::EgressClient;
use crate::store::handle::StoreHandle;
use crate::{Error, Mac, Resource};

#[doc(hidden)]
impl StoreHandle {
    /// Bytes of packfile blocks the handle holds now.
    pub fn read_cache_held(&self) -> u64 {
        self.read_cache.held()
    }

    /// HTTP requests sent so far by all instances of this handle, retries
    /// included.
    pub fn requests(&self) -> u64 {
        self.requests.sent()
    }

    /// Of [`requests`](Self::requests), those that got no answer or a
    /// 429/5xx: the ones the component sends again while its retry budget
    /// lasts.
    pub fn unanswered_or_transient_requests(&self) -> u64 {
        self.requests.unanswered_or_transient()
    }

    /// The latest exchanges of this handle (at most 64), oldest first, as
    /// `METHOD /path status`: what to print when a request count is off.
    pub fn recent_requests(&self) -> Vec<String> {
        self.requests.recent()
    }

    /// The egress this handle's instances send through (pool, allow-list,
    /// timeouts, request counter), for native code that must make the same
    /// requests the same way: the benchmark's baseline.
    pub fn egress_client(&self) -> EgressClient {
        EgressClient::new(self.pool.egress().clone())
    }

    /// [`put`](Self::put), handing the component `digest` at the end
    /// instead of the bytes' own: how the tests show that a host hashing
    /// wrong stores nothing (the registry, or the component, refuses it).
    pub fn put_handing_digest(
        &self,
        kind: Resource,
        mac: &Mac,
        data: &[u8],
        digest: &str,
    ) -> Result<u64, Error> {
        self.put_handing(kind, mac, data, Some(digest))
    }

    /// Component instances of this handle alive now, and how many of them
    /// are idle in the pool.
    pub fn instances(&self) -> (usize, usize) {
        self.pool.counts()
    }

    /// The largest linear memory, in bytes, any instance of this handle
    /// reached (or asked for, when it asked past `max_guest_memory`).
    pub fn peak_guest_memory(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}
