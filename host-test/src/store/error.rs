//! The error host callers get: a case of the store contract (the protocol
//! crate's [`ContractError`], the one list of the WIT `error` variant's
//! cases), or one of the two failures only the host can see (the caller's
//! input broke, the host or component failed).

use crate::HostError;
pub use kloset_oci::StoreError as ContractError;

/// Why a store call failed. `Display` is one line; no case ever holds a secret
/// (the component promises that for its messages, the host for its own).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A failure the store contract names (not found, unauthorized, ...),
    /// from the component or from the host checking its own options.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The caller's reader failed during `put`; the object was abandoned.
    #[error("input: {0}")]
    Input(String),
    /// The host failed (trap, load, ...).
    #[error(transparent)]
    Host(#[from] HostError),
}

impl StoreError {
    /// Whether this is the component saying the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Contract(e) if e.is_not_found())
    }

    /// The contract case, if this is one.
    pub fn contract(&self) -> Option<&ContractError> {
        match self {
            StoreError::Contract(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_cases_display_as_the_core_writes_them() {
        let err = StoreError::from(ContractError::Registry {
            status: 502,
            code: String::new(),
            message: "gateway".into(),
        });
        assert_eq!(err.to_string(), "registry answered 502: gateway");
        assert!(StoreError::from(ContractError::NotFound("x".into())).is_not_found());
        assert!(!StoreError::Input("x".into()).is_not_found());
    }

    #[test]
    fn host_errors_display_transparently() {
        let err = StoreError::from(HostError::Trap("wasm trap: unreachable".into()));
        assert_eq!(err.to_string(), "component trapped: wasm trap: unreachable");
    }
}
