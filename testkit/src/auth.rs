//! Authentication of test registries: the settings (`RegistryAuth`), the
//! htpasswd file of a Basic-auth registry, and the key that signs the tokens
//! of a token-auth registry (served by `super::token_server`).
//!
//! Design decisions:
//! - Everything is made the way an operator would: bcrypt entries by
//!   Debian's `htpasswd` (apache2-utils), the token signing key and its
//!   self-signed certificate by the `openssl` CLI. Only the JWT signature is
//!   computed here, with `ring` (already built for rustls).
//! - What distribution 2.8.2 requires of a token, read from its
//!   `registry/auth/token` package and checked by `tests/host/auth_harness.rs`:
//!   `alg` ES256 with a raw `r || s` signature; the signing key named by
//!   `x5c` (standard base64 with padding, DER, verified up to a certificate
//!   of `rootcertbundle`: a self-signed leaf that is itself in the bundle is
//!   accepted) or by `kid` (libtrust's key fingerprint of a certificate in
//!   the bundle); `iss` equal to `issuer`; `aud` a single string (an array
//!   makes the token malformed) equal to `service`; `exp` and `nbf` in
//!   whole seconds, each given [`REGISTRY_TOKEN_LEEWAY`] (60 s) of slack.
//! - Secrets (passwords, refresh tokens) never appear in `Debug` output.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tempfile::TempDir;

/// The realm of an htpasswd registry's `Basic` challenge.
pub const HTPASSWD_REALM: &str = "kloset-test";

/// The `iss` of every token, and the registry's `auth.token.issuer`.
pub const TOKEN_ISSUER: &str = "kloset-test-token-server";

/// The default `service` (the registry's `auth.token.service`, and the
/// tokens' `aud`).
pub const DEFAULT_TOKEN_SERVICE: &str = "kloset-test-registry";

/// The slack distribution 2.8 gives a token's `exp` and `nbf`: `token.Leeway`
/// in `registry/auth/token/token.go`, 60 s, "to account for clock skew" (RFC
/// 7519 section 4.1.4). A token is refused only once `now > exp + 60 s`.
/// `tests/host/auth_harness.rs` measures it
/// (`the_registry_allows_60_seconds_past_exp_and_before_nbf`).
pub const REGISTRY_TOKEN_LEEWAY: Duration = Duration::from_secs(60);

/// How a test registry authenticates clients (`auth` in distribution's config).
#[derive(Clone, Default)]
pub enum RegistryAuth {
    /// No authentication: every request is allowed.
    #[default]
    None,
    /// `auth.htpasswd`: HTTP Basic against bcrypt entries made by
    /// `htpasswd -B` (user name, password). Every authenticated user may do
    /// everything: distribution's htpasswd controller has no per-user rights.
    /// distribution 2.8.2 serves it over plain HTTP too (its docs say it
    /// "MUST be used under TLS"; nothing enforces it, not even a warning).
    Htpasswd { users: Vec<(String, String)> },
    /// `auth.token`: Bearer tokens from a token server the harness starts
    /// beside the registry (`super::token_server::TokenServer`).
    Token(TokenAuth),
}

impl RegistryAuth {
    /// An htpasswd setting from `(user, password)` pairs.
    pub fn htpasswd(users: &[(&str, &str)]) -> RegistryAuth {
        RegistryAuth::Htpasswd {
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        }
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryAuth::None => f.write_str("None"),
            RegistryAuth::Htpasswd { users } => f
                .debug_struct("Htpasswd")
                .field("users", &users.iter().map(|(u, _)| u).collect::<Vec<_>>())
                .finish_non_exhaustive(),
            RegistryAuth::Token(token) => f.debug_tuple("Token").field(token).finish(),
        }
    }
}

/// The token server of a token-auth registry: who may get which tokens, and
/// how the server behaves.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    /// Users that may authenticate (Basic on `GET`, or a `POST` grant).
    pub users: Vec<TokenUser>,
    /// Requests without credentials: `None` answers them 401; `Some(actions)`
    /// issues anonymous tokens granting at most these actions on any
    /// repository (`Some(vec![])`: a token that opens only `/v2/`).
    pub anonymous: Option<Vec<String>>,
    /// How long a token lasts: `expires_in` in the answer, and (see
    /// [`TokenAuth::backdate`]) how long the registry accepts it. Whole
    /// seconds; the token spec asks for at least 60 s, tests go shorter on
    /// purpose.
    pub lifetime: Duration,
    /// How far back the token's time claims (`iat`, `nbf`, `exp`) are set, as
    /// by a token server whose clock is behind. With the default,
    /// [`REGISTRY_TOKEN_LEEWAY`], distribution's 60 s of slack is used up at
    /// issue, so the registry refuses a token `lifetime` (to `lifetime` + 1 s:
    /// claims are whole seconds) after it was issued, and a 2 s lifetime
    /// expires mid-session in 2 s rather than 62. `Duration::ZERO` writes
    /// plain claims (`exp = issue + lifetime`), which the registry then
    /// honours 60 s longer. The answer's `issued_at` and `expires_in` are
    /// never shifted.
    pub backdate: Duration,
    /// Whether `POST /token` (the OAuth2 form flow) is served; when false it
    /// answers 404 and clients must fall back to `GET`, as the spec says.
    pub post_supported: bool,
    /// The registry's `auth.token.service`, which tokens carry as `aud`.
    pub service: String,
}

