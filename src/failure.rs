//! Why a request got no answer, said once for every transport: the words a
//! user reads and whether sending again may help.
//!
//! Two transports meet the same failures: the component's, through
//! wasi:http's `error-code` (`wasi_transport`), and the host's native one,
//! through wasmtime-wasi-http's `Error` (`host-test/src/egress/native_transport.rs`).
//! Each only translates its own type into a [`Failure`], case for case; the
//! words and the retry split live here, so the two cannot drift apart.

use crate::error::StoreError;
use crate::registry_error::{error_from_response, excerpt};
use crate::transport::SendFailure;

/// A request that failed before an answer came, by kind: wasi:http's
/// `error-code` cases, with their payloads as plain data, plus the three
/// a native client says in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    DnsTimeout,
    /// The name did not resolve (`rcode`: the resolver's reason, if any).
    DnsError {
        rcode: Option<String>,
    },
    DestinationNotFound,
    DestinationUnavailable,
    DestinationIpProhibited,
    DestinationIpUnroutable,
    ConnectionRefused,
    ConnectionTerminated,
    ConnectionTimeout,
    ConnectionReadTimeout,
    ConnectionWriteTimeout,
    ConnectionLimitReached,
    /// Connecting failed, in the native client's words.
    Connect(String),
    TlsProtocolError,
    TlsCertificateError,
    TlsAlertReceived {
        message: Option<String>,
        id: Option<u8>,
    },
    /// The TLS handshake failed, in the native client's words.
    Tls(String),
    /// The host's egress refused the request (allow-list, address rules).
    HttpRequestDenied,
    HttpRequestLengthRequired,
    HttpRequestBodySize(Option<u64>),
    HttpRequestMethodInvalid,
    HttpRequestUriInvalid,
    HttpRequestUriTooLong,
    HttpRequestHeaderSize,
    HttpRequestTrailerSize,
    HttpResponseIncomplete,
    HttpResponseHeaderSize,
    HttpResponseBodySize(Option<u64>),
    HttpResponseTrailerSize,
    HttpResponseTransferCoding,
    HttpResponseContentCoding,
    HttpResponseTimeout,
    HttpUpgradeFailed,
    HttpProtocolError,
    LoopDetected,
    ConfigurationError,
    InternalError(Option<String>),
    /// HTTP failed, in the native client's words.
    Http(String),
}

impl Failure {
    /// Whether sending again may work: not when the host refused the
    /// request, the name does not resolve, or TLS failed (an untrusted
    /// certificate stays untrusted).
    pub fn retryable(&self) -> bool {
        use Failure::*;
        !matches!(
            self,
            HttpRequestDenied
                | HttpRequestUriInvalid
                | DnsError { .. }
                | TlsProtocolError
                | TlsCertificateError
                | TlsAlertReceived { .. }
                | Tls(_)
                | ConfigurationError
        )
    }

