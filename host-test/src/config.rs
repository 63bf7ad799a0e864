//! Splits the store configuration into what the host consumes itself and what
//! the component receives.

use std::path::PathBuf;

/// The option naming a PEM file of extra CA certificates. The host needs it
/// to build its TLS roots; the component has no use for it.
pub const TLS_CA_FILE: &str = "tls_ca_file";

/// The option holding `oci://HOST[:PORT]/REPOSITORY`.
pub const LOCATION: &str = "location";

/// Keys the host consumes and never passes to the component.
const HOST_KEYS: &[&str] = &[TLS_CA_FILE];

/// What the host takes from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Extra CA certificates to trust, if any.
    pub tls_ca_file: Option<PathBuf>,
    /// The registry's `host[:port]`, taken from `location`, if it has one.
    pub registry_authority: Option<String>,
}

/// Separates host keys from the component's configuration. Order and every
/// other key are kept as given; `location` goes to both.
pub fn split(config: &[(String, String)]) -> (HostConfig, Vec<(String, String)>) {
    let mut host = HostConfig::default();
    let mut guest = Vec::with_capacity(config.len());
    for (key, value) in config {
        if key == TLS_CA_FILE {
            host.tls_ca_file = Some(PathBuf::from(value));
        }
        if key == LOCATION {
            host.registry_authority = location_authority(value);
        }
        if !HOST_KEYS.contains(&key.as_str()) {
            guest.push((key.clone(), value.clone()));
        }
    }
    (host, guest)
}

/// `oci://HOST[:PORT]/REPO...` -> `HOST[:PORT]`. Anything else gives `None`
/// and is left for the component's constructor to reject.
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
        ]));
        assert_eq!(host.tls_ca_file, Some(PathBuf::from("/etc/ca.pem")));
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
