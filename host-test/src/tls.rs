//! The TLS client configuration of the egress: which certificate authorities
//! the host trusts for the registry.
//!
//! wasmtime's default sender trusts only the bundled webpki roots; registries
//! inside companies sit behind private CAs, so the system's store and an
//! optional PEM file (`tls_ca_file`) are trusted too.

use crate::StoreError;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// webpki roots plus the system's, loaded once per process: reading the
/// system store parses a few hundred files.
fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // A broken system certificate must not make the host unusable: the
        // unreadable ones are skipped and the rest kept.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        roots
    })
}

/// Reads every certificate of a PEM file. A missing or unreadable file, or one
/// without certificates, is a configuration error naming the path.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let invalid =
        |why: String| StoreError::InvalidConfig(format!("tls_ca_file {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    Ok(certs)
}

/// Builds the client configuration: the base roots, plus the
/// CA file's certificates when one is given.
pub fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, StoreError> {
    let mut roots = base_roots().clone();
    if let Some(path) = extra_ca {
        for cert in read_pem_certs(path)? {
            roots.add(cert).map_err(|e| {
                StoreError::InvalidConfig(format!(
                    "tls_ca_file {}: unusable certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    // Name the provider explicitly: rustls only picks one on its own when
    // exactly one is compiled in, which another crate could change.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Host(crate::HostError::Config(format!("TLS set-up: {e}"))))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // No ALPN here: hyper-rustls refuses a preset list and, HTTP/1.1 only,
    // leaves it empty.
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_invalid_config_naming_the_path() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        match err {
            StoreError::InvalidConfig(msg) => assert!(msg.contains("/nonexistent/ca.pem"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn file_without_certificates_is_invalid_config() {
        let dir = std::env::temp_dir().join(format!("kloset-host-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = client_config(Some(&path)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, StoreError::InvalidConfig(_)), "{err:?}");
    }

    #[test]
    fn no_extra_file_builds() {
        client_config(None).unwrap();
    }
}