impl Default for TokenAuth {
    fn default() -> Self {
        TokenAuth {
            users: Vec::new(),
            anonymous: None,
            lifetime: Duration::from_secs(300),
            backdate: REGISTRY_TOKEN_LEEWAY,
            post_supported: true,
            service: DEFAULT_TOKEN_SERVICE.to_string(),
        }
    }
}

impl TokenAuth {
    /// A token setting with these users and the defaults otherwise.
    pub fn with_users(users: Vec<TokenUser>) -> TokenAuth {
        TokenAuth {
            users,
            ..Default::default()
        }
    }
}

/// A user of the token server.
#[derive(Clone)]
pub struct TokenUser {
    pub name: String,
    pub password: String,
    /// The actions this user may be granted on any repository: some of
    /// `pull`, `push`, `delete`, or `*` for every action asked. A token for
    /// more carries only these (no error, per the token spec).
    pub actions: Vec<String>,
    /// This user's identity (refresh) token: accepted by
    /// `grant_type=refresh_token`, and handed out by a password grant asking
    /// `access_type=offline` (or a `GET` asking `offline_token=true`).
    pub refresh_token: Option<String>,
}

impl TokenUser {
    pub fn new(name: &str, password: &str, actions: &[&str]) -> TokenUser {
        TokenUser {
            name: name.to_string(),
            password: password.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            refresh_token: None,
        }
    }

    pub fn with_refresh_token(mut self, token: &str) -> TokenUser {
        self.refresh_token = Some(token.to_string());
        self
    }

    /// Whether this user may be granted `action`.
    pub fn may(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == "*" || a == action)
    }
}

impl fmt::Debug for TokenUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenUser")
            .field("name", &self.name)
            .field("actions", &self.actions)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

/// `Basic base64(user:password)`, an `Authorization` header value.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// `Bearer TOKEN`, an `Authorization` header value.
pub fn bearer_authorization(token: &str) -> String {
    format!("Bearer {token}")
}

/// Writes an htpasswd file of bcrypt entries, one `htpasswd -nBi USER` per
/// user (the password on stdin, so it never shows in a process list).
/// Panics, with the install command, when `htpasswd` is missing.
pub fn write_htpasswd(path: &Path, users: &[(String, String)]) {
    let mut file = String::new();
    for (user, password) in users {
        assert!(
            !user.is_empty() && !user.contains(':'),
            "htpasswd: user name {user:?} is empty or holds a ':'"
        );
        let mut child = Command::new("htpasswd")
            .args(["-nBi", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    panic!(
                        "htpasswd: the `htpasswd` command is not found: install Debian's \
                         apache2-utils package (apt-get install -y apache2-utils)"
                    )
                }
                panic!("htpasswd: cannot run htpasswd: {e}")
            });
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(password.as_bytes())
            .unwrap_or_else(|e| panic!("htpasswd: cannot write the password: {e}"));
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("htpasswd: cannot wait for htpasswd: {e}"));
        let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !output.status.success() || !line.starts_with(&format!("{user}:$2")) {
            panic!(
                "htpasswd: `htpasswd -nBi {user}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        file.push_str(&line);
        file.push('\n');
    }
    std::fs::write(path, file)
        .unwrap_or_else(|e| panic!("htpasswd: cannot write {}: {e}", path.display()));
}

/// How a token's header names its signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef {
    /// `x5c`: the certificate itself (what the token server sends).
    X5c,
    /// `kid`: libtrust's fingerprint of the key, looked up among the keys of
    /// the registry's `rootcertbundle`.
    Kid,
    /// Neither: distribution refuses such a token ("unable to get token
    /// signing key").
    Unnamed,
}

