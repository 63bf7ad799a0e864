//! The one table of options: for each, its name, who consumes it (the
//! component, or the host before the component sees the configuration),
//! whether its value is a secret, its default as documented, and its value
//! kind, whose parser checks it. Validation (`StoreConfig::parse`), the
//! component's key list (`KNOWN_OPTIONS`), the host's (`HOST_OPTIONS`) and
//! redaction (`Redacted`) all derive from it; the plugin's JSON schema and
//! the docs' option tables are tested against it.

use super::values::{
    parse_bool, parse_exact_flag, parse_exact_number, parse_exact_size, parse_number, parse_size,
};
use super::{DEFAULT_MEDIA_TYPE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use crate::error::StoreError;
use std::fmt;

/// Who reads an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// The component (`StoreConfig::parse`). The host reads `location` too.
    Component,
    /// The host, which takes it out before the component sees the rest.
    Host,
}

/// What an option's value is, and so how it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `oci://HOST[:PORT]/REPOSITORY` (`parse_location`).
    Location,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Flag,
    /// Free text (a name, a secret).
    Text,
    /// A file or directory path.
    Path,
    /// A whole number in a range.
    Number { min: u64, max: u64 },
    /// Seconds, a whole number in a range.
    Seconds { min: u64, max: u64 },
    /// A byte count in a range, with an optional binary suffix.
    Size { min: u64, max: u64 },
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// `repository_prefix`'s grammar (`parse_prefix`).
    Prefix,
    /// `type/subtype` (`parse_media_type`).
    MediaType,
    /// `true` or `false` exactly: a flag that turns a check off, where a
    /// typo must not be read as either.
    StrictFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub consumer: Consumer,
    /// Never shown: `Redacted` hides the value.
    pub secret: bool,
    /// The default, as docs/configuration.md states it ("" for none).
    pub default: &'static str,
    pub kind: Kind,
}

const fn component(name: &'static str, kind: Kind, default: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        consumer: Consumer::Component,
        secret: false,
        default,
        kind,
    }
}

const fn secret(name: &'static str) -> OptionSpec {
    OptionSpec {
        secret: true,
        ..component(name, Kind::Text, "")
    }
}

const fn host(name: &'static str, kind: Kind, default: &'static str) -> OptionSpec {
    OptionSpec {
        consumer: Consumer::Host,
        ..component(name, kind, default)
    }
}

/// The names of the options code reads one by one (the host's split, the
/// credential checks): the table's rows below are written with them, so
/// each name is written once.
pub mod name {
    pub const LOCATION: &str = "location";
    pub const USE_TLS: &str = "use_tls";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const TOKEN: &str = "token";
    pub const TLS_CA_FILE: &str = "tls_ca_file";
    pub const TLS_INSECURE_NO_VERIFY: &str = "tls_insecure_no_verify";
    pub const DOCKER_CONFIG: &str = "docker_config";
    pub const PASSWORD_FILE: &str = "password_file";
    pub const MAX_GUEST_MEMORY: &str = "max_guest_memory";
    pub const MAX_INSTANCES: &str = "max_instances";
    pub const INSTANCE_WAIT: &str = "instance_wait";
    pub const MAX_GET_SIZE: &str = "max_get_size";
    pub const READ_CACHE: &str = "read_cache";
    pub const BLOB_MAP: &str = "blob_map";
}

/// Every option, component's first, in the order of docs/configuration.md.
pub const OPTIONS: &[OptionSpec] = &[
    component(name::LOCATION, Kind::Location, ""),
    component(name::USE_TLS, Kind::Flag, "true, false for loopback"),
    component("repository_prefix", Kind::Prefix, ""),
    component("media_type", Kind::MediaType, DEFAULT_MEDIA_TYPE),
    component(name::USERNAME, Kind::Text, ""),
    secret(name::PASSWORD),
    secret(name::TOKEN),
    component("retries", Kind::Number { min: 0, max: 20 }, "4"),
    component("retry_budget", Kind::Seconds { min: 1, max: 3600 }, "120"),
    component("timeout", Kind::Seconds { min: 1, max: 3600 }, "120"),
    component(
        "deadline",
        Kind::Seconds {
            min: 1,
            max: 86_400,
        },
        "600",
    ),
    component(
        "upload_mode",
        Kind::Choice(&["chunked", "stream", "monolithic"]),
        "chunked",
    ),
    component(
        "chunk_size",
        Kind::Size {
            min: MIN_CHUNK_SIZE,
            max: MAX_CHUNK_SIZE,
        },
        "8MiB",
    ),
    host(name::TLS_CA_FILE, Kind::Path, ""),
    host(name::TLS_INSECURE_NO_VERIFY, Kind::StrictFlag, "false"),
    host(
        name::DOCKER_CONFIG,
        Kind::Path,
        "$DOCKER_CONFIG, else ~/.docker",
    ),
    host(name::PASSWORD_FILE, Kind::Path, ""),
    // wasm32 memories end at 4 GiB.
    host(
        name::MAX_GUEST_MEMORY,
        Kind::Size {
            min: 1 << 20,
            max: 4 << 30,
        },
        "1GiB",
    ),
    host(
        name::MAX_INSTANCES,
        Kind::Number {
            min: 1,
            max: MAX_INSTANCES,
        },
        "64",
    ),
    host(
        name::INSTANCE_WAIT,
        Kind::Seconds {
            min: 1,
            max: 86_400,
        },
        "300",
    ),
    host(
        name::MAX_GET_SIZE,
        Kind::Size {
            min: 1,
            max: u64::MAX,
        },
        "1GiB",
    ),
    // Half of it bounds one kept read: 1 GiB keeps reads of 512 MiB.
    host(
        name::READ_CACHE,
        Kind::Size {
            min: 0,
            max: 1 << 30,
        },
        "64MiB",
    ),
    // The host's blob mappings between processes: a directory, or `off`.
    host(
        name::BLOB_MAP,
        Kind::Path,
        "blob-maps in the compilation cache's directory",
    ),
];

