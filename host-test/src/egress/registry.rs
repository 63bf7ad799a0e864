//! What a store handle and the component's own registry client both need
//! from a configuration: the host keys taken out (the password read from
//! `password_file`), an egress that admits the registry with the configured
//! TLS roots, and, once the caller has validated the rest, the Docker login
//! added when nothing else gives credentials.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::config::{HostConfig, Limits};
use crate::egress::allow_list::AllowList;
use crate::egress::Egress;
use crate::{
    config, credentials::docker_config, credentials::password_file, egress::tls, StoreError,
};

/// A configuration taken apart, before any credential helper ran.
pub struct Prepared {
    pub egress: Egress,
    /// The component's part (host keys removed).
    pub guest: Vec<(String, String)>,
    pub limits: Limits,
    host: HostConfig,
}

/// Splits `config`, reads `password_file` and builds the egress for its
/// registry, counting into `requests`. Runs no credential helper: the
/// caller validates `guest` first, then calls [`Prepared::add_docker_login`].
pub fn prepare(
    config: &[(String, String)],
    requests: Arc<AtomicU64>,
) -> Result<Prepared, StoreError> {
    let (host, mut guest) = config::split(config)?;
    if let Some(path) = &host.password_file {
        password_file::add_password(path, &mut guest)?;
    }
    let tls = tls::client_config(&host)?;
    let mut allow = AllowList::new();
    if let Some(authority) = &host.registry_authority {
        // An authority that does not parse admits nothing; the store's
        // configuration (the component's `from-config`) reports the bad
        // location.
        let _ = allow.allow(authority);
    }
    let egress =
        wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| Egress::new(tls, allow, requests));
    Ok(Prepared {
        egress,
        guest,
        limits: host.limits,
        host,
    })
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
