//! The one loop every request of the client goes through: it puts the
//! credentials on, answers a 401 by logging in once as its challenge asks,
//! and retries what `retry::decide` calls transient, waiting as it says.
//!
//! Every retry and every wait of the client, including those of callers
//! that resend on their own terms (an upload's closing PUT, a chunk, a
//! manifest PUT racing a blob commit), is counted against one `Budget`:
//! the `retries` and `retry_budget` options, clipped to what is left of the
//! operation's `deadline`. So no loop anywhere outlasts them.

use super::answers::outcome_of;
use super::RegistryClient;
use crate::auth::challenge::{parse_challenges, Challenge};
use crate::auth::Prepared;
use crate::error::StoreError;
use crate::retry::{decide, Next, Outcome, Policy};
use crate::transport::{read_to_vec, ResponseBody, SendFailure, Transport};
use http::{Method, Request, Response};
use std::time::Duration;

/// Token answers are small; cap what we buffer of them.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// Marks one store operation: while it lives, every request, retry and
/// body read of the client ends by the operation's deadline. A nested
/// operation never ends later than the one around it; when it ends, the
/// outer deadline is back.
pub struct Operation<'a, T: Transport> {
    client: &'a RegistryClient<T>,
    previous: Option<Duration>,
}

impl<T: Transport> Drop for Operation<'_, T> {
    fn drop(&mut self) {
        self.client.set_deadline(self.previous);
    }
}

/// What one request (with every resend of it) may still spend: the retry
/// policy, its time budget clipped to the operation's deadline, and what
/// was spent so far.
#[derive(Debug, Clone)]
pub struct Budget {
    policy: Policy,
    started: Duration,
    failures: usize,
}

impl Budget {
    /// Retries made so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Whether another retry is allowed by count (time is checked on wait).
    pub fn retries_left(&self) -> bool {
        self.failures < self.policy.retries
    }

    /// Counts a resend that needs no wait (a chunk taken in part).
    pub fn count_retry(&mut self) {
        self.failures += 1;
    }
}

/// A GET's answer: a success read whole, or any other answer unread.
pub(super) enum Fetched<B> {
    Whole(http::response::Parts, Vec<u8>),
    Other(Response<B>),
}

/// A GET's answer: a success as `fetch_with`'s reader made it, or any
/// other answer unread.
pub(super) enum Read<R, B> {
    Success(http::response::Parts, R),
    Other(Response<B>),
}

/// Whether the exchange resends transient failures itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// Up to the policy's retries, within the budget.
    Transient,
    /// One attempt (and one login after a 401): the caller decides.
    Never,
    /// Resent only when no answer came (a reset connection): an answer,
    /// even a 5xx or a 429, is what the caller wants to know.
    Unanswered,
}