/// The most component instances one host handle may keep (`max_instances`).
pub const MAX_INSTANCES: u64 = 64;

const fn count(consumer: Consumer) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < OPTIONS.len() {
        if OPTIONS[i].consumer as u8 == consumer as u8 {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn names<const N: usize>(consumer: Consumer) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut n) = (0, 0);
    while i < OPTIONS.len() {
        if OPTIONS[i].consumer as u8 == consumer as u8 {
            out[n] = OPTIONS[i].name;
            n += 1;
        }
        i += 1;
    }
    out
}

/// Keys the component understands. Host-level keys (TLS files and the like)
/// are consumed by the host and never reach the component.
pub const KNOWN_OPTIONS: [&str; count(Consumer::Component)] = names(Consumer::Component);

/// Keys the host consumes and never passes to the component, which rejects
/// options it does not know.
pub const HOST_OPTIONS: [&str; count(Consumer::Host)] = names(Consumer::Host);

/// The option named `name`, which the table must hold.
pub fn option(name: &str) -> &'static OptionSpec {
    OPTIONS
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("option '{name}' is not in the table"))
}

/// The option named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The parsers below read a host option exactly as written (no surrounding
/// space, suffixes as documented) and never quote its value back: the host
/// has always read its options so, and they sit beside secrets on a command
/// line. The component's options keep their lenient reading.
impl OptionSpec {
    /// A whole number in the option's range (`Number`, `Seconds`).
    pub fn number(&self, value: &str) -> Result<u64, StoreError> {
        match (self.kind, self.consumer) {
            (Kind::Number { min, max } | Kind::Seconds { min, max }, Consumer::Component) => {
                parse_number(self.name, value, min, max)
            }
            (Kind::Number { min, max } | Kind::Seconds { min, max }, Consumer::Host) => {
                parse_exact_number(self.name, value, min, max)
            }
            _ => unreachable!("option '{}' is no number", self.name),
        }
    }

    /// Seconds in the option's range.
    pub fn seconds(&self, value: &str) -> Result<std::time::Duration, StoreError> {
        self.number(value).map(std::time::Duration::from_secs)
    }

    /// A byte count in the option's range (`Size`).
    pub fn size(&self, value: &str) -> Result<u64, StoreError> {
        match (self.kind, self.consumer) {
            (Kind::Size { min, max }, Consumer::Component) => {
                parse_size(self.name, value, min, max)
            }
            (Kind::Size { min, max }, Consumer::Host) => {
                parse_exact_size(self.name, value, min, max)
            }
            _ => unreachable!("option '{}' is no size", self.name),
        }
    }

    /// A flag (`Flag`, `StrictFlag`).
    pub fn flag(&self, value: &str) -> Result<bool, StoreError> {
        match self.kind {
            Kind::Flag => parse_bool(self.name, value),
            Kind::StrictFlag => parse_exact_flag(self.name, value),
            _ => unreachable!("option '{}' is no flag", self.name),
        }
    }
}

/// Configuration pairs whose `Debug` shows every value but the secrets'.
pub struct Redacted<'a>(pub &'a [(String, String)]);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in self.0 {
            // An unknown key may be a misspelt secret: hidden too.
            match find(key) {
                Some(o) if !o.secret => map.entry(key, value),
                _ => map.entry(key, &format_args!("<redacted>")),
            };
        }
        map.finish()
    }
}

/// The defaults the table documents are the ones the code uses.
#[cfg(test)]
pub(super) fn documented_defaults_hold() {
    assert_eq!(option("media_type").default, DEFAULT_MEDIA_TYPE);
    let secs = |name: &str| option(name).default.parse::<u64>().unwrap();
    assert_eq!(secs("timeout"), super::DEFAULT_TIMEOUT.as_secs());
    assert_eq!(secs("deadline"), super::DEFAULT_DEADLINE.as_secs());
    let policy = crate::retry::DEFAULT_POLICY;
    assert_eq!(secs("retries"), policy.retries as u64);
    assert_eq!(secs("retry_budget"), policy.budget.as_secs());
    assert_eq!(
        option("chunk_size")
            .size(option("chunk_size").default)
            .unwrap(),
        super::DEFAULT_CHUNK_SIZE as u64
    );
    // The host takes its limits' defaults from the table, through the
    // option's own parser: each must parse.
    for o in OPTIONS.iter().filter(|o| o.consumer == Consumer::Host) {
        let parsed = match o.kind {
            Kind::Size { .. } => o.size(o.default).map(drop),
            Kind::Number { .. } | Kind::Seconds { .. } => o.number(o.default).map(drop),
            Kind::StrictFlag => o.flag(o.default).map(drop),
            Kind::Path => Ok(()),
            other => panic!("host option {} of kind {other:?}", o.name),
        };
        assert_eq!(parsed, Ok(()), "{}", o.name);
    }
    assert_eq!(option("max_instances").number("64"), Ok(MAX_INSTANCES));
}
