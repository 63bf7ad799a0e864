//! What the egress counts of the requests it sends: every attempt, and the
//! attempts that got no answer or a 429/5xx (the answers the component's
//! `retry` module sends again after, while its budget lasts), with the
//! latest exchanges by method, path and status. Request-count checks use
//! them to tell an operation's own requests from a loaded registry
//! dropping one connection, and to show what was sent when a count is off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Exchanges kept for [`RequestCounts::recent`].
const RECENT: usize = 64;

#[derive(Debug, Default)]
pub struct RequestCounts {
    sent: AtomicU64,
    unanswered_or_transient: AtomicU64,
    recent: Mutex<VecDeque<String>>,
}

impl RequestCounts {
    /// Requests sent, retries included.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Requests that got no answer, or a 429, 500, 502, 503 or 504.
    pub fn unanswered_or_transient(&self) -> u64 {
        self.unanswered_or_transient.load(Ordering::Relaxed)
    }

    /// The latest exchanges (at most 64), oldest first: method, path (no
    /// query: upload URLs carry the registry's state there) and status, or
    /// "no answer".
    pub fn recent(&self) -> Vec<String> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }

    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how the exchange `method path` ended (`None`: no answer).
    pub(crate) fn count_outcome(&self, method: &str, path: &str, status: Option<u16>) {
        if status.is_none_or(kloset_oci::retry::transient) {
            self.unanswered_or_transient.fetch_add(1, Ordering::Relaxed);
        }
        let outcome = status.map_or("no answer".to_string(), |s| s.to_string());
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(format!("{method} {path} {outcome}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_no_answer_and_transient_statuses_apart() {
        let counts = RequestCounts::default();
        for status in [None, Some(200), Some(404), Some(401), Some(429), Some(503)] {
            counts.count_sent();
            counts.count_outcome("GET", "/v2/r/tags/list", status);
        }
        assert_eq!(counts.sent(), 6);
        assert_eq!(counts.unanswered_or_transient(), 3, "no answer, 429, 503");
        assert_eq!(
            counts.recent(),
            [
                "GET /v2/r/tags/list no answer",
                "GET /v2/r/tags/list 200",
                "GET /v2/r/tags/list 404",
                "GET /v2/r/tags/list 401",
                "GET /v2/r/tags/list 429",
                "GET /v2/r/tags/list 503",
            ]
        );
    }

    #[test]
    fn keeps_the_latest_exchanges_only() {
        let counts = RequestCounts::default();
        for i in 0..100 {
            counts.count_sent();
            counts.count_outcome("HEAD", &format!("/v2/r/manifests/t{i}"), Some(404));
        }
        let recent = counts.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0], "HEAD /v2/r/manifests/t36 404");
        assert_eq!(recent[RECENT - 1], "HEAD /v2/r/manifests/t99 404");
    }
}
