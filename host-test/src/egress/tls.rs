//! The TLS client configuration of the egress: which certificate authorities
//! the host trusts, and the registry-only insecure mode.
//!
//! wasmtime's default sender trusts only the bundled webpki roots; registries
//! inside companies sit behind private CAs, so the system's store and an
//! optional PEM file (`tls_ca_file`) are trusted too.
//!
//! `tls_insecure_no_verify=true` is for registries with self-signed or
//! otherwise unverifiable certificates. It does not turn verification off for
//! the client as a whole: one client serves every request of a store handle,
//! including those to token realms on other hosts, which keep being verified.
//! Only a handshake whose server name is the registry's host skips the
//! certificate checks (on any port: a server name carries none). Even then the
//! handshake's signature is checked against the presented certificate, so the
//! peer must hold that certificate's key.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{Error as PemError, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use kloset_oci::config::options::name::TLS_CA_FILE;

use crate::echo;
use crate::error::Error;
use crate::local_file::{self, Rules};

/// A regular file of at most 4 MiB: Debian's whole CA bundle (about 150
/// certificates) is some 220 KB, so this holds any set of CAs a store
/// trusts, while `/dev/zero` or a FIFO named by mistake fails at once.
const CA_FILE_RULES: Rules = Rules {
    cap: 4 << 20,
    private: false,
};

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
/// without certificates, is a configuration error naming the path (never the
/// file's contents).
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let invalid = |why: String| {
        Error::Contract(crate::error::ContractError::InvalidConfig(format!(
            "option '{TLS_CA_FILE}' ({}): {why}",
            echo::path(path)
        )))
    };
    let bytes = local_file::read(path, CA_FILE_RULES).map_err(|e| invalid(e.to_string()))?;
    // Sections other than certificates (a key beside them) are skipped,
    // as rustls-pemfile's `certs` did.
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM: {}", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    Ok(certs)
}

/// What a PEM error says, in words that quote nothing of the file (the
/// file may hold a key beside its certificates).
fn pem_problem(err: &PemError) -> &'static str {
    match err {
        PemError::MissingSectionEnd { .. } => "a section has no END line",
        PemError::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        PemError::Base64Decode(_) => "a section is not valid base64",
        PemError::Io(_) => "it cannot be read",
        PemError::NoItemsFound => "it holds no certificate",
        PemError::SectionTooLarge => "a section is too large",
        _ => "it is malformed",
    }
}

/// What a store trusts, from its host options (`tls_ca_file`,
/// `tls_insecure_no_verify`) and its registry's `host[:port]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    pub ca_file: Option<&'a Path>,
    pub insecure_no_verify: bool,
    pub registry_authority: Option<&'a str>,
}

/// Builds the client configuration of a store handle: the base roots plus
/// the CA file's certificates when one is given, and the registry-only
/// insecure mode when asked for.
pub fn client_config(trust: &Trust) -> Result<ClientConfig, Error> {
    let mut roots = base_roots().clone();
    if let Some(path) = trust.ca_file {
        for cert in read_pem_certs(path)? {
            roots.add(cert).map_err(|e| {
                Error::Contract(crate::error::ContractError::InvalidConfig(format!(
                    "option '{TLS_CA_FILE}' ({}): unusable certificate: {e}",
                    echo::path(path)
                )))
            })?;
        }
    }
    // Name the provider explicitly: rustls only picks one on its own when
    // exactly one is compiled in, which another crate could change.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup_error(&e))?;
    let insecure_for = trust
        .insecure_no_verify
        .then(|| trust.registry_authority.and_then(server_name))
        .flatten();
    let config = match insecure_for {
        Some(registry) => {
            let verifier = SkipRegistryVerification::new(registry, Arc::new(roots), &provider)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
        // Without a usable location there is no registry to exempt; the
        // component's `from-config` reports the location.
        None => builder.with_root_certificates(roots).with_no_client_auth(),
    };
    // No ALPN here: hyper-rustls refuses a preset list and, HTTP/1.1 only,
    // leaves it empty.
    Ok(config)
}

fn setup_error(err: &dyn std::fmt::Display) -> Error {
    Error::Config(format!("TLS set-up: {err}"))
}

/// The name a TLS handshake with `host[:port]` is made for, as hyper-rustls
/// derives it from a request's URI: the host, IPv6 brackets removed.
fn server_name(authority: &str) -> Option<ServerName<'static>> {
    let authority: http::uri::Authority = authority.parse().ok()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host).ok().map(|n| n.to_owned())
}

