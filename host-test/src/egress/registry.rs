//! What a store handle and the component's own registry client both need
//! from a configuration: the host keys taken out (the password read from
//! `password_file`), an egress that admits the registry with the configured
//! TLS roots, and, once the caller has validated the rest, the Docker login
//! added when nothing else gives credentials.

use std::sync::Arc;

use crate::config::{HostConfig, Limits};
use crate::egress::allow_list::AllowList;
use crate::egress::{Egress, RequestCounts};
use crate::{
    config, credentials::docker_config, credentials::password_file, egress::tls, StoreError,
};

/// A configuration taken apart, before any credential helper ran.
pub struct Prepared {
    pub egress: Egress,
    /// The component's part (host keys removed).
    pub guest: Vec<(String, String)>,
    pub limits: Limits,
    /// Where blob mappings are kept between processes.
    pub blob_map: crate::store::blob_map::Placement,
    host: HostConfig,
}

/// Splits `config`, reads `password_file` and builds the egress for its
/// registry, counting into `requests`. Runs no credential helper: the
/// caller validates `guest` first, then calls [`Prepared::add_docker_login`].
pub fn prepare(
    config: &[(String, String)],
    requests: Arc<RequestCounts>,
) -> Result<Prepared, StoreError> {
    let (host, mut guest) = config::split(config)?;
    if let Some(path) = &host.password_file {
        password_file::add_password(path, &mut guest)?;
    }
    let tls = tls::client_config(&host)?;
    let allow = allow_list(&guest);
    let egress =
        wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| Egress::new(tls, allow, requests));
    Ok(Prepared {
        egress,
        guest,
        limits: host.limits,
        blob_map: host.blob_map.clone(),
        host,
    })
}

/// The egress's allow-list for the component's part of a configuration:
/// the registry's origin as the component will use it. Its scheme is
/// `use_tls`, or the component's default for the location, so it is read
/// by the component's own configuration parser; a configuration that
/// parser refuses admits nothing (the component's `from-config` reports
/// it).
fn allow_list(guest: &[(String, String)]) -> AllowList {
    let mut allow = AllowList::new();
    if let Ok(store) = kloset_oci::config::StoreConfig::parse(guest) {
        let _ = allow.allow(&store.base_url());
    }
    allow
}

impl Prepared {
    /// Adds the Docker login for the registry (which may run a credential
    /// helper) when the store has no credentials of its own. Returns
    /// whether one was added.
    pub fn add_docker_login(&mut self) -> Result<bool, StoreError> {
        let environment_has_credentials = crate::plugin::state::CREDENTIAL_ENV
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
        allow_list(&guest).check(&request).is_ok()
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
}
