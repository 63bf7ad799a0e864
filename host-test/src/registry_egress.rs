//! What a store handle and the component's own registry client both need
//! from a configuration: the host keys taken out, the Docker login added
//! when nothing else gives credentials, and an egress that admits only the
//! registry, with the configured TLS roots.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::allow_list::AllowList;
use crate::egress::Egress;
use crate::{config, docker_config, tls, StoreError};

/// The egress for `config`'s registry, counting into `requests`, and the
/// configuration left for the store (host keys removed, a Docker login
/// possibly added).
pub fn registry_egress(
    config: &[(String, String)],
    requests: Arc<AtomicU64>,
) -> Result<(Egress, Vec<(String, String)>), StoreError> {
    let (host, mut guest_config) = config::split(config)?;
    let environment_has_credentials = crate::state::CREDENTIAL_ENV
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    docker_config::add_login(&host, &mut guest_config, environment_has_credentials)?;
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
    Ok((egress, guest_config))
}
