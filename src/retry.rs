//! The decision after each attempt of a request, kept pure so it is tested
//! without sleeping or sending: the client's send loop carries it out.

use std::time::Duration;

/// Waits before resending a request whose connection broke before an
/// answer arrived (a pooled connection the registry had closed, a reset).
pub const CONNECTION_RETRIES: [Duration; 2] =
    [Duration::from_millis(10), Duration::from_millis(200)];

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answer(u16),
    /// No answer; `retryable` as the transport judged it.
    NoAnswer {
        retryable: bool,
    },
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

pub fn decide(connection_failures: usize, reauthenticated: bool, outcome: Outcome) -> Next {
    match outcome {
        Outcome::NoAnswer { retryable: true } if connection_failures < CONNECTION_RETRIES.len() => {
            Next::RetryAfter(CONNECTION_RETRIES[connection_failures])
        }
        Outcome::Answer(401) if !reauthenticated => Next::Reauthenticate,
        _ => Next::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let broken = Outcome::NoAnswer { retryable: true };
        assert_eq!(
            decide(0, false, broken),
            Next::RetryAfter(CONNECTION_RETRIES[0])
        );
        assert_eq!(
            decide(1, false, broken),
            Next::RetryAfter(CONNECTION_RETRIES[1])
        );
        assert_eq!(decide(2, false, broken), Next::Done, "bounded");
        let refused = Outcome::NoAnswer { retryable: false };
        assert_eq!(
            decide(0, false, refused),
            Next::Done,
            "an untrusted certificate is final"
        );
        assert_eq!(decide(0, false, Outcome::Answer(401)), Next::Reauthenticate);
        assert_eq!(
            decide(0, true, Outcome::Answer(401)),
            Next::Done,
            "one re-authentication per request"
        );
        for status in [200, 201, 206, 404, 403, 500] {
            assert_eq!(
                decide(0, false, Outcome::Answer(status)),
                Next::Done,
                "{status}"
            );
        }
    }
}
