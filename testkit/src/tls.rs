//! A throwaway PKI for TLS tests: a CA, a server certificate it signs for
//! `127.0.0.1` and `localhost`, and an unrelated second CA, made with the
//! `openssl` command in a temporary directory.
//!
//! Design decisions:
//! - The `openssl` CLI (Debian's, always on these machines) rather than a
//!   certificate crate: nothing new to compile, and the files are what an
//!   operator would make by hand.
//! - rustls (webpki) is stricter than most TLS stacks about extensions: the
//!   CA needs `basicConstraints=critical,CA:TRUE` and `keyCertSign`, the
//!   leaf an IP subjectAltName (a CN is never matched) and `serverAuth`.
//!   [`TestPki::new`] verifies the chain with rustls's own verifier, so a
//!   PKI that rustls would refuse fails here, with that reason, rather than
//!   as a puzzling handshake error in some test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;
use tempfile::TempDir;

use super::registry::TlsFiles;

/// Days the certificates are valid: a test run never gets near the end.
const VALID_DAYS: &str = "3";

/// The configuration file openssl is given, in the PKI's directory.
const CONFIG_FILE: &str = "openssl.cnf";

/// The extensions of both kinds of certificate, for `-extensions NAME`.
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kloset test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
";

/// A CA, a server certificate and key signed by it, and another CA that
/// signed nothing here. The files live until the value is dropped; a
/// registry reads them at start, so they may go before it stops.
pub struct TestPki {
    dir: TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_ca: PathBuf,
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl TestPki {
    /// Makes the PKI, or panics saying why: `openssl` is missing or failed
    /// (its stderr is quoted), or rustls refuses the chain.
    pub fn new() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("kloset-test-pki-")
            .tempdir()
            .unwrap_or_else(|e| panic!("test PKI: cannot create a temporary directory: {e}"));
        let pki = TestPki {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
            other_ca: dir.path().join("other-ca.pem"),
            dir,
        };
        let config = pki.dir.path().join(CONFIG_FILE);
        std::fs::write(&config, OPENSSL_CONFIG)
            .unwrap_or_else(|e| panic!("test PKI: cannot write {}: {e}", config.display()));

        pki.make_ca("ca", "kloset test CA");
        pki.make_ca("other-ca", "kloset unrelated test CA");

        pki.make_key("server.key");
        #[rustfmt::skip]
        pki.openssl(&[
            "req", "-new", "-config", CONFIG_FILE, "-key", "server.key",
            "-subj", "/CN=localhost", "-out", "server.csr",
        ]);
        let serial = format!("0x{:032x}", rand::random::<u128>());
        #[rustfmt::skip]
        pki.openssl(&[
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", &serial, "-days", VALID_DAYS, "-sha256",
            "-extfile", CONFIG_FILE, "-extensions", "server_ext", "-out", "server.pem",
        ]);

        pki.check_with_rustls();
        pki
    }

    /// The CA certificate (PEM) that signed [`TestPki::cert_pem`].
    pub fn ca_pem(&self) -> &Path {
        &self.ca
    }

    /// The server certificate (PEM) for `127.0.0.1` and `localhost`.
    pub fn cert_pem(&self) -> &Path {
        &self.cert
    }

    /// The server certificate's private key (PEM, PKCS#8, EC P-256).
    pub fn key_pem(&self) -> &Path {
        &self.key
    }

    /// A CA certificate (PEM) unrelated to the server certificate.
    pub fn other_ca_pem(&self) -> &Path {
        &self.other_ca
    }

    /// The files a TLS registry needs: its certificate and key, and the CA
    /// its readiness probe trusts.
    pub fn server_files(&self) -> TlsFiles {
        TlsFiles {
            certificate: self.cert_pem().to_path_buf(),
            key: self.key_pem().to_path_buf(),
            ca: self.ca_pem().to_path_buf(),
        }
    }

    /// Whether rustls, trusting only `ca`, accepts the server certificate
    /// for `name`; the refusal's reason otherwise.
    pub fn rustls_accepts(&self, ca: &Path, name: &str) -> Result<(), rustls::Error> {
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(root_store(ca)),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("a root store with one CA makes a verifier");
        let name = ServerName::try_from(name.to_string()).expect("a valid server name");
        verifier
            .verify_server_cert(
                &read_cert(self.cert_pem()),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    fn check_with_rustls(&self) {
        for name in ["127.0.0.1", "localhost"] {
            if let Err(e) = self.rustls_accepts(self.ca_pem(), name) {
                panic!(
                    "test PKI: rustls refuses the server certificate {} for {name} \
                     under the CA {}: {e}",
                    self.cert_pem().display(),
                    self.ca_pem().display()
                );
            }
        }
    }

    /// Makes `STEM.key` and the self-signed `STEM.pem`.
    fn make_ca(&self, stem: &str, common_name: &str) {
        let key = format!("{stem}.key");
        self.make_key(&key);
        let subject = format!("/CN={common_name}");
        let cert = format!("{stem}.pem");
        #[rustfmt::skip]
        self.openssl(&[
            "req", "-x509", "-new", "-config", CONFIG_FILE, "-extensions", "ca_ext",
            "-key", &key, "-sha256", "-days", VALID_DAYS, "-subj", &subject, "-out", &cert,
        ]);
    }

    fn make_key(&self, name: &str) {
        #[rustfmt::skip]
        self.openssl(&[
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name,
        ]);
    }

    /// Runs `openssl ARGS...` in the directory (file names in `args` are
    /// relative to it), panicking unless it succeeds.
    fn openssl(&self, args: &[&str]) {
        super::openssl::run(self.dir.path(), args, "test PKI");
    }
}

/// The first certificate of a PEM file; panics naming the file otherwise.
pub fn read_cert(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("test PKI: no certificate in {}: {e}", path.display()))
}

/// A root store holding only the certificates of the PEM file `ca`.
pub fn root_store(ca: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .unwrap_or_else(|e| panic!("test PKI: cannot read {}: {e}", ca.display()));
    for cert in certs {
        let cert = cert.unwrap_or_else(|e| panic!("test PKI: bad PEM in {}: {e}", ca.display()));
        roots
            .add(cert)
            .unwrap_or_else(|e| panic!("test PKI: unusable CA in {}: {e}", ca.display()));
    }
    roots
}

/// A TLS client configuration trusting only the CA certificates in `ca`,
/// for the harness's own requests.
pub fn client_config_trusting(ca: &Path) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(root_store(ca))
        .with_no_client_auth();
    Arc::new(config)
}
