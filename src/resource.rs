//! Resource kinds and MACs: the two halves of an object's key.

use crate::error::StoreError;
use std::fmt;
use std::str::FromStr;

/// The five key spaces of a Kloset repository (`StorageResource` in Kloset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Packfile,
    State,
    Lock,
    EccPackfile,
    EccState,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Packfile,
        Resource::State,
        Resource::Lock,
        Resource::EccPackfile,
        Resource::EccState,
    ];

    /// The name used in tags, annotations and media types.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Packfile => "packfile",
            Resource::State => "state",
            Resource::Lock => "lock",
            Resource::EccPackfile => "ecc-packfile",
            Resource::EccState => "ecc-state",
        }
    }

    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether an object of this kind keeps its bytes for its whole life.
    /// Packfiles and states are named by the MAC of their content; locks are
    /// re-put under the same MAC with new bytes every few minutes, so only
    /// immutable kinds may have their manifest cached.
    pub fn is_immutable(self) -> bool {
        !matches!(self, Resource::Lock)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource {0:?} (expected packfile, state, lock, ecc-packfile or ecc-state)")]
pub struct UnknownResource(pub String);

/// The names of [`Resource::name`], exactly (the command line's and the WIT
/// enum's spelling).
impl FromStr for Resource {
    type Err = UnknownResource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resource::from_name(s).ok_or_else(|| UnknownResource(s.to_string()))
    }
}

/// A 32-byte object MAC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 32]);

impl Mac {
    pub fn from_slice(bytes: &[u8]) -> Result<Mac, StoreError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::InvalidArgument(format!("a MAC is 32 bytes, got {}", bytes.len()))
        })?;
        Ok(Mac(array))
    }

    /// Parses exactly 64 lowercase hex characters (the form used in tags).
    pub fn from_hex(text: &str) -> Option<Mac> {
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Mac(out))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({})", self.to_hex())
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Resource::ALL {
            assert_eq!(Resource::from_name(r.name()), Some(r));
        }
        assert_eq!(Resource::from_name("config"), None);
    }

    #[test]
    fn names_are_the_documented_ones_and_parse_back() {
        let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            ["packfile", "state", "lock", "ecc-packfile", "ecc-state"]
        );
        for r in Resource::ALL {
            assert_eq!(r.to_string().parse::<Resource>(), Ok(r));
        }
        for bad in ["", "Packfile", "ecc_state", "packfiles", "config"] {
            assert_eq!(
                bad.parse::<Resource>(),
                Err(UnknownResource(bad.to_string()))
            );
        }
    }

    #[test]
    fn mac_hex_is_strict() {
        let hex64 = "ab".repeat(32);
        assert_eq!(Mac::from_hex(&hex64).unwrap().to_hex(), hex64);
        assert!(
            Mac::from_hex(&"AB".repeat(32)).is_none(),
            "uppercase is not a tag form"
        );
        assert!(Mac::from_hex(&"ab".repeat(31)).is_none());
        assert!(Mac::from_hex(&format!("{}zz", "ab".repeat(31))).is_none());
    }

    #[test]
    fn mac_from_slice_checks_length() {
        assert!(Mac::from_slice(&[0; 32]).is_ok());
        assert!(matches!(
            Mac::from_slice(&[0; 31]),
            Err(StoreError::InvalidArgument(_))
        ));
    }
}
