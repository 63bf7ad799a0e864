//! The host's configure step: the host keys taken out of a store
//! configuration before the rest goes to the component (their names, kinds,
//! ranges, defaults and parsers are rows of the core's option table,
//! `kloset_oci::config::options`), the password read from `password_file`,
//! Docker logins and credential helpers ([`docker_config`], [`helper`],
//! [`password_file`]), and the egress a configuration gets ([`prepare`]).
//!
//! Below the plugin and the store, above the egress: it builds the egress
//! a handle's instances send through, and nothing here runs the component.

pub(crate) mod docker_config;
pub(crate) mod helper;
pub(crate) mod password_file;
pub(crate) mod prepare;

use std::path::PathBuf;

use crate::error::Error;
use kloset_oci::config::options::name::*;
use kloset_oci::config::options::{option, OptionSpec};

/// Keys the host consumes and never passes to the component, which rejects
/// options it does not know: the host's rows of the core's option table
/// (`kloset_oci::config::options::OPTIONS`).
pub const HOST_KEYS: &[&str] = &kloset_oci::config::HOST_OPTIONS;

/// Where a handle keeps its blob mappings between processes (`blob_map`;
/// [`crate::plugin::blob_map`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// `blob-maps` in the compilation cache's directory.
    #[default]
    Beside,
    /// Only in memory, for the handle's life (`blob_map=off`).
    Off,
    /// In this directory.
    Dir(PathBuf),
}

/// What the host takes from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Extra CA certificates to trust, if any.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any certificate from the registry's own host.
    pub tls_insecure_no_verify: bool,
    /// The registry's `host[:port]`, as the component will address it:
    /// read by the core's configuration parser ([`prepare`]), `None` when
    /// that parser refuses the configuration (its error is kept there).
    pub registry_authority: Option<String>,
    /// Where Docker's `config.json` is, when not the default place.
    pub docker_config: Option<PathBuf>,
    /// A file holding the password.
    pub password_file: Option<PathBuf>,
    /// The host's limits on instances and memory.
    pub limits: Limits,
    /// Where blob mappings are kept between processes (`blob_map`).
    pub blob_map: Placement,
}

/// What the host allows a store handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory per instance.
    pub max_guest_memory: u64,
    /// Instances at once (1 to [`crate::plugin::pool::MAX_INSTANCES`]).
    pub max_instances: usize,
    /// How long a call waits for a free instance.
    pub instance_wait: std::time::Duration,
    /// Bytes a whole `get` may collect.
    pub max_get_size: u64,
    /// Bytes of packfile blocks kept for ranged reads
    /// ([`crate::store::read_cache`]).
    pub read_cache: u64,
}

/// The defaults the core's option table states, read by each option's own
/// parser (the core's tests check each parses).
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_guest_memory: table_default(MAX_GUEST_MEMORY, OptionSpec::size),
            max_instances: table_default(MAX_INSTANCES, OptionSpec::number) as usize,
            instance_wait: table_default(INSTANCE_WAIT, OptionSpec::seconds),
            max_get_size: table_default(MAX_GET_SIZE, OptionSpec::size),
            read_cache: table_default(READ_CACHE, OptionSpec::size),
        }
    }
}

fn table_default<T>(
    key: &str,
    parse: fn(&OptionSpec, &str) -> Result<T, crate::ContractError>,
) -> T {
    let spec = option(key);
    parse(spec, spec.default)
        .unwrap_or_else(|e| panic!("the option table's default of '{key}' does not parse: {e}"))
}

/// Separates host keys from the component's configuration. Order and every
/// other key are kept as given; `location` goes to both.
///
/// A host key given twice, or a bad value for one, is
/// [`crate::ContractError::InvalidConfig`] naming the key. The component checks its own
/// keys (duplicates included) itself.
pub fn split(config: &[(String, String)]) -> Result<(HostConfig, Vec<(String, String)>), Error> {
    let mut host = HostConfig::default();
    let mut guest = Vec::with_capacity(config.len());
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in config {
        let Some(&host_key) = HOST_KEYS.iter().find(|k| **k == key) else {
            guest.push((key.clone(), value.clone()));
            continue;
        };
        if seen.contains(&host_key) {
            return Err(Error::invalid_config(format!(
                "option '{host_key}' is given twice"
            )));
        }
        seen.push(host_key);
        // Kinds, ranges and parsers are the core's option table's.
        let spec = option(host_key);
        match host_key {
            TLS_CA_FILE => host.tls_ca_file = Some(PathBuf::from(value)),
            TLS_INSECURE_NO_VERIFY => host.tls_insecure_no_verify = spec.flag(value)?,
            DOCKER_CONFIG => host.docker_config = Some(PathBuf::from(value)),
            PASSWORD_FILE => host.password_file = Some(PathBuf::from(value)),
            MAX_GUEST_MEMORY => host.limits.max_guest_memory = spec.size(value)?,
            MAX_INSTANCES => host.limits.max_instances = spec.number(value)? as usize,
            INSTANCE_WAIT => host.limits.instance_wait = spec.seconds(value)?,
            MAX_GET_SIZE => host.limits.max_get_size = spec.size(value)?,
            READ_CACHE => host.limits.read_cache = spec.size(value)?,
            BLOB_MAP => host.blob_map = blob_map(value)?,
            _ => unreachable!("every host key is handled"),
        }
    }
    // A TLS option says the registry speaks TLS: without this, the
    // component's default of plain HTTP for loopback registries would
    // ignore it. An explicit `use_tls` still wins.
    let tls_option_given = seen.contains(&TLS_CA_FILE) || seen.contains(&TLS_INSECURE_NO_VERIFY);
    if tls_option_given && !guest.iter().any(|(key, _)| key == USE_TLS) {
        guest.push((USE_TLS.to_string(), "true".to_string()));
    }
    Ok((host, guest))
}

