//! Conversions between the host's types and the generated WIT types.

use crate::plugin::bindings::{ByteRange, WitError, WitResource};
use crate::{ContractError, HostError, Mac, Resource, StoreError};

impl From<Resource> for WitResource {
    fn from(kind: Resource) -> Self {
        match kind {
            Resource::Packfile => WitResource::Packfile,
            Resource::State => WitResource::State,
            Resource::Lock => WitResource::Lock,
            Resource::EccPackfile => WitResource::EccPackfile,
            Resource::EccState => WitResource::EccState,
        }
    }
}

impl From<WitResource> for Resource {
    fn from(kind: WitResource) -> Self {
        match kind {
            WitResource::Packfile => Resource::Packfile,
            WitResource::State => Resource::State,
            WitResource::Lock => Resource::Lock,
            WitResource::EccPackfile => Resource::EccPackfile,
            WitResource::EccState => Resource::EccState,
        }
    }
}

/// The component's WIT error is the contract's error, case for case.
impl From<WitError> for ContractError {
    fn from(err: WitError) -> Self {
        match err {
            WitError::NotFound(m) => ContractError::NotFound(m),
            WitError::AlreadyExists(m) => ContractError::AlreadyExists(m),
            WitError::InvalidConfig(m) => ContractError::InvalidConfig(m),
            WitError::InvalidArgument(m) => ContractError::InvalidArgument(m),
            WitError::Unauthorized(m) => ContractError::Unauthorized(m),
            WitError::Denied(m) => ContractError::Denied(m),
            WitError::Unsupported(m) => ContractError::Unsupported(m),
            WitError::Integrity(m) => ContractError::Integrity(m),
            WitError::RateLimited(m) => ContractError::RateLimited(m),
            WitError::Transport(m) => ContractError::Transport(m),
            WitError::Registry(failure) => ContractError::Registry {
                status: failure.status,
                code: failure.code,
                message: failure.message,
            },
        }
    }
}

impl From<WitError> for StoreError {
    fn from(err: WitError) -> Self {
        StoreError::Contract(err.into())
    }
}

/// A host range `(offset, length)` as the WIT record.
pub fn byte_range(range: Option<(u64, u32)>) -> Option<ByteRange> {
    range.map(|(offset, length)| ByteRange { offset, length })
}

/// A key the component listed; anything but 32 bytes breaks the contract.
pub fn mac_from_wit(key: Vec<u8>) -> Result<Mac, StoreError> {
    let len = key.len();
    Mac::try_from(key).map_err(|_| {
        StoreError::Host(HostError::BrokenContract(format!(
            "listed a key of {len} bytes, not 32"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::exports::kloset::store::types::RegistryFailure;

    #[test]
    fn resources_round_trip() {
        for kind in Resource::ALL {
            assert_eq!(Resource::from(WitResource::from(kind)), kind);
        }
    }

    #[test]
    fn registry_failures_keep_their_fields() {
        let err = StoreError::from(WitError::Registry(RegistryFailure {
            status: 418,
            code: "TEAPOT".into(),
            message: "short and stout".into(),
        }));
        assert!(matches!(
            err,
            StoreError::Contract(ContractError::Registry { status: 418, ref code, ref message })
                if code == "TEAPOT" && message == "short and stout"
        ));
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert_eq!(mac_from_wit(vec![7; 32]).unwrap(), Mac([7; 32]));
        assert!(matches!(
            mac_from_wit(vec![7; 31]),
            Err(StoreError::Host(HostError::BrokenContract(_)))
        ));
    }
}
