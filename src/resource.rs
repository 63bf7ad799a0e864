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

/// A 32-byte object MAC: the key callers give and the component lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 32]);

/// Bytes that are not 32 long, so not a MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a MAC is 32 bytes, got {0}")]
pub struct MacLength(pub usize);

/// Text that is not a MAC in hex (what `str::parse::<Mac>` refuses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacParseError {
    #[error("a MAC is 64 hex characters, got {0}")]
    Length(usize),
    #[error("a MAC is hex, found {0:?}")]
    NotHex(char),
}

impl Mac {
    pub fn from_slice(bytes: &[u8]) -> Result<Mac, StoreError> {
        Mac::try_from(bytes).map_err(|e| StoreError::InvalidArgument(e.to_string()))
    }

    /// Parses exactly 64 lowercase hex characters (the form used in tags).
    /// A person's input goes through [`FromStr`], which takes either case.
    pub fn from_hex(text: &str) -> Option<Mac> {
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Mac(out))
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// 64 hex characters in either case (what a person types on a command
/// line); the error names the length or the first character that is not hex.
impl FromStr for Mac {
    type Err = MacParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits: Vec<char> = text.chars().collect();
        if digits.len() != 64 {
            return Err(MacParseError::Length(digits.len()));
        }
        let nibble = |c: char| {
            c.to_digit(16)
                .map(|d| d as u8)
                .ok_or(MacParseError::NotHex(c))
        };
        let mut mac = [0u8; 32];
        for (byte, pair) in mac.iter_mut().zip(digits.chunks(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Ok(Mac(mac))
    }
}

impl From<[u8; 32]> for Mac {
    fn from(bytes: [u8; 32]) -> Mac {
        Mac(bytes)
    }
}

impl From<Mac> for [u8; 32] {
    fn from(mac: Mac) -> [u8; 32] {
        mac.0
    }
}

impl TryFrom<&[u8]> for Mac {
    type Error = MacLength;

    fn try_from(bytes: &[u8]) -> Result<Mac, MacLength> {
        <[u8; 32]>::try_from(bytes)
            .map(Mac)
            .map_err(|_| MacLength(bytes.len()))
    }
}

impl TryFrom<Vec<u8>> for Mac {
    type Error = MacLength;

    fn try_from(bytes: Vec<u8>) -> Result<Mac, MacLength> {
        Mac::try_from(bytes.as_slice())
    }
}

impl AsRef<[u8]> for Mac {
    fn as_ref(&self) -> &[u8] {
        &self.0
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

    // The one MAC parser the host's CLI uses.
    #[test]
    fn parses_either_case_and_prints_lowercase() {
        let text = "00ff10aB".repeat(8);
        let mac: Mac = text.parse().unwrap();
        assert_eq!(&mac.0[..4], &[0x00, 0xff, 0x10, 0xab]);
        assert_eq!(mac.to_hex(), text.to_lowercase());
        assert_eq!(mac.to_string(), text.to_lowercase());
    }

    #[test]
    fn parse_refuses_bad_text() {
        let cases = [
            ("", MacParseError::Length(0)),
            ("ab", MacParseError::Length(2)),
            (&*"a".repeat(65), MacParseError::Length(65)),
            (&*format!("{}g", "a".repeat(63)), MacParseError::NotHex('g')),
            (&*format!("{} ", "a".repeat(63)), MacParseError::NotHex(' ')),
            (&*format!("{}é", "a".repeat(63)), MacParseError::NotHex('é')),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Mac>(), Err(want), "{text:?}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert_eq!(
            MacParseError::Length(2).to_string(),
            "a MAC is 64 hex characters, got 2"
        );
        assert_eq!(
            MacParseError::NotHex('g').to_string(),
            "a MAC is hex, found 'g'"
        );
    }

    #[test]
    fn mac_from_bytes_checks_length() {
        assert_eq!(Mac::try_from(&[7u8; 32][..]), Ok(Mac([7; 32])));
        assert_eq!(Mac::try_from(vec![1u8; 33]), Err(MacLength(33)));
        assert_eq!(MacLength(31).to_string(), "a MAC is 32 bytes, got 31");
    }
}
