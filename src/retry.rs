//! The decision after each attempt of a request, kept pure so it is tested
//! without sleeping or sending: the client's send loop carries it out.

use std::time::Duration;

/// How hard to try. Registries drop connections, answer 5xx while they
/// restart or scale, and 429 when a client goes too fast (Docker Hub, GHCR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// The first back-off; it doubles each time, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// A `Retry-After` longer than this fails at once (`rate-limited`)
    /// rather than stalling a backup. A minute: the window of per-minute
    /// limits (ACR's writes a minute, Artifact Registry's quotas).
    pub max_retry_after: Duration,
    /// The most one request may spend, its retries and waits included: no
    /// retry starts that would end past it.
    pub budget: Duration,
}

pub const DEFAULT_POLICY: Policy = Policy {
    retries: 4,
    base: Duration::from_millis(100),
    cap: Duration::from_secs(5),
    max_retry_after: Duration::from_secs(60),
    budget: Duration::from_secs(120),
};

/// The most resends of one request answered 429: about three minutes of
/// waits at the back-off's cap, past any `retry_budget` default.
pub const MAX_RATE_LIMITED: usize = 40;

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answer {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer; `retryable` as the transport judged it.
    NoAnswer { retryable: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Hand the outcome to the caller.
    Done,
    /// Wait, then send again.
    RetryAfter(Duration),
    /// A 401: learn from its challenge and send again, once.
    Reauthenticate,
}

/// Statuses worth another try: the registry (or a proxy before it) is
/// overloaded, restarting or rate-limiting. Public for the host, which
/// counts these attempts apart from an operation's own requests.
pub fn transient(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// `failures`: retries made so far; `jitter`: any random number, spreading
/// clients that failed together so they do not retry together; `spent`:
/// time since the request's first attempt began.
pub fn decide(
    policy: &Policy,
    failures: usize,
    reauthenticated: bool,
    outcome: Outcome,
    jitter: u64,
    spent: Duration,
) -> Next {
    // A 429 is a registry asking to slow down, not failing: it is waited
    // out for as long as the request's time budget lasts, whatever the
    // count (ECR's 10 manifest PUTs a second, ACR's writes a minute, Docker
    // Hub's pulls), each wait growing to `cap` or as `Retry-After` says.
    // Never faster than the back-off, whatever `Retry-After` says (a `0`
    // answered again and again would be resent at once), and at most
    // `MAX_RATE_LIMITED` times.
    let rate_limited = matches!(outcome, Outcome::Answer { status: 429, .. });
    let retries_left = failures < policy.retries || rate_limited && failures < MAX_RATE_LIMITED;
    let wait = match outcome {
        Outcome::NoAnswer { retryable: true } if retries_left => backoff(policy, failures, jitter),
        Outcome::Answer {
            status,
            retry_after,
        } if transient(status) && retries_left => match retry_after {
            Some(wait) if wait > policy.max_retry_after => return Next::Done,
            Some(wait) if status == 429 => wait.max(backoff(policy, failures, jitter)),
            Some(wait) => wait,
            None => backoff(policy, failures, jitter),
        },
        Outcome::Answer { status: 401, .. } if !reauthenticated => return Next::Reauthenticate,
        _ => return Next::Done,
    };
    if spent + wait > policy.budget {
        Next::Done
    } else {
        Next::RetryAfter(wait)
    }
}

/// Exponential back-off with "equal jitter": half fixed, half random.
fn backoff(policy: &Policy, failures: usize, jitter: u64) -> Duration {
    let exp = policy
        .base
        .saturating_mul(1u32 << failures.min(16))
        .min(policy.cap);
    let half = exp / 2;
    let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_micros(jitter % spread)
}

/// `Retry-After` as delta-seconds. The HTTP-date form is read as "no hint"
/// (the guest has no trustworthy wall clock), so the back-off applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = DEFAULT_POLICY;

    /// A decision early in a request's life, well within its budget.
    fn d(failures: usize, reauthenticated: bool, outcome: Outcome, jitter: u64) -> Next {
        decide(
            &P,
            failures,
            reauthenticated,
            outcome,
            jitter,
            Duration::ZERO,
        )
    }

    fn answer(status: u16) -> Outcome {
        Outcome::Answer {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn connections_and_transient_statuses_are_retried_with_growing_waits() {
        let broken = Outcome::NoAnswer { retryable: true };
        let mut last = Duration::ZERO;
        for failures in 0..P.retries {
            let Next::RetryAfter(wait) = d(failures, false, broken, 0) else {
                panic!("retry {failures}")
            };
            assert!(wait >= last, "waits grow");
            assert!(wait <= P.cap);
            last = wait;
        }
        assert_eq!(d(P.retries, false, broken, 0), Next::Done, "bounded");
        for status in [429, 500, 502, 503, 504] {
            assert!(
                matches!(d(0, false, answer(status), 7), Next::RetryAfter(_)),
                "{status}"
            );
            // A 429 is bounded by the time budget alone (rate_limit_tests).
            if status != 429 {
                assert_eq!(
                    d(P.retries, false, answer(status), 7),
                    Next::Done,
                    "{status} bounded"
                );
            }
        }
    }

    #[test]
    fn final_answers_are_not_retried() {
        assert_eq!(
            d(0, false, Outcome::NoAnswer { retryable: false }, 0),
            Next::Done,
            "an untrusted certificate"
        );
        for status in [200, 201, 206, 400, 403, 404, 405, 416, 501] {
            assert_eq!(d(0, false, answer(status), 0), Next::Done, "{status}");
        }
        assert_eq!(d(0, false, answer(401), 0), Next::Reauthenticate);
        assert_eq!(
            d(0, true, answer(401), 0),
            Next::Done,
            "one re-authentication per request"
        );
    }

    #[test]
    fn retry_after_is_honoured_within_its_bound() {
        let hinted = |s| Outcome::Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(
            d(0, false, hinted(3), 0),
            Next::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(
            d(0, false, hinted(3600), 0),
            Next::Done,
            "an hour is not waited out"
        );
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn jitter_spreads_within_the_window() {
        let waits: Vec<_> = (0..50).map(|j| backoff(&P, 3, j * 7919)).collect();
        let exp = P.base * 8;
        assert!(waits.iter().all(|w| *w >= exp / 2 && *w <= exp));
        assert!(waits.iter().any(|w| *w != waits[0]), "not all the same");
    }

    #[test]
    fn no_retry_starts_past_the_budget() {
        let busy = Outcome::Answer {
            status: 503,
            retry_after: Some(Duration::from_secs(10)),
        };
        assert_eq!(
            decide(&P, 0, false, busy, 0, Duration::from_secs(100)),
            Next::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            decide(&P, 0, false, busy, 0, Duration::from_secs(115)),
            Next::Done,
            "would end past 120 s"
        );
        let none = Policy { retries: 0, ..P };
        assert_eq!(
            decide(
                &none,
                0,
                false,
                Outcome::NoAnswer { retryable: true },
                0,
                Duration::ZERO
            ),
            Next::Done
        );
    }
}

#[cfg(test)]
mod rate_limit_tests {
    use super::*;

    #[test]
    fn a_429_is_waited_out_past_the_retry_count_within_the_budget() {
        let limited = Outcome::Answer {
            status: 429,
            retry_after: None,
        };
        let p = DEFAULT_POLICY;
        // Far past `retries`, still within the time budget: another wait.
        assert!(matches!(
            decide(&p, p.retries + 20, true, limited, 0, Duration::from_secs(10)),
            Next::RetryAfter(w) if w <= p.cap
        ));
        // The budget ends it.
        assert_eq!(
            decide(&p, p.retries + 20, true, limited, 0, p.budget),
            Next::Done
        );
        // A minute's window is waited; more is refused at once.
        let minute = Outcome::Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            decide(&p, 0, true, minute, 0, Duration::ZERO),
            Next::RetryAfter(Duration::from_secs(60))
        );
        let hour = Outcome::Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(decide(&p, 0, true, hour, 0, Duration::ZERO), Next::Done);
        // A `Retry-After: 0` is no reason to hammer: the back-off holds.
        let now = Outcome::Answer {
            status: 429,
            retry_after: Some(Duration::ZERO),
        };
        assert!(matches!(
            decide(&p, 3, true, now, 0, Duration::ZERO),
            Next::RetryAfter(w) if w >= Duration::from_millis(400)
        ));
        // And the count holds in the end.
        assert_eq!(
            decide(&p, MAX_RATE_LIMITED, true, limited, 0, Duration::ZERO),
            Next::Done
        );
        // A 503 still stops at the count.
        let busy = Outcome::Answer {
            status: 503,
            retry_after: None,
        };
        assert_eq!(
            decide(&p, p.retries, true, busy, 0, Duration::ZERO),
            Next::Done
        );
    }
}
