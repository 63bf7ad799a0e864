//! Conversions between the host's types and the generated WIT types.

use crate::plugin::bindings::{ByteRange, WitError, WitResource};
use crate::{echo, ContractError, Error, Mac, Resource};

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

/// The component's WIT error is the contract's error, case for case. Its
/// messages may quote configuration the component was given (an unknown
/// key, a malformed location): they are made one clean line of bounded
/// length ([`echo::message`]) before any caller prints them.
impl From<WitError> for ContractError {
    fn from(err: WitError) -> Self {
        let m = |text: String| echo::message(&text);
        match err {
            WitError::NotFound(t) => ContractError::NotFound(m(t)),
            WitError::AlreadyExists(t) => ContractError::AlreadyExists(m(t)),
            WitError::InvalidConfig(t) => ContractError::InvalidConfig(m(t)),
            WitError::InvalidArgument(t) => ContractError::InvalidArgument(m(t)),
            WitError::Unauthorized(t) => ContractError::Unauthorized(m(t)),
            WitError::Denied(t) => ContractError::Denied(m(t)),
            WitError::Unsupported(t) => ContractError::Unsupported(m(t)),
            WitError::Integrity(t) => ContractError::Integrity(m(t)),
            WitError::RateLimited(t) => ContractError::RateLimited(m(t)),
            WitError::Transport(t) => ContractError::Transport(m(t)),
            // Status 0 is no HTTP answer: the component's mark for a broken
            // protocol (`src/component.rs`), which the WIT variant has no
            // case for.
            WitError::Registry(failure) if failure.status == 0 => {
                ContractError::Protocol(m(failure.message))
            }
            WitError::Registry(failure) => ContractError::Registry {
                status: failure.status,
                code: m(failure.code),
                message: m(failure.message),
            },
        }
    }
}

impl From<WitError> for Error {
    fn from(err: WitError) -> Self {
        Error::Contract(err.into())
    }
}

/// A host range `(offset, length)` as the WIT record.
pub fn byte_range(range: Option<(u64, u32)>) -> Option<ByteRange> {
    range.map(|(offset, length)| ByteRange { offset, length })
}

/// A key the component listed; anything but 32 bytes breaks the contract.
pub fn mac_from_wit(key: Vec<u8>) -> Result<Mac, Error> {
    let len = key.len();
    Mac::try_from(key)
        .map_err(|_| Error::BrokenContract(format!("listed a key of {len} bytes, not 32")))
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
        let err = Error::from(WitError::Registry(RegistryFailure {
            status: 418,
            code: "TEAPOT".into(),
            message: "short and stout".into(),
        }));
        assert!(matches!(
            err,
            Error::Contract(ContractError::Registry { status: 418, ref code, ref message })
                if code == "TEAPOT" && message == "short and stout"
        ));
    }

    #[test]
    fn status_0_is_the_components_mark_for_a_broken_protocol() {
        let err = Error::from(WitError::Registry(RegistryFailure {
            status: 0,
            code: String::new(),
            message: "tag list pagination loops back on itself".into(),
        }));
        assert_eq!(
            err.to_string(),
            "the registry broke the protocol: tag list pagination loops back on itself"
        );
    }

    /// A message quoting an option key with a terminal escape (the
    /// component quotes unknown keys as given) reaches callers escaped and
    /// cut, in one line.
    #[test]
    fn component_messages_are_one_clean_line() {
        let key = format!("\u{1b}[2J{}", "k".repeat(10_000));
        let err = Error::from(WitError::InvalidConfig(format!(
            "unknown option '{key}'\n(known: location)"
        )))
        .to_string();
        assert!(!err.contains('\u{1b}') && !err.contains('\n'), "{err}");
        assert!(err.contains("\\u{1b}[2J"), "{err}");
        assert!(
            err.chars().count() < echo::MAX_MESSAGE_CHARS + 40,
            "{}",
            err.len()
        );
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert_eq!(mac_from_wit(vec![7; 32]).unwrap(), Mac([7; 32]));
        assert!(matches!(
            mac_from_wit(vec![7; 31]),
            Err(Error::BrokenContract(_))
        ));
    }
}
