//! The store's error type: one case per case of the WIT `error` variant. This
//! is the one list of the contract's failures; the host wraps it (adding
//! what only a host can see) instead of repeating it.

/// Why a store operation failed. Messages name the object or setting
/// concerned and never carry credentials. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object, or the repository (for `open`), does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// `create` found a repository already there.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The store configuration is wrong.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A call's argument is wrong.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The registry wants credentials, or refused the ones given.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The credentials lack the right for this operation.
    #[error("denied: {0}")]
    Denied(String),
    /// The registry does not support something the store needs.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Bytes read back do not match their digest or announced length.
    #[error("integrity: {0}")]
    Integrity(String),
    /// The registry asked to slow down.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The registry could not be reached or the exchange broke off.
    #[error("transport: {0}")]
    Transport(String),
    /// The registry's answer broke the protocol: a success without what
    /// it must carry (a `Location`, a digest, a manifest), a tag list that
    /// does not parse or pages in a loop, a location on another origin,
    /// an upload that holds less than it was sent. Not a refusal: sending
    /// the same request again would not help. The WIT `error` variant has
    /// no case of its own for it: it crosses as `registry` with status 0,
    /// which no HTTP answer has (see `component.rs`).
    #[error("the registry broke the protocol: {0}")]
    Protocol(String),
    /// Any other refusal from the registry. The code is the registry's error
    /// code, empty when its body named none (then `Display` omits it).
    #[error("registry answered {status}{}: {message}", code_suffix(code))]
    Registry {
        status: u16,
        code: String,
        message: String,
    },
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    }
}

impl StoreError {
    /// Whether this says the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound(_))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_display_is_one_line_with_or_without_code() {
        let with = StoreError::Registry {
            status: 400,
            code: "MANIFEST_INVALID".into(),
            message: "bad".into(),
        };
        assert_eq!(
            with.to_string(),
            "registry answered 400 MANIFEST_INVALID: bad"
        );
        let without = StoreError::Registry {
            status: 502,
            code: String::new(),
            message: "gateway".into(),
        };
        assert_eq!(without.to_string(), "registry answered 502: gateway");
    }
}