/// Accepts any certificate for the registry's host; verifies every other
/// server with webpki against the handle's roots.
#[derive(Debug)]
struct SkipRegistryVerification {
    registry: ServerName<'static>,
    webpki: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SkipRegistryVerification {
    fn new(
        registry: ServerName<'static>,
        roots: Arc<RootCertStore>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| setup_error(&e))?;
        Ok(SkipRegistryVerification {
            registry,
            webpki,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ServerCertVerifier for SkipRegistryVerification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DNS names compare without regard to ASCII case.
        if *server_name == self.registry {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // The handshake signatures are verified for every server, the registry
    // included: they prove the peer holds the certificate's key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host<'a>(ca: Option<&'a str>, insecure: bool, authority: Option<&'a str>) -> Trust<'a> {
        Trust {
            ca_file: ca.map(Path::new),
            insecure_no_verify: insecure,
            registry_authority: authority,
        }
    }

    fn verifier(authority: &str) -> SkipRegistryVerification {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(base_roots().clone());
        SkipRegistryVerification::new(server_name(authority).unwrap(), roots, &provider).unwrap()
    }

    fn check(v: &SkipRegistryVerification, name: &str, cert: &[u8]) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name).unwrap();
        v.verify_server_cert(
            &CertificateDer::from(cert),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
    }

    #[test]
    fn missing_ca_file_is_invalid_config_naming_the_path() {
        let err = client_config(&host(Some("/nonexistent/ca.pem"), false, None)).unwrap_err();
        match err {
            Error::Contract(crate::error::ContractError::InvalidConfig(msg)) => {
                assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
                assert!(msg.contains("tls_ca_file"), "{msg}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn file_without_certificates_is_invalid_config_without_its_contents() {
        let dir = std::env::temp_dir().join(format!("kloset-host-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "s3cret-not-a-certificate\n").unwrap();
        let err = client_config(&host(path.to_str(), false, None)).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        match err {
            Error::Contract(crate::error::ContractError::InvalidConfig(msg)) => {
                assert!(!msg.contains("s3cret"), "{msg}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn configurations_build() {
        for (ca, insecure, authority) in [
            (None, false, None),
            (None, false, Some("ghcr.io")),
            (None, true, Some("127.0.0.1:5000")),
            (None, true, Some("[::1]:5000")),
            (None, true, Some("Registry.Example")),
            // No usable location: nothing to exempt, plain verification.
            (None, true, None),
            (None, true, Some("bad host:x")),
        ] {
            client_config(&host(ca, insecure, authority))
                .unwrap_or_else(|e| panic!("{insecure} {authority:?}: {e}"));
        }
    }

    #[test]
    fn server_name_table() {
        let cases = [
            ("127.0.0.1:5000", Some("127.0.0.1")),
            ("[::1]:5000", Some("::1")),
            ("ghcr.io", Some("ghcr.io")),
            ("ghcr.io:443", Some("ghcr.io")),
            ("bad host", None),
            ("", None),
        ];
        for (authority, want) in cases {
            let want = want.map(|w| ServerName::try_from(w).unwrap().to_owned());
            assert_eq!(server_name(authority), want, "{authority:?}");
        }
    }

    #[test]
    fn the_registry_host_skips_certificate_checks() {
        let v = verifier("Registry.Example:5000");
        // Not even a parsable certificate: nothing about it is looked at.
        check(&v, "registry.example", b"not a certificate").unwrap();
        check(&v, "REGISTRY.example", b"not a certificate").unwrap();
    }

    #[test]
    fn other_hosts_are_still_verified() {
        let v = verifier("registry.example:5000");
        for name in ["auth.example", "registry.example.evil", "127.0.0.1"] {
            let err = check(&v, name, b"not a certificate").unwrap_err();
            assert!(
                matches!(err, rustls::Error::InvalidCertificate(_)),
                "{name}: {err:?}"
            );
        }
        let v = verifier("127.0.0.1:5000");
        check(&v, "127.0.0.1", b"x").unwrap();
        assert!(check(&v, "127.0.0.2", b"x").is_err());
        assert!(check(&v, "localhost", b"x").is_err());
    }

    #[test]
    fn signature_schemes_are_the_providers() {
        let v = verifier("registry.example");
        let provider = rustls::crypto::ring::default_provider();
        assert_eq!(
            v.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
    }
}
