//! What a store handle and the component's own registry client both need
//! from a configuration: the host keys taken out (the password read from
//! `password_file`), the configuration read once by the core's parser (the
//! registry's address, or why the configuration is refused), an egress
//! that admits the registry with the configured TLS roots, and, once the
//! caller has validated the rest, the Docker login added when nothing else
//! gives credentials.

use std::sync::Arc;

use kloset_oci::config::{StoreConfig, CREDENTIAL_ENV};

use crate::configure::{docker_config, password_file, split, HostConfig, Limits, Placement};
use crate::egress::allow_list::AllowList;
use crate::egress::tls::{self, Trust};
use crate::egress::{Egress, RequestCounts};
use crate::error::{ContractError, Error};

/// A configuration taken apart, before any credential helper ran.
pub struct Prepared {
    pub egress: Egress,
    /// The component's part (host keys removed).
    pub guest: Vec<(String, String)>,
    /// The component's part as the core's parser reads it (without the
    /// environment's credentials), or why it refuses it: the component's
    /// `from-config` runs the same parser and says the same.
    pub settings: Result<StoreConfig, ContractError>,
    pub limits: Limits,
    /// Where blob mappings are kept between processes.
    pub blob_map: Placement,
    host: HostConfig,
}

/// Splits `config`, reads `password_file` and builds the egress for its
/// registry, counting into `requests`. Runs no credential helper: the
/// caller validates `guest` first, then calls [`Prepared::add_docker_login`].
pub fn prepare(
    config: &[(String, String)],
    requests: Arc<RequestCounts>,
) -> Result<Prepared, Error> {
    let (mut host, mut guest) = split(config)?;
    if let Some(path) = &host.password_file {
        password_file::add_password(path, &mut guest)?;
    }
    let settings = StoreConfig::parse(&guest);
    // The registry as the component will address it: the core's location
    // grammar, so Docker logins and the TLS server name are looked up by the
    // same canonical text the component's requests carry (`[0:0::1]` is
    // `[::1]`, `Host` is `host`).
    host.registry_authority = settings.as_ref().ok().map(|s| s.registry.clone());
    let tls = tls::client_config(&Trust {
        ca_file: host.tls_ca_file.as_deref(),
        insecure_no_verify: host.tls_insecure_no_verify,
        registry_authority: host.registry_authority.as_deref(),
    })?;
    let allow = allow_list(settings.as_ref().ok());
    let egress =
        wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| Egress::new(tls, allow, requests));
    Ok(Prepared {
        egress,
        guest,
        settings,
        limits: host.limits,
        blob_map: host.blob_map.clone(),
        host,
    })
}

/// The egress's allow-list for a configuration the core's parser read:
/// the registry's origin as the component will use it (its scheme is
/// `use_tls`, or the component's default for the location). A
/// configuration that parser refuses admits nothing (the component's
/// `from-config` reports why).
fn allow_list(settings: Option<&StoreConfig>) -> AllowList {
    let mut allow = AllowList::new();
    if let Some(store) = settings {
        let _ = allow.allow(&store.base_url());
    }
    allow
}

impl Prepared {
    /// Adds the Docker login for the registry (which may run a credential
    /// helper) when the store has no credentials of its own. Returns
    /// whether one was added.
    pub fn add_docker_login(&mut self) -> Result<bool, Error> {
        let environment_has_credentials = CREDENTIAL_ENV
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        let before = self.guest.len();
        docker_config::add_login(&self.host, &mut self.guest, environment_has_credentials)?;
        Ok(self.guest.len() != before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a credentialed `GET url` is admitted as the registry, for a
    /// store configured with `options`.
    fn admitted(options: &[(&str, &str)], url: &str) -> bool {
        let guest: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let request = http::Request::get(url)
            .header("authorization", "Basic YTpi")
            .body(())
            .unwrap();
        allow_list(StoreConfig::parse(&guest).ok().as_ref())
            .check(&request)
            .is_ok()
    }

    #[test]
    fn the_registry_is_admitted_over_its_configured_scheme_only() {
        let https = [("location", "oci://127.0.0.1:5000/r"), ("use_tls", "true")];
        assert!(admitted(&https, "https://127.0.0.1:5000/v2/"));
        assert!(!admitted(&https, "http://127.0.0.1:5000/v2/"), "plain http");
        let http = [
            ("location", "oci://reg.example:5000/r"),
            ("use_tls", "false"),
        ];
        assert!(admitted(&http, "http://reg.example:5000/v2/"));
        assert!(!admitted(&http, "https://reg.example:5000/v2/"), "https");
        // Without use_tls, the component's default: https, or plain http
        // for a registry on this machine.
        let public = [("location", "oci://reg.example/r")];
        assert!(admitted(&public, "https://reg.example/v2/"));
        assert!(!admitted(&public, "http://reg.example/v2/"));
        assert!(!admitted(&public, "http://reg.example:443/v2/"));
        let local = [("location", "oci://localhost:5000/r")];
        assert!(admitted(&local, "http://localhost:5000/v2/"));
        assert!(!admitted(&local, "https://localhost:5000/v2/"));
        // A non-canonical IPv6 location: the component sends `[::1]:5000`.
        let v6 = [("location", "oci://[0:0::1]:5000/r")];
        assert!(admitted(&v6, "http://[::1]:5000/v2/"));
        // A configuration the component refuses admits nothing.
        let bad = [("location", "oci://reg.example/r"), ("use_tls", "perhaps")];
        assert!(!admitted(&bad, "https://reg.example/v2/"));
    }

    /// The registry's address is the core parser's canonical text, or
    /// nothing when it refuses the configuration, and then its words are
    /// kept for whoever reports them.
    #[test]
    fn the_registry_is_named_as_the_core_reads_it() {
        let authority = |location: &str| {
            let config = vec![("location".to_string(), location.to_string())];
            let prepared = prepare(&config, Arc::default()).unwrap();
            (prepared.host.registry_authority, prepared.settings)
        };
        let cases = [
            ("oci://ghcr.io/org/repo", Some("ghcr.io")),
            ("oci://Ghcr.io/org/repo", Some("ghcr.io")),
            ("oci://127.0.0.1:5000/demo", Some("127.0.0.1:5000")),
            ("oci://[0:0::1]:5000/demo", Some("[::1]:5000")),
            ("oci://[0:0:0:0:0:0:0:1]/demo", Some("[::1]")),
            ("OCI://ghcr.io/org/repo", None),
            ("oci://host-only", None),
            ("oci://user@ghcr.io/x", None),
            ("https://ghcr.io/x", None),
            ("", None),
        ];
        for (location, want) in cases {
            let (got, settings) = authority(location);
            assert_eq!(got.as_deref(), want, "{location:?}");
            match settings {
                Ok(_) => assert!(want.is_some(), "{location:?}"),
                Err(ContractError::InvalidConfig(why)) => assert!(!why.is_empty()),
                Err(other) => panic!("{location:?}: {other:?}"),
            }
        }
    }
}
