//! Splits the store configuration into what the host consumes itself and what
//! the component receives.

use std::path::PathBuf;

use crate::StoreError;

/// The option naming a PEM file of extra CA certificates. The host needs it
/// to build its TLS roots; the component has no use for it.
pub const TLS_CA_FILE: &str = "tls_ca_file";

/// The option that, when `true`, skips verifying the registry's certificate
/// (and only the registry's: see [`crate::tls`]).
pub const TLS_INSECURE_NO_VERIFY: &str = "tls_insecure_no_verify";

/// The option naming the directory of a Docker `config.json` to take
/// credentials from (default: `$DOCKER_CONFIG`, else `~/.docker`).
pub const DOCKER_CONFIG: &str = "docker_config";

/// The option holding `oci://HOST[:PORT]/REPOSITORY`.
pub const LOCATION: &str = "location";

/// Keys the host consumes and never passes to the component, which rejects
/// options it does not know.
pub const HOST_KEYS: &[&str] = &[TLS_CA_FILE, TLS_INSECURE_NO_VERIFY, DOCKER_CONFIG];

/// What the host takes from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Extra CA certificates to trust, if any.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any certificate from the registry's own host.
    pub tls_insecure_no_verify: bool,
    /// The registry's `host[:port]`, taken from `location`, if it has one.
    pub registry_authority: Option<String>,
    /// Where Docker's `config.json` is, when not the default place.
    pub docker_config: Option<PathBuf>,
}

/// Separates host keys from the component's configuration. Order and every
/// other key are kept as given; `location` goes to both.
///
/// A host key given twice, or a bad value for one, is
/// [`StoreError::InvalidConfig`] naming the key. The component checks its own
/// keys (duplicates included) itself.
pub fn split(
    config: &[(String, String)],
) -> Result<(HostConfig, Vec<(String, String)>), StoreError> {
    let mut host = HostConfig::default();
    let mut guest = Vec::with_capacity(config.len());
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in config {
        if key == LOCATION {
            host.registry_authority = location_authority(value);
        }
        let Some(&host_key) = HOST_KEYS.iter().find(|k| **k == key) else {
            guest.push((key.clone(), value.clone()));
            continue;
        };
        if seen.contains(&host_key) {
            return Err(StoreError::InvalidConfig(format!(
                "option '{host_key}' is given twice"
            )));
        }
        seen.push(host_key);
        match host_key {
            TLS_CA_FILE => host.tls_ca_file = Some(PathBuf::from(value)),
            TLS_INSECURE_NO_VERIFY => host.tls_insecure_no_verify = parse_flag(host_key, value)?,
            DOCKER_CONFIG => host.docker_config = Some(PathBuf::from(value)),
            _ => unreachable!("every host key is handled"),
        }
    }
    // A TLS option says the registry speaks TLS: without this, the
    // component's default of plain HTTP for loopback registries would
    // ignore it. An explicit `use_tls` still wins.
    let tls_option_given = seen.contains(&TLS_CA_FILE) || seen.contains(&TLS_INSECURE_NO_VERIFY);
    if tls_option_given && !guest.iter().any(|(key, _)| key == "use_tls") {
        guest.push(("use_tls".to_string(), "true".to_string()));
    }
    Ok((host, guest))
}

/// `true` or `false`, nothing else: this flag turns a security check off, so
/// a typo must not be read as either. The value is not quoted back, as
/// option values in general may be secrets.
fn parse_flag(key: &str, value: &str) -> Result<bool, StoreError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(StoreError::InvalidConfig(format!(
            "option '{key}' must be true or false"
        ))),
    }
}

/// `oci://HOST[:PORT]/REPO...` -> `HOST[:PORT]`. Anything else gives `None`
/// and is left for the component's `from-config` to reject.
pub fn location_authority(location: &str) -> Option<String> {
    const PREFIX: &str = "oci://";
    let head = location.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let rest = &location[PREFIX.len()..];
    let authority = rest.split('/').next().unwrap_or_default();
    // Credentials in the location are not part of where requests go.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    (!authority.is_empty()).then(|| authority.to_string())
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
        assert_eq!(host.registry_authority.as_deref(), Some("127.0.0.1:5000"));
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
            let value = if key == TLS_CA_FILE { "/ca.pem" } else { "false" };
            let (_, guest) = split(&pairs(&[("location", "oci://localhost:5000/a"), (key, value)])).unwrap();
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
                (Err(StoreError::InvalidConfig(msg)), None) => {
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
            let err = split(&pairs(&[(key, "false"), (key, "false")])).unwrap_err();
            match err {
                StoreError::InvalidConfig(msg) => {
                    assert!(msg.contains(key) && msg.contains("twice"), "{msg}")
                }
                other => panic!("{key}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn location_authority_table() {
        let cases = [
            ("oci://ghcr.io/org/repo", Some("ghcr.io")),
            ("OCI://Ghcr.io/org/repo", Some("Ghcr.io")),
            ("oci://127.0.0.1:5000/demo", Some("127.0.0.1:5000")),
            ("oci://[::1]:5000/demo", Some("[::1]:5000")),
            ("oci://host-only", Some("host-only")),
            ("oci://user@ghcr.io/x", Some("ghcr.io")),
            ("oci:///repo", None),
            ("oci://", None),
            ("https://ghcr.io/x", None),
            ("ghcr.io/x", None),
            ("", None),
        ];
        for (location, want) in cases {
            assert_eq!(
                location_authority(location).as_deref(),
                want,
                "{location:?}"
            );
        }
    }
}