/// `off`, or a directory (absolute, so a plugin's working directory
/// never decides where mappings go).
fn blob_map(value: &str) -> Result<Placement, Error> {
    if value == "off" {
        return Ok(Placement::Off);
    }
    let dir = PathBuf::from(value);
    if !dir.is_absolute() {
        return Err(Error::invalid_config(format!(
            "option '{BLOB_MAP}' is an absolute directory, or off"
        )));
    }
    Ok(Placement::Dir(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn host_keys_are_stripped_and_others_kept_in_order() {
        let (host, guest) = split(&pairs(&[
            ("location", "oci://127.0.0.1:5000/demo"),
            ("tls_ca_file", "/etc/ca.pem"),
            ("use_tls", "false"),
            ("tls_insecure_no_verify", "true"),
        ]))
        .unwrap();
        assert_eq!(host.tls_ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(host.tls_insecure_no_verify);
        assert_eq!(
            guest,
            pairs(&[
                ("location", "oci://127.0.0.1:5000/demo"),
                ("use_tls", "false")
            ])
        );
    }

    #[test]
    fn a_tls_option_asks_the_component_for_tls_unless_use_tls_is_given() {
        for key in [TLS_CA_FILE, TLS_INSECURE_NO_VERIFY] {
            let value = if key == TLS_CA_FILE {
                "/ca.pem"
            } else {
                "false"
            };
            let (_, guest) = split(&pairs(&[
                ("location", "oci://localhost:5000/a"),
                (key, value),
            ]))
            .unwrap();
            assert_eq!(
                guest,
                pairs(&[("location", "oci://localhost:5000/a"), ("use_tls", "true")]),
                "{key}"
            );
        }
        let (_, guest) = split(&pairs(&[("location", "oci://localhost/a")])).unwrap();
        assert_eq!(guest, pairs(&[("location", "oci://localhost/a")]));
    }

    #[test]
    fn without_host_keys_nothing_is_trusted_extra_and_verification_is_on() {
        let (host, guest) = split(&pairs(&[("location", "oci://ghcr.io/a/b")])).unwrap();
        assert_eq!(host.tls_ca_file, None);
        assert!(!host.tls_insecure_no_verify);
        assert_eq!(guest, pairs(&[("location", "oci://ghcr.io/a/b")]));
    }

    #[test]
    fn insecure_flag_table() {
        let cases: &[(&str, Option<bool>)] = &[
            ("true", Some(true)),
            ("false", Some(false)),
            // Stricter than the component's booleans on purpose: a typo in a
            // flag that disables verification is refused, not guessed at.
            ("TRUE", None),
            ("1", None),
            ("yes", None),
            ("", None),
            (" true", None),
            ("maybe", None),
        ];
        for (value, want) in cases {
            let got = split(&pairs(&[
                ("location", "oci://h/r"),
                ("tls_insecure_no_verify", value),
            ]));
            match (got, want) {
                (Ok((host, guest)), Some(flag)) => {
                    assert_eq!(host.tls_insecure_no_verify, *flag, "{value:?}");
                    assert_eq!(
                        guest,
                        pairs(&[("location", "oci://h/r"), ("use_tls", "true")]),
                        "{value:?}"
                    );
                }
                (Err(Error::Contract(crate::ContractError::InvalidConfig(msg))), None) => {
                    assert!(msg.contains("tls_insecure_no_verify"), "{value:?}: {msg}");
                    assert!(msg.contains("true or false"), "{value:?}: {msg}");
                }
                (other, _) => panic!("{value:?}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_value_is_not_quoted_back() {
        let err = split(&pairs(&[("tls_insecure_no_verify", "hunter2")])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_host_key_given_twice_is_invalid_config() {
        for key in HOST_KEYS {
            let value = match *key {
                TLS_INSECURE_NO_VERIFY => "false",
                MAX_GUEST_MEMORY => "64M",
                "blob_map" => "off",
                _ => "1",
            };
            let err = split(&pairs(&[(key, value), (key, value)])).unwrap_err();
            match err {
                Error::Contract(crate::ContractError::InvalidConfig(msg)) => {
                    assert!(msg.contains(key) && msg.contains("twice"), "{msg}")
                }
                other => panic!("{key}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn limits_are_read_and_bad_ones_refused() {
        let (host, guest) = split(&pairs(&[
            ("max_guest_memory", "64MiB"),
            ("max_instances", "2"),
            ("instance_wait", "5"),
            ("max_get_size", "1K"),
            ("read_cache", "0"),
        ]))
        .unwrap();
        assert!(guest.is_empty());
        assert_eq!(
            host.limits,
            Limits {
                max_guest_memory: 64 << 20,
                max_instances: 2,
                instance_wait: std::time::Duration::from_secs(5),
                max_get_size: 1024,
                read_cache: 0,
            }
        );
        for (key, bad) in [
            ("max_guest_memory", "5G"),
            ("max_guest_memory", "1K"),
            ("max_instances", "0"),
            ("max_instances", "65"),
            ("instance_wait", "0"),
            ("max_get_size", "0"),
            ("read_cache", "2G"),
            ("read_cache", "-1"),
        ] {
            let err = split(&pairs(&[(key, bad)])).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={bad}: {err}");
        }
    }
}
