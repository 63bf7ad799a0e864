//! The five object kinds of a Kloset repository, named as the CLI and the
//! Kloset engine spell them.

use std::fmt;
use std::str::FromStr;

/// One of the separate key spaces of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Packfile,
    State,
    Lock,
    EccPackfile,
    EccState,
}

impl Resource {
    /// Every kind, in the engine's numbering order (1 to 5).
    pub const ALL: [Resource; 5] = [
        Resource::Packfile,
        Resource::State,
        Resource::Lock,
        Resource::EccPackfile,
        Resource::EccState,
    ];

    /// The lowercase name used on the command line and in the WIT enum.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Packfile => "packfile",
            Resource::State => "state",
            Resource::Lock => "lock",
            Resource::EccPackfile => "ecc-packfile",
            Resource::EccState => "ecc-state",
        }
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

impl FromStr for Resource {
    type Err = UnknownResource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resource::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownResource(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Resource::ALL {
            assert_eq!(r.to_string().parse::<Resource>(), Ok(r));
        }
    }

    #[test]
    fn names_are_the_documented_ones() {
        let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            ["packfile", "state", "lock", "ecc-packfile", "ecc-state"]
        );
    }

    #[test]
    fn unknown_and_wrong_case_names_are_refused() {
        for bad in ["", "Packfile", "ecc_state", "packfiles", "config"] {
            assert_eq!(
                bad.parse::<Resource>(),
                Err(UnknownResource(bad.to_string()))
            );
        }
    }
}