/// The openssl configuration of the signing certificate.
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kloset test token signer
[signer_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
";

/// An EC P-256 key and its self-signed certificate, made with `openssl` in a
/// temporary directory: the token server signs with the key, the registry
/// trusts the certificate (`rootcertbundle`).
pub struct SigningKey {
    dir: TempDir,
    certificate: PathBuf,
    certificate_der: Vec<u8>,
    key_id: String,
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// Makes the key and certificate, or panics saying why (`openssl`
    /// missing or failing, with its stderr; ring refusing the key).
    pub fn generate() -> SigningKey {
        let dir = tempfile::Builder::new()
            .prefix("kloset-test-token-key-")
            .tempdir()
            .unwrap_or_else(|e| panic!("token key: cannot create a temporary directory: {e}"));
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("openssl.cnf"), OPENSSL_CONFIG)
            .unwrap_or_else(|e| panic!("token key: cannot write openssl.cnf: {e}"));
        let run = |args: &[&str]| openssl(dir.path(), args);

        #[rustfmt::skip]
        run(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", "signer.key"]);
        // ring reads PKCS#8 (v1, with the public key) in DER.
        #[rustfmt::skip]
        run(&["pkcs8", "-topk8", "-nocrypt", "-in", "signer.key", "-outform", "DER",
              "-out", "signer.pk8"]);
        #[rustfmt::skip]
        run(&["req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "signer_ext",
              "-key", "signer.key", "-sha256", "-days", "3", "-out", "signer.pem"]);
        #[rustfmt::skip]
        run(&["x509", "-in", "signer.pem", "-outform", "DER", "-out", "signer.der"]);
        #[rustfmt::skip]
        run(&["pkey", "-in", "signer.key", "-pubout", "-outform", "DER", "-out", "signer.spki"]);

        let read = |name: &str| {
            std::fs::read(path(name))
                .unwrap_or_else(|e| panic!("token key: cannot read {name}: {e}"))
        };
        let rng = SystemRandom::new();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &read("signer.pk8"), &rng)
                .unwrap_or_else(|e| panic!("token key: ring refuses signer.pk8: {e}"));
        SigningKey {
            certificate: path("signer.pem"),
            certificate_der: read("signer.der"),
            key_id: libtrust_key_id(&read("signer.spki")),
            key_pair,
            rng,
            dir,
        }
    }

    /// The self-signed certificate (PEM): the registry's `rootcertbundle`.
    pub fn certificate_pem(&self) -> &Path {
        &self.certificate
    }

    /// The certificate in DER, as `x5c` carries it (base64).
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The key's libtrust fingerprint, what distribution expects in `kid`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The directory of the key files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A compact JWS (`header.claims.signature`, base64url without padding)
    /// of `claims`, signed ES256, the key named as `key_ref` says.
    pub fn sign(&self, claims: &serde_json::Value, key_ref: KeyRef) -> String {
        let mut header = serde_json::json!({"typ": "JWT", "alg": "ES256"});
        match key_ref {
            KeyRef::X5c => {
                header["x5c"] = serde_json::json!([STANDARD.encode(&self.certificate_der)])
            }
            KeyRef::Kid => header["kid"] = serde_json::json!(self.key_id),
            KeyRef::Unnamed => {}
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // The FIXED encoding is JOSE's `r || s` (RFC 7518 section 3.4), not DER.
        let signature = self
            .key_pair
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ring signs with a valid key");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("certificate", &self.certificate)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The header and claims of a JWT, decoded without checking anything: for
/// tests to see what a token grants.
pub fn decode_jwt(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut parts = token.split('.');
    let mut part = |what: &str| {
        let raw = parts
            .next()
            .unwrap_or_else(|| panic!("JWT: no {what} in {token:?}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .unwrap_or_else(|e| panic!("JWT: {what} is not base64url: {e}"));
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .unwrap_or_else(|e| panic!("JWT: {what} is not JSON: {e}"))
    };
    let header = part("header");
    let claims = part("claims");
    (header, claims)
}

/// Seconds since the Unix epoch, with the fraction.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// RFC 3339 UTC (`2006-01-02T15:04:05Z`) of Unix seconds: the host's own.
pub fn rfc3339(unix_seconds: i64) -> String {
    kloset_host::rfc3339_utc(u64::try_from(unix_seconds).expect("a time after 1970"))
}

/// libtrust's key ID (`keyIDFromCryptoKey`): the SHA-256 of the DER
/// SubjectPublicKeyInfo, cut to 240 bits, base32 without padding, in twelve
/// groups of four joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let encoded = base32(&digest.as_ref()[..30]);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Runs `openssl ARGS...` in `dir`, panicking unless it succeeds.
fn openssl(dir: &Path, args: &[&str]) {
    super::openssl::run(dir, args, "token key");
}
