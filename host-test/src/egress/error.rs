//! Translates the pooled client's errors into wasi-http's error type, which
//! wasi-http then hands to the guest as an `error-code`.

use std::error::Error as StdError;
use std::io;

use wasmtime_wasi_http::Error;

/// Maps a failed request of the pooled client.
pub fn client_error(err: hyper_util::client::legacy::Error) -> Error {
    if err.is_connect() {
        return connect_error(&err);
    }
    if let Some(hyper_err) = find::<hyper::Error>(&err) {
        if hyper_err.is_timeout() {
            return Error::HttpResponseTimeout;
        }
        if hyper_err.is_parse() || hyper_err.is_parse_status() {
            return Error::HttpProtocolError;
        }
        // The request body failed: that error came from the guest's side.
        if let Some(body_err) = find::<Error>(&err) {
            return guest_body_error(body_err);
        }
        if hyper_err.is_incomplete_message() || hyper_err.is_closed() || hyper_err.is_canceled() {
            return Error::ConnectionTerminated;
        }
    }
    if find::<io::Error>(&err).is_some() {
        return Error::ConnectionTerminated;
    }
    Error::InternalError(Some(chain_text(&err)))
}

/// Connection set-up failures: TCP, DNS, TLS.
fn connect_error(err: &(dyn StdError + 'static)) -> Error {
    // TLS failures arrive as io::Errors (nested two deep) holding the
    // rustls error.
    if let Some(tls) = find::<rustls::Error>(err) {
        return tls_error(tls);
    }
    let Some(io_err) = chain(err)
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .last()
    else {
        return Error::Connect(io::Error::other(chain_text(err)));
    };
    match io_err.kind() {
        io::ErrorKind::TimedOut => Error::ConnectionTimeout,
        io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        // Kept as a connect error with the original text: wasi-http recognises
        // resolver failures by it and reports them as DNS errors.
        kind => Error::Connect(io::Error::new(kind, io_err.to_string())),
    }
}

fn tls_error(err: &rustls::Error) -> Error {
    match err {
        rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// Rebuilds a request body error (the type is not `Clone`).
fn guest_body_error(err: &Error) -> Error {
    match err {
        Error::HttpRequestBodySize(size) => Error::HttpRequestBodySize(*size),
        Error::HttpProtocolError => Error::HttpProtocolError,
        other => Error::InternalError(Some(format!("request body: {other}"))),
    }
}

/// An error and its causes. `io::Error::source` skips the error an
/// io::Error wraps, so for those the walk steps into the wrapped error.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&current| {
        match current
            .downcast_ref::<io::Error>()
            .and_then(|e| e.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        }
    })
}

/// The first error of type `T` in a chain.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// The chain as one line, for errors no specific case fits. An io::Error
/// displays the error it wraps, so that one is not repeated.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(err) {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_certificate_failures_are_certificate_errors() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(connect_error(&err), Error::TlsCertificateError));
    }

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        // hyper-rustls wraps tokio-rustls' io::Error in another io::Error.
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        let outer = io::Error::other(inner);
        assert!(matches!(connect_error(&outer), Error::TlsCertificateError));
    }

    #[test]
    fn refused_and_timed_out_connects_map_to_their_codes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(connect_error(&refused), Error::ConnectionRefused));
        let slow = io::Error::from(io::ErrorKind::TimedOut);
        assert!(matches!(connect_error(&slow), Error::ConnectionTimeout));
    }

    #[test]
    fn resolver_failures_keep_their_text() {
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        match connect_error(&dns) {
            Error::Connect(e) => assert!(e.to_string().starts_with("failed to lookup address")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
