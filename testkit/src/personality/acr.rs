//! Azure Container Registry: write operations are limited per minute by
//! tier; beyond the limit a write gets 429 with `Retry-After`.

use super::{error, locked, Request, Rules, Upstream};
use crate::wire::Message;
use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// ACR's rules; the writes a minute are a setting.
#[derive(Debug)]
pub struct Acr {
    /// Writes a minute: "Write operations a minute by tier (an older doc):
    /// Basic 100, Standard 500, Premium 2,000" (REGISTRY-RULES.md, ACR).
    /// Basic's 100 by default.
    pub writes_per_minute: usize,
    writes: Mutex<VecDeque<Instant>>,
    refused: Mutex<usize>,
}

impl Default for Acr {
    fn default() -> Self {
        Acr::with_writes_per_minute(Acr::BASIC)
    }
}

impl Acr {
    pub const BASIC: usize = 100;
    pub const STANDARD: usize = 500;
    pub const PREMIUM: usize = 2_000;
    const WINDOW: Duration = Duration::from_secs(60);

    pub fn new() -> Acr {
        Acr::default()
    }

    pub fn with_writes_per_minute(writes_per_minute: usize) -> Acr {
        Acr {
            writes_per_minute,
            writes: Mutex::new(VecDeque::new()),
            refused: Mutex::new(0),
        }
    }

    /// Writes refused so far.
    pub fn refused(&self) -> usize {
        *locked(&self.refused)
    }

    /// `None` when one more write fits in the last minute, else the
    /// seconds until one does.
    fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        let mut writes = locked(&self.writes);
        while writes
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Acr::WINDOW)
        {
            writes.pop_front();
        }
        if writes.len() < self.writes_per_minute {
            writes.push_back(now);
            return None;
        }
        let oldest = *writes.front().expect("a full window has writes");
        let wait = Acr::WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

impl Rules for Acr {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        if request.is_write() {
            if let Some(seconds) = self.admit() {
                *locked(&self.refused) += 1;
                // 429 with `Retry-After` beyond the limit; the code and
                // text are ours (the doc names the limits only).
                let mut refusal = error(
                    429,
                    "TOOMANYREQUESTS",
                    "too many requests: write operations a minute exceeded",
                    None,
                );
                refusal
                    .headers
                    .push(("Retry-After".into(), seconds.to_string()));
                return Ok(refusal);
            }
        }
        upstream.forward(&request.message)
    }
}