    /// The failure in words a user can act on, never a Rust name. They
    /// follow the message's `what` ("GET HOST/PATH: ..."), so they name
    /// `host` only where the words need it.
    pub fn words(&self, host: &str) -> String {
        use Failure::*;
        let too_large = |what: &str, size: &Option<u64>| match size {
            Some(size) => format!("{what} is too large ({size} bytes)"),
            None => format!("{what} is too large"),
        };
        let given = |text: &str| excerpt(text, 200);
        match self {
            DnsTimeout => format!("timed out looking up {host} in DNS"),
            DnsError { rcode } => match rcode.as_deref() {
                Some(rcode) if !rcode.is_empty() => {
                    format!("DNS lookup failed for {host} ({})", given(rcode))
                }
                _ => format!("DNS lookup failed for {host}"),
            },
            DestinationNotFound => format!("{host} was not found"),
            DestinationUnavailable => format!("{host} is unavailable"),
            DestinationIpProhibited => format!("connecting to {host}'s address is not allowed"),
            DestinationIpUnroutable => format!("{host}'s address cannot be reached"),
            ConnectionRefused => "connection refused".into(),
            ConnectionTerminated => "the registry closed the connection".into(),
            ConnectionTimeout => format!("timed out connecting to {host}"),
            ConnectionReadTimeout => "timed out waiting for the rest of the answer".into(),
            ConnectionWriteTimeout => "timed out sending the request".into(),
            ConnectionLimitReached => "too many connections are open".into(),
            Connect(text) => format!("cannot connect to {host}: {}", given(text)),
            TlsProtocolError => "TLS handshake failed: a TLS protocol error".into(),
            TlsCertificateError => {
                "TLS handshake failed: the certificate is not trusted (see tls_ca_file)".into()
            }
            TlsAlertReceived { message, id } => match (message, id) {
                (Some(message), _) => {
                    format!("TLS handshake failed: the server said {}", given(message))
                }
                (None, Some(id)) => format!("TLS handshake failed: the server sent alert {id}"),
                (None, None) => "TLS handshake failed: the server sent an alert".into(),
            },
            Tls(text) => format!("TLS handshake failed: {}", given(text)),
            HttpRequestDenied => "the host denied this request".into(),
            HttpRequestLengthRequired => "the server wants the request's length first".into(),
            HttpRequestBodySize(size) => too_large("the request body", size),
            HttpRequestMethodInvalid => "the request method is invalid".into(),
            HttpRequestUriInvalid => "the request URL is invalid".into(),
            HttpRequestUriTooLong => "the request URL is too long".into(),
            HttpRequestHeaderSize => "the request's headers are too large".into(),
            HttpRequestTrailerSize => "the request's trailers are too large".into(),
            HttpResponseIncomplete => "the answer ended before it was whole".into(),
            HttpResponseHeaderSize => "the answer's headers are too large".into(),
            HttpResponseBodySize(size) => too_large("the answer", size),
            HttpResponseTrailerSize => "the answer's trailers are too large".into(),
            HttpResponseTransferCoding => "the answer has a transfer coding not understood".into(),
            HttpResponseContentCoding => "the answer has a content coding not understood".into(),
            HttpResponseTimeout => "timed out waiting for the answer".into(),
            HttpUpgradeFailed => "the HTTP upgrade failed".into(),
            HttpProtocolError => "the answer is not valid HTTP".into(),
            LoopDetected => "the request went round in a loop".into(),
            ConfigurationError => "the HTTP client is misconfigured".into(),
            InternalError(Some(text)) => given(text),
            InternalError(None) => "an internal error of the HTTP client".into(),
            Http(text) => format!("HTTP failed: {}", given(text)),
        }
    }

    /// The `transport` error of request `what` (`METHOD HOST[:PORT]/PATH`).
    pub fn error(&self, what: &str) -> StoreError {
        StoreError::Transport(format!("{what}: {}", self.words(host_of(what))))
    }

    /// The failed attempt of request `what`, for the retry decision.
    pub fn send_failure(&self, what: &str) -> SendFailure {
        SendFailure {
            retryable: self.retryable(),
            error: self.error(what),
        }
    }
}

/// Why writing a request's body failed, once the request itself settled:
/// its own failure (the host denied it, the connection was refused), or
/// an answer the registry gave before taking the whole body (a 413, say).
/// Both transports say it so.
pub fn body_refused(what: &str, settled: Result<u16, Failure>) -> StoreError {
    match settled {
        Err(failure) => failure.error(what),
        Ok(status) => error_from_response(
            status,
            b"",
            &format!("{what} (answered before the whole body was sent)"),
        ),
    }
}

