//! wasi-http's error codes in words a user can act on.
//!
//! A failed request used to reach the user as the code's Rust name
//! (`ErrorCode::ConnectionRefused`) or wasmtime's terse text (`connection
//! terminated`). These say what happened and, where it helps, what to look
//! at; they follow the message's `what` ("GET HOST/PATH: ..."), so they name
//! the host only where the words need it. `src/wasi_transport.rs` says the
//! same of the guest's `ErrorCode`, case for case.

use wasmtime_wasi_http::Error;

/// `code`, a request to `host` failed with, in plain words.
pub fn plain_words(code: &Error, host: &str) -> String {
    use Error::*;
    let too_large = |what: &str, size: Option<String>| match size {
        Some(size) => format!("{what} is too large ({size} bytes)"),
        None => format!("{what} is too large"),
    };
    match code {
        DnsTimeout => format!("timed out looking up {host} in DNS"),
        DnsError { rcode, .. } => match rcode.as_deref() {
            Some(rcode) if !rcode.is_empty() => format!("DNS lookup failed for {host} ({rcode})"),
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
        Connect(err) => format!("cannot connect to {host}: {err}"),
        TlsProtocolError => "TLS handshake failed: a TLS protocol error".into(),
        TlsCertificateError => {
            "TLS handshake failed: the certificate is not trusted (see tls_ca_file)".into()
        }
        TlsAlertReceived {
            alert_message,
            alert_id,
        } => match (alert_message, alert_id) {
            (Some(message), _) => format!("TLS handshake failed: the server said {message}"),
            (None, Some(id)) => format!("TLS handshake failed: the server sent alert {id}"),
            (None, None) => "TLS handshake failed: the server sent an alert".into(),
        },
        Tls(err) => format!("TLS handshake failed: {err}"),
        HttpRequestDenied => "the host denied this request".into(),
        HttpRequestLengthRequired => "the server wants the request's length first".into(),
        HttpRequestBodySize(size) => too_large("the request body", size.map(|s| s.to_string())),
        HttpRequestMethodInvalid => "the request method is invalid".into(),
        HttpRequestUriInvalid => "the request URL is invalid".into(),
        HttpRequestUriTooLong => "the request URL is too long".into(),
        HttpRequestHeaderSectionSize(_) | HttpRequestHeaderSize { .. } => {
            "the request's headers are too large".into()
        }
        HttpRequestTrailerSectionSize(_) | HttpRequestTrailerSize { .. } => {
            "the request's trailers are too large".into()
        }
        HttpResponseIncomplete => "the answer ended before it was whole".into(),
        HttpResponseHeaderSectionSize(_) | HttpResponseHeaderSize { .. } => {
            "the answer's headers are too large".into()
        }
        HttpResponseBodySize(size) => too_large("the answer", size.map(|s| s.to_string())),
        HttpResponseTrailerSectionSize(_) | HttpResponseTrailerSize { .. } => {
            "the answer's trailers are too large".into()
        }
        HttpResponseTransferCoding(_) => "the answer has a transfer coding not understood".into(),
        HttpResponseContentCoding(_) => "the answer has a content coding not understood".into(),
        HttpResponseTimeout => "timed out waiting for the answer".into(),
        HttpUpgradeFailed => "the HTTP upgrade failed".into(),
        HttpProtocolError => "the answer is not valid HTTP".into(),
        LoopDetected => "the request went round in a loop".into(),
        ConfigurationError => "the HTTP client is misconfigured".into(),
        InternalError(Some(text)) => text.clone(),
        InternalError(None) => "an internal error of the HTTP client".into(),
        Hyper(err) => format!("HTTP failed: {err}"),
        // The type is non-exhaustive: a code added later is said as
        // wasmtime says it, never as its Rust name.
        other => other.to_string(),
    }
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
        let cases: Vec<(Error, &str)> = vec![
            (Error::ConnectionRefused, "connection refused"),
            (
                Error::ConnectionTerminated,
                "the registry closed the connection",
            ),
            (
                Error::DnsError {
                    rcode: Some("address not available".into()),
                    info_code: None,
                },
                "DNS lookup failed for registry.example:5000 (address not available)",
            ),
            (
                Error::DnsError {
                    rcode: None,
                    info_code: Some(3),
                },
                "DNS lookup failed for registry.example:5000",
            ),
            (
                Error::DnsTimeout,
                "timed out looking up registry.example:5000 in DNS",
            ),
            (
                Error::ConnectionTimeout,
                "timed out connecting to registry.example:5000",
            ),
            (
                Error::ConnectionReadTimeout,
                "timed out waiting for the rest of the answer",
            ),
            (
                Error::HttpResponseTimeout,
                "timed out waiting for the answer",
            ),
            (
                Error::TlsCertificateError,
                "TLS handshake failed: the certificate is not trusted (see tls_ca_file)",
            ),
            (
                Error::TlsAlertReceived {
                    alert_id: Some(40),
                    alert_message: Some("HandshakeFailure".into()),
                },
                "TLS handshake failed: the server said HandshakeFailure",
            ),
            (
                Error::TlsProtocolError,
                "TLS handshake failed: a TLS protocol error",
            ),
            (Error::HttpRequestDenied, "the host denied this request"),
            (Error::HttpProtocolError, "the answer is not valid HTTP"),
            (
                Error::InternalError(Some("request body: boom".into())),
                "request body: boom",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(plain_words(&code, host), want, "{code:?}");
        }
    }

    /// No code is said by its Rust name, whatever its payload.
    #[test]
    fn no_code_is_said_by_its_rust_name() {
        let codes = [
            Error::DestinationNotFound,
            Error::DestinationUnavailable,
            Error::DestinationIpProhibited,
            Error::DestinationIpUnroutable,
            Error::ConnectionWriteTimeout,
            Error::ConnectionLimitReached,
            Error::HttpRequestLengthRequired,
            Error::HttpRequestBodySize(Some(9)),
            Error::HttpRequestMethodInvalid,
            Error::HttpRequestUriInvalid,
            Error::HttpRequestUriTooLong,
            Error::HttpRequestHeaderSectionSize(None),
            Error::HttpResponseIncomplete,
            Error::HttpResponseBodySize(None),
            Error::HttpResponseTransferCoding(Some("x".into())),
            Error::HttpResponseContentCoding(None),
            Error::HttpUpgradeFailed,
            Error::LoopDetected,
            Error::ConfigurationError,
            Error::InternalError(None),
            Error::Connect(std::io::Error::other("no route")),
            Error::Tls(std::io::Error::other("bad record")),
        ];
        for code in codes {
            let words = plain_words(&code, "h");
            let name = format!("{code:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap();
            assert!(!words.contains(name), "{words}");
            assert!(
                !words.is_empty() && !words.contains("ErrorCode"),
                "{code:?}"
            );
        }
    }

    #[test]
    fn the_host_of_a_described_request() {
        assert_eq!(host_of("GET ghcr.io/v2/a/manifests/x"), "ghcr.io");
        assert_eq!(host_of("PUT 127.0.0.1:5000/v2/r/blobs"), "127.0.0.1:5000");
        assert_eq!(host_of("GET [::1]:5000/v2/"), "[::1]:5000");
    }
}
