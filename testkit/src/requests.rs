//! Counting the requests one operation sends through a store handle, as
//! request-count checks need it: less the attempts that got no answer or a
//! 429/5xx (CI once saw a list of four tags take two requests on a loaded
//! ferro-oci-server, believed to be a dropped keep-alive connection sent
//! again), with the exchanges themselves to print when a count is off.

use std::fmt;

use kloset_host::StoreHandle;

/// More failed attempts than this in one measured operation are not a
/// loaded registry's hiccup: [`requests_of`] fails the test with them.
pub const MOST_RETRIED: u64 = 1;

/// What one operation sent.
#[derive(Debug, Clone)]
pub struct Counted {
    /// Requests, less the failed attempts.
    pub net: u64,
    /// Attempts that got no answer or a 429/5xx.
    pub retried: u64,
    /// The handle's latest exchanges, ending with the operation's (a
    /// read-ahead running beside it may add its own).
    pub exchanges: Vec<String>,
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests", self.net)?;
        if self.retried > 0 {
            write!(f, " (and {} failed attempts)", self.retried)?;
        }
        write!(f, ": {}", self.exchanges.join(", "))
    }
}

/// Runs `op` and counts what it sent through `store`.
///
/// # Panics
/// When more than [`MOST_RETRIED`] attempts failed: an operation whose
/// requests keep failing is a finding, not noise.
pub fn requests_of(store: &StoreHandle, op: impl FnOnce()) -> Counted {
    let (sent, failed) = (store.requests(), store.unanswered_or_transient_requests());
    op();
    let sent = store.requests() - sent;
    let retried = store.unanswered_or_transient_requests() - failed;
    let recent = store.recent_requests();
    let exchanges = recent[recent.len().saturating_sub(sent as usize)..].to_vec();
    let counted = Counted {
        net: sent.saturating_sub(retried),
        retried,
        exchanges,
    };
    assert!(
        retried <= MOST_RETRIED,
        "{retried} attempts failed in one operation: {counted}"
    );
    counted
}