/// What a request is, for messages: method, authority and path, never the
/// query (upload URLs carry session state) nor any header.
pub fn describe(method: &http::Method, uri: &http::Uri) -> String {
    format!(
        "{method} {}{}",
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

/// The host a request described as `METHOD HOST[:PORT]/PATH` went to.
pub fn host_of(what: &str) -> &str {
    let target = what.split_once(' ').map_or(what, |(_, rest)| rest);
    target.split('/').next().unwrap_or(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_table() {
        let host = "registry.example:5000";
        let cases: Vec<(Failure, &str)> = vec![
            (Failure::ConnectionRefused, "connection refused"),
            (
                Failure::ConnectionTerminated,
                "the registry closed the connection",
            ),
            (
                Failure::DnsError {
                    rcode: Some("address not available".into()),
                },
                "DNS lookup failed for registry.example:5000 (address not available)",
            ),
            (
                Failure::DnsError { rcode: None },
                "DNS lookup failed for registry.example:5000",
            ),
            (
                Failure::DnsTimeout,
                "timed out looking up registry.example:5000 in DNS",
            ),
            (
                Failure::ConnectionTimeout,
                "timed out connecting to registry.example:5000",
            ),
            (
                Failure::ConnectionReadTimeout,
                "timed out waiting for the rest of the answer",
            ),
            (
                Failure::HttpResponseTimeout,
                "timed out waiting for the answer",
            ),
            (
                Failure::TlsCertificateError,
                "TLS handshake failed: the certificate is not trusted (see tls_ca_file)",
            ),
            (
                Failure::TlsAlertReceived {
                    id: Some(40),
                    message: Some("HandshakeFailure".into()),
                },
                "TLS handshake failed: the server said HandshakeFailure",
            ),
            (
                Failure::TlsProtocolError,
                "TLS handshake failed: a TLS protocol error",
            ),
            (Failure::HttpRequestDenied, "the host denied this request"),
            (Failure::HttpProtocolError, "the answer is not valid HTTP"),
            (
                Failure::InternalError(Some("request body: boom".into())),
                "request body: boom",
            ),
            (
                Failure::Connect("no route\nto host".into()),
                "cannot connect to registry.example:5000: no route to host",
            ),
            (
                Failure::HttpRequestBodySize(Some(9)),
                "the request body is too large (9 bytes)",
            ),
        ];
        for (failure, want) in cases {
            assert_eq!(failure.words(host), want, "{failure:?}");
        }
    }

    /// Sending again cannot help a refused, unresolvable or untrusted
    /// request; it may help a broken or slow one.
    #[test]
    fn retry_split_table() {
        let never = [
            Failure::HttpRequestDenied,
            Failure::HttpRequestUriInvalid,
            Failure::DnsError { rcode: None },
            Failure::TlsProtocolError,
            Failure::TlsCertificateError,
            Failure::TlsAlertReceived {
                message: None,
                id: None,
            },
            Failure::Tls("bad record".into()),
            Failure::ConfigurationError,
        ];
        for failure in never {
            assert!(!failure.retryable(), "{failure:?}");
        }
        let again = [
            Failure::ConnectionRefused,
            Failure::ConnectionTerminated,
            Failure::ConnectionTimeout,
            Failure::DnsTimeout,
            Failure::HttpResponseTimeout,
            Failure::HttpResponseIncomplete,
            Failure::Connect("reset".into()),
            Failure::Http("connection reset".into()),
            Failure::InternalError(None),
        ];
        for failure in again {
            assert!(failure.retryable(), "{failure:?}");
        }
    }

    #[test]
    fn a_failure_is_a_transport_error_naming_the_request() {
        let what = "GET [::1]:5000/v2/r/blobs/x";
        let failed = Failure::ConnectionTimeout.send_failure(what);
        assert!(failed.retryable);
        assert_eq!(
            failed.error,
            StoreError::Transport(format!("{what}: timed out connecting to [::1]:5000"))
        );
    }

    #[test]
    fn a_body_refused_says_why_the_request_ended() {
        let what = "PATCH h/v2/r/blobs/uploads/u";
        assert_eq!(
            body_refused(what, Err(Failure::HttpRequestDenied)),
            StoreError::Transport(format!("{what}: the host denied this request"))
        );
        let early = body_refused(what, Ok(413)).to_string();
        assert!(
            early.contains("413") && early.contains("before the whole body"),
            "{early}"
        );
    }

    #[test]
    fn the_host_of_a_described_request() {
        assert_eq!(host_of("GET ghcr.io/v2/a/manifests/x"), "ghcr.io");
        assert_eq!(host_of("PUT 127.0.0.1:5000/v2/r/blobs"), "127.0.0.1:5000");
        assert_eq!(host_of("GET [::1]:5000/v2/"), "[::1]:5000");
        let uri: http::Uri = "http://h:1/v2/x?secret=1".parse().unwrap();
        assert_eq!(describe(&http::Method::GET, &uri), "GET h:1/v2/x");
    }
}