impl<T: Transport> RegistryClient<T> {
    /// Starts an operation (see `Operation`) of the full `deadline`.
    pub fn operation(&self) -> Operation<'_, T> {
        self.operation_within(self.limit)
    }

    /// Starts an operation that must end within `limit` (what is left of
    /// a get's `deadline` when its reader is read again, say).
    pub fn operation_within(&self, limit: Duration) -> Operation<'_, T> {
        let previous = self.deadline.get();
        let at = self.transport.now().saturating_add(limit);
        self.set_deadline(Some(previous.map_or(at, |outer| outer.min(at))));
        Operation {
            client: self,
            previous,
        }
    }

    /// Starts an operation that ends at `at` on the transport's clock,
    /// whatever is left of the one around it: a listing's pages run under
    /// a deadline that grows with the tags read (`tags.rs`).
    pub(crate) fn operation_until(&self, at: Duration) -> Operation<'_, T> {
        let previous = self.deadline.get();
        self.set_deadline(Some(at));
        Operation {
            client: self,
            previous,
        }
    }

    /// The transport learns it too: it bounds the writing of request
    /// bodies by it (a registry may take an upload at a trickle, or not
    /// at all).
    fn set_deadline(&self, at: Option<Duration>) {
        self.deadline.set(at);
        self.transport.set_deadline(at);
    }

    /// When the operation under way must end (`None`: no operation).
    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.deadline.get()
    }

    /// Time left before the operation's deadline (`None`: no operation).
    pub(crate) fn time_left(&self) -> Option<Duration> {
        self.deadline
            .get()
            .map(|at| at.saturating_sub(self.transport.now()))
    }

    pub(crate) fn past_deadline(&self, what: &str) -> StoreError {
        StoreError::Transport(format!(
            "{what}: the operation's deadline of {} s passed (option deadline)",
            self.limit.as_secs()
        ))
    }

    /// A fresh budget for one request: no retry may end past
    /// `retry_budget`, nor past the operation's deadline.
    pub fn budget(&self) -> Budget {
        let policy = match self.time_left() {
            Some(left) => Policy {
                budget: self.policy.budget.min(left),
                ..self.policy
            },
            None => self.policy,
        };
        Budget {
            policy,
            started: self.transport.now(),
            failures: 0,
        }
    }

    /// A budget for resuming a body that broke, after `failures`
    /// resumptions without real progress: the `retries` count, and time up
    /// to the operation's deadline. A get's reads are one operation, so its
    /// resumptions are bounded by what is left of the `deadline` rather than
    /// by one request's `retry_budget`.
    pub fn resumption_budget(&self, failures: usize) -> Budget {
        Budget {
            policy: Policy {
                budget: self.time_left().unwrap_or(Duration::ZERO),
                ..self.policy
            },
            started: self.transport.now(),
            failures,
        }
    }

    /// The wait before retrying after `outcome`, if the budget allows one
    /// (`retry::decide`, the 401 aside: the exchange handles it).
    pub fn backoff(&self, budget: &Budget, outcome: Outcome) -> Option<Duration> {
        let spent = self.transport.now().saturating_sub(budget.started);
        let jitter = self.transport.random();
        match decide(
            &budget.policy,
            budget.failures,
            true,
            outcome,
            jitter,
            spent,
        ) {
            Next::RetryAfter(wait) => Some(wait),
            Next::Done | Next::Reauthenticate => None,
        }
    }

    /// Waits before a retry, and counts it.
    pub fn wait(&self, budget: &mut Budget, wait: Duration) {
        self.transport.sleep(wait);
        budget.failures += 1;
    }

    /// Waits `wait` before a resend on the caller's own schedule (not
    /// counted as a retry), if it ends within the budget; `false` if not.
    pub fn wait_within(&self, budget: &Budget, wait: Duration) -> bool {
        let spent = self.transport.now().saturating_sub(budget.started);
        if spent.saturating_add(wait) > budget.policy.budget {
            return false;
        }
        self.transport.sleep(wait);
        true
    }

    /// A wait that is no retry (`create` letting a racing create land):
    /// it, too, ends by the operation's deadline.
    pub fn pause(&self, wait: Duration) -> Result<(), StoreError> {
        match self.time_left() {
            Some(left) if left < wait => Err(self.past_deadline("a pause")),
            _ => {
                self.transport.sleep(wait);
                Ok(())
            }
        }
    }

    /// Sends a request whose body is in memory, with credentials, retrying
    /// transient failures within a fresh budget.
    pub(super) fn send(
        &self,
        request: http::Result<Request<Vec<u8>>>,
    ) -> Result<Response<T::Body>, StoreError> {
        let mut request = request
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        let mut budget = self.budget();
        self.exchange(&mut budget, &mut request, true, Resend::Transient)
            .map_err(|f| f.error)
    }

    /// Sends an idempotent GET and reads a successful answer's body whole
    /// (at most `cap` bytes). A body that breaks midway (a connection cut
    /// after the head, as a registry or proxy under load does) is asked
    /// for again, as a request that got no answer is: within the same
    /// budget of retries and time. Other answers come back unread for the
    /// caller to judge (a 404, an error document).
    pub(super) fn fetch(
        &self,
        request: http::Result<Request<Vec<u8>>>,
        cap: usize,
        what: &str,
    ) -> Result<Fetched<T::Body>, StoreError> {
        Ok(
            match self.fetch_with(request, |body| read_to_vec(body, cap, what))? {
                Read::Success(parts, bytes) => Fetched::Whole(parts, bytes),
                Read::Other(response) => Fetched::Other(response),
            },
        )
    }

    /// `fetch`, with the successful body read by `read` as it arrives (a
    /// tag list too long to hold as bytes is parsed as it streams). `read`
    /// starts over on a fresh body when the last one broke off with a
    /// transport error, so whatever it gathers must begin anew each call.
    pub(super) fn fetch_with<R>(
        &self,
        request: http::Result<Request<Vec<u8>>>,
        mut read: impl FnMut(&mut T::Body) -> Result<R, StoreError>,
    ) -> Result<Read<R, T::Body>, StoreError> {
        let mut request = request
            .map_err(|e| StoreError::InvalidArgument(format!("cannot build request: {e}")))?;
        let mut budget = self.budget();
        loop {
            let response = self
                .exchange(&mut budget, &mut request, true, Resend::Transient)
                .map_err(|f| f.error)?;
            if !response.status().is_success() {
                return Ok(Read::Other(response));
            }
            let (parts, mut body) = response.into_parts();
            match read(&mut body) {
                Ok(value) => return Ok(Read::Success(parts, value)),
                Err(error @ StoreError::Transport(_)) => {
                    match self.backoff(&budget, Outcome::NoAnswer { retryable: true }) {
                        Some(wait) => self.wait(&mut budget, wait),
                        None => return Err(error),
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The loop. A connection that breaks before an answer arrives, or a
    /// 429/5xx answer, is retried when `resend` says so (every request of
    /// ours is safe to repeat: an upload session that already completed
    /// answers a repeat with an error, which `complete_upload` resolves),
    /// and, `with_credentials`, a 401 is answered once by logging in as its
    /// challenge asks. Token requests go without credentials: a 401 to
    /// them is final.
    pub(super) fn exchange(
        &self,
        budget: &mut Budget,
        request: &mut Request<Vec<u8>>,
        with_credentials: bool,
        resend: Resend,
    ) -> Result<Response<T::Body>, SendFailure> {
        let mut reauthenticated = !with_credentials;
        loop {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            if self.time_left() == Some(Duration::ZERO) {
                let what = format!("{method} {}", uri.path());
                return Err(self.past_deadline(&what).into());
            }
            if with_credentials {
                self.authorize(&method, &uri, request.headers_mut())?;
            }
            let mut outcome = self.transport.send(request);
            if let Ok(response) = &mut outcome {
                response.body_mut().set_deadline(self.deadline.get());
            }
            let seen = outcome_of(&outcome);
            if let (Outcome::Answer { status: 401, .. }, false) = (seen, reauthenticated) {
                let response = outcome?;
                if !self
                    .auth
                    .challenged(&uri, &challenges_of(&response), &method)
                {
                    return Ok(response);
                }
                let _ = self.drain(response, "401 answer");
                reauthenticated = true;
                continue;
            }
            let wait = match (resend, seen) {
                (Resend::Transient, _) | (Resend::Unanswered, Outcome::NoAnswer { .. }) => {
                    self.backoff(budget, seen)
                }
                (Resend::Never | Resend::Unanswered, _) => None,
            };
            let Some(wait) = wait else {
                return outcome;
            };
            if let Ok(response) = outcome {
                let _ = self.drain(response, "answer to retry");
            }
            self.wait(budget, wait);
        }
    }

    /// Puts the right `Authorization` on a request, fetching a token first
    /// when one is needed.
    pub(super) fn authorize(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
    ) -> Result<(), StoreError> {
        // A token fetch, a retry by GET instead of POST, one with a
        // narrower scope: a few rounds at most.
        for _ in 0..4 {
            match self
                .auth
                .prepare(method, uri, headers, self.transport.now())?
            {
                Prepared::Ready => return Ok(()),
                Prepared::FetchToken(mut token_request) => {
                    let what = "token request";
                    let mut budget = self.budget();
                    let mut response = self
                        .exchange(&mut budget, &mut token_request, false, Resend::Transient)
                        .map_err(|f| f.error)?;
                    let status = response.status().as_u16();
                    let body = read_to_vec(response.body_mut(), MAX_TOKEN_ANSWER, what)?;
                    if !self
                        .auth
                        .token_answer(status, &body, self.transport.now())?
                    {
                        break;
                    }
                }
            }
        }
        Err(StoreError::Unauthorized(
            "no usable token could be obtained".into(),
        ))
    }
}

pub(super) fn challenges_of<B>(response: &Response<B>) -> Vec<Challenge> {
    parse_challenges(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}
