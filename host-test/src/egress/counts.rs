//! What the egress counts of the requests it sends: every attempt, and the
//! attempts that failed in a way the component retries (no answer at all,
//! or a 429 or 5xx). Request-count checks subtract the second from the
//! first, so a registry that drops one connection under load shows as a
//! retry, not as an operation that grew a request.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RequestCounts {
    sent: AtomicU64,
    failed: AtomicU64,
}

impl RequestCounts {
    /// Requests sent, retries included.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Requests that got no answer, or an answer the component's `retry`
    /// module sends again after (429, 500, 502, 503, 504).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `status` (`None`: no answer) as failed if the component
    /// would send again after it.
    pub(crate) fn count_outcome(&self, status: Option<u16>) {
        if status.is_none_or(kloset_oci::retry::transient) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_no_answer_and_transient_statuses_as_failed() {
        let counts = RequestCounts::default();
        for status in [None, Some(200), Some(404), Some(401), Some(429), Some(503)] {
            counts.count_sent();
            counts.count_outcome(status);
        }
        assert_eq!(counts.sent(), 6);
        assert_eq!(counts.failed(), 3, "no answer, 429 and 503");
    }
}
