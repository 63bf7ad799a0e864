//! The store's error type: one case per case of the WIT `error` variant.

/// Why a store operation failed. Messages name the object or setting
/// concerned and never carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("rate limited: {0}")]
    RateLimited(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("registry answered {status} {code}: {message}")]
    Registry {
        status: u16,
        code: String,
        message: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
