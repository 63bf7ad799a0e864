//! Store errors as gRPC statuses.
//!
//! Plakar's gRPC client (integration-grpc v1.1.0) keeps only the status
//! message (it turns `CANCELLED` into a bare "context canceled" and wraps
//! `UNAVAILABLE` as "I/O error communicating with the integration"), so the
//! message carries everything: the operation, the store's location and the
//! store's own one-line error, which names the kind (not found, unauthorized,
//! denied, ...) and never holds a secret. The code is still chosen with care
//! for other clients, but never `CANCELLED`, and `UNAVAILABLE` is kept for
//! the plugin itself being unusable, not for a registry that cannot be
//! reached: that is the registry's failure, reported as it is.

use kloset_host::{ContractError, Error};
use tonic::{Code, Status};

/// The status for `err` raised by `operation` (e.g. "open", "put packfile
/// 3fa4…") on the store at `location`.
pub fn store_status(operation: &str, location: &str, err: &Error) -> Status {
    let message = one_line(&format!("{operation} {location}: {err}"));
    Status::new(code_for(err), message)
}

/// The gRPC code closest to each store error.
pub fn code_for(err: &Error) -> Code {
    match err {
        Error::Contract(contract) => match contract {
            ContractError::NotFound(_) => Code::NotFound,
            ContractError::AlreadyExists(_) => Code::AlreadyExists,
            ContractError::InvalidConfig(_) | ContractError::InvalidArgument(_) => {
                Code::InvalidArgument
            }
            ContractError::Unauthorized(_) => Code::Unauthenticated,
            ContractError::Denied(_) => Code::PermissionDenied,
            ContractError::Unsupported(_) => Code::FailedPrecondition,
            ContractError::Integrity(_) => Code::DataLoss,
            ContractError::RateLimited(_) => Code::ResourceExhausted,
            ContractError::Transport(_)
            | ContractError::Registry { .. }
            | ContractError::Protocol(_) => Code::Unknown,
        },
        Error::Input(_) => Code::Aborted,
        _ => Code::Internal,
    }
}

/// gRPC messages travel in a header: keep them on one line.
pub fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A call made before `Init` succeeded.
pub fn not_initialised() -> Status {
    Status::failed_precondition("the oci store is not initialised: Init must succeed first")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_gets_its_code_and_a_message_naming_it() {
        let cases = [
            (
                Error::Contract(ContractError::NotFound("no config".into())),
                Code::NotFound,
                "not found",
            ),
            (
                Error::Contract(ContractError::AlreadyExists("x".into())),
                Code::AlreadyExists,
                "already exists",
            ),
            (
                Error::Contract(ContractError::InvalidConfig("x".into())),
                Code::InvalidArgument,
                "invalid configuration",
            ),
            (
                Error::Contract(ContractError::Unauthorized("x".into())),
                Code::Unauthenticated,
                "unauthorized",
            ),
            (
                Error::Contract(ContractError::Denied("x".into())),
                Code::PermissionDenied,
                "denied",
            ),
            (
                Error::Contract(ContractError::Unsupported("x".into())),
                Code::FailedPrecondition,
                "unsupported",
            ),
            (
                Error::Contract(ContractError::Integrity("x".into())),
                Code::DataLoss,
                "integrity",
            ),
            (
                Error::Contract(ContractError::RateLimited("x".into())),
                Code::ResourceExhausted,
                "rate limited",
            ),
            (
                Error::Contract(ContractError::Transport("refused".into())),
                Code::Unknown,
                "transport",
            ),
            (
                Error::Contract(ContractError::Registry {
                    status: 500,
                    code: "X".into(),
                    message: "m".into(),
                }),
                Code::Unknown,
                "registry answered 500",
            ),
        ];
        for (err, code, words) in cases {
            let status = store_status("open", "oci://h/r", &err);
            assert_eq!(status.code(), code, "{err}");
            assert!(
                status.message().starts_with("open oci://h/r: "),
                "{status:?}"
            );
            assert!(status.message().contains(words), "{status:?}");
            // The two codes plakar rewrites are never used for store errors.
            assert_ne!(status.code(), Code::Cancelled);
            assert_ne!(status.code(), Code::Unavailable);
        }
    }

    #[test]
    fn messages_are_one_line() {
        let status = store_status(
            "get",
            "oci://h/r",
            &Error::Contract(ContractError::Transport("a\nb\r\nc".into())),
        );
        assert!(!status.message().contains('\n') && !status.message().contains('\r'));
    }
}
