//! The decision after each attempt of a request, kept pure so it is tested
//! without sleeping or sending: the client's send loop carries it out.

use std::time::Duration;

/// Waits before resending a request whose connection broke before an
/// answer arrived (a pooled connection the registry had closed, a reset).
pub const CONNECTION_RETRIES: [Duration; 2] =
    [Duration::from_millis(10), Duration::from_millis(200)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Hand the outcome to the caller.
    Done,
    /// Wait, then send again.
    RetryAfter(Duration),
    /// A 401: learn from its challenge and send again, once.
    Reauthenticate,
}

/// `outcome` is the answer's status, or `None` when no answer came.
pub fn decide(connection_failures: usize, reauthenticated: bool, outcome: Option<u16>) -> Next {
    match outcome {
        None if connection_failures < CONNECTION_RETRIES.len() => {
            Next::RetryAfter(CONNECTION_RETRIES[connection_failures])
        }
        Some(401) if !reauthenticated => Next::Reauthenticate,
        _ => Next::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(
            decide(0, false, None),
            Next::RetryAfter(CONNECTION_RETRIES[0])
        );
        assert_eq!(
            decide(1, false, None),
            Next::RetryAfter(CONNECTION_RETRIES[1])
        );
        assert_eq!(decide(2, false, None), Next::Done, "bounded");
        assert_eq!(decide(0, false, Some(401)), Next::Reauthenticate);
        assert_eq!(
            decide(0, true, Some(401)),
            Next::Done,
            "one re-authentication per request"
        );
        for status in [200, 201, 206, 404, 403, 500] {
            assert_eq!(decide(0, false, Some(status)), Next::Done, "{status}");
        }
    }
}
