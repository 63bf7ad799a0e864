//! Fixtures: the component, a registry per test, keys and data.

use kloset_host::{Mac, StoreHandle};
use kloset_testkit::auth::{basic_authorization, bearer_authorization};
pub use kloset_testkit::component::plugin;
pub use kloset_testkit::personality::hosted::Hosted;
use kloset_testkit::personality::{PersonalityProxy, Rules};
pub use kloset_testkit::requests::requests_of;
use kloset_testkit::tls::TestPki;
use kloset_testkit::{
    unique_repo, Implementation, Registry, RegistryAuth, RegistryOptions, TokenAuth, TokenUser,
};
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// The kinds of registry every check runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Anonymous, plain HTTP, with or without DELETE.
    Plain { deletes: bool },
    /// htpasswd Basic auth.
    Basic,
    /// Token auth, with the test token server.
    Token,
    /// TLS under a CA made by the test (the store trusts it by `tls_ca_file`).
    Tls,
    /// CNCF distribution v3 with `tags.maxtags` [`V3_MAX_TAGS`], so every tag
    /// list longer than that pages through `Link`; with or without DELETE.
    V3 { deletes: bool },
    /// ferro-oci-server 1.0.0 (crates.io): anonymous, plain HTTP, DELETE on.
    Ferro,
    /// olareg v0.2.2: anonymous, plain HTTP, DELETE of manifests and blobs on.
    Olareg,
    /// go-containerregistry's `crane registry serve`: anonymous, plain HTTP;
    /// its DELETE by digest answers 202 and leaves the tag serving.
    Crane,
    /// A hosted registry's documented rules (`kloset_testkit::personality`)
    /// in front of distribution (v3 for Artifact Registry, which untags on
    /// DELETE by tag), with whatever that registry wants made first
    /// (ECR's repository, Harbor's project) made.
    Personality(Hosted),
}

/// The page size of the v3 flavours: small, so that every listing pages.
pub const V3_MAX_TAGS: u32 = 7;

const USER: &str = "kloset";
const PASSWORD: &str = "correct horse battery staple";

/// A fresh registry and repository for one test.
pub struct Env {
    pub registry: Registry,
    pub repo: String,
    pub deletes: bool,
    pub flavor: Flavor,
    /// Options the flavour adds to every store: credentials, the CA file.
    extra: Vec<(String, String)>,
    /// Keeps the CA and certificate files alive while the registry runs.
    _pki: Option<TestPki>,
    /// The personality in front of the registry, which the store talks to.
    pub personality: Option<PersonalityProxy<Box<dyn Rules>>>,
}

impl Env {
    pub fn new(flavor: Flavor) -> Env {
        let mut repo = unique_repo("conformance");
        let mut options = RegistryOptions::default();
        let mut extra = Vec::new();
        let mut pki = None;
        match flavor {
            Flavor::Plain { deletes } => options.delete_enabled = deletes,
            Flavor::V3 { deletes } => {
                options.implementation = Implementation::Distribution3;
                options.max_tags = Some(V3_MAX_TAGS);
                options.delete_enabled = deletes;
            }
            Flavor::Ferro => options.implementation = Implementation::Ferro,
            Flavor::Olareg => options.implementation = Implementation::Olareg,
            Flavor::Crane => options.implementation = Implementation::Crane,
            Flavor::Personality(hosted) => {
                options.implementation = hosted.implementation();
                repo = hosted.repository(&repo);
            }
            Flavor::Basic => options.auth = RegistryAuth::htpasswd(&[(USER, PASSWORD)]),
            Flavor::Token => {
                options.auth = RegistryAuth::Token(TokenAuth::with_users(vec![TokenUser::new(
                    USER,
                    PASSWORD,
                    &["*"],
                )]))
            }
            Flavor::Tls => {
                let made = TestPki::new();
                options.tls = Some(made.server_files());
                extra.push((
                    "tls_ca_file".to_string(),
                    made.ca_pem().display().to_string(),
                ));
                pki = Some(made);
            }
        }
        if matches!(flavor, Flavor::Basic | Flavor::Token) {
            extra.push(("username".to_string(), USER.to_string()));
            extra.push(("password".to_string(), PASSWORD.to_string()));
        }
        // GHCR answers DELETE with 405, whatever the registry behind does.
        // crane's registry answers 202 but keeps serving the tag: create's
        // probe sees it and the store records deletions as tombstones.
        let deletes = options.delete_enabled
            && match flavor {
                Flavor::Personality(hosted) => hosted.deletes(),
                Flavor::Crane => false,
                _ => true,
            };
        let registry = Registry::start(options);
        let personality = match flavor {
            Flavor::Personality(hosted) => Some(hosted.start(&registry, &repo)),
            _ => None,
        };
        Env {
            registry,
            repo,
            deletes,
            flavor,
            extra,
            _pki: pki,
            personality,
        }
    }

    /// `127.0.0.1:PORT` the store talks to: the personality's when there is
    /// one, else the registry's.
    pub fn authority(&self) -> String {
        match &self.personality {
            Some(proxy) => proxy.authority(),
            None => self.registry.authority(),
        }
    }

    pub fn config(&self) -> Vec<(String, String)> {
        let mut config = match &self.personality {
            Some(proxy) => vec![
                (
                    "location".to_string(),
                    format!("oci://{}/{}", proxy.authority(), self.repo),
                ),
                ("use_tls".to_string(), "false".to_string()),
            ],
            None => self.registry.config(&self.repo),
        };
        config.extend(self.extra.iter().cloned());
        config
    }

    /// `Authorization` for raw requests to this test's registry, if it wants one.
    fn raw_authorization(&self) -> Option<String> {
        match self.flavor {
            Flavor::Basic => Some(basic_authorization(USER, PASSWORD)),
            Flavor::Token => {
                let server = self
                    .registry
                    .token_server()
                    .expect("a token registry has its token server");
                Some(bearer_authorization(
                    &server.mint(USER, &[(self.repo.as_str(), &["pull"])]),
                ))
            }
            Flavor::Plain { .. }
            | Flavor::Tls
            | Flavor::V3 { .. }
            | Flavor::Ferro
            | Flavor::Personality(_)
            | Flavor::Olareg
            | Flavor::Crane => None,
        }
    }

    /// skopeo's `--creds`, for registries that want them.
    pub fn skopeo_creds(&self) -> Option<String> {
        matches!(self.flavor, Flavor::Basic | Flavor::Token).then(|| format!("{USER}:{PASSWORD}"))
    }

    pub fn config_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut config = self.config();
        config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        config
    }

    /// A new handle on this test's repository (its own instances and caches).
    pub fn handle(&self) -> StoreHandle {
        StoreHandle::new(plugin(), &self.config()).expect("a valid configuration")
    }

    /// A handle on a freshly created repository.
    pub fn created(&self) -> StoreHandle {
        let handle = self.handle();
        handle
            .create(b"kloset configuration bytes")
            .expect("create");
        handle
    }

    /// Whether a `POST ?mount=<digest>&from=<repo>` of a blob the registry
    /// has answers 201. ferro-oci-server 1.0.0 and crane's registry (no
    /// mount in pkg/registry/blobs.go) ignore `mount` (the spec allows it)
    /// and open an upload: the put re-sends the bytes. olareg mounts.
    pub fn mounts_blobs(&self) -> bool {
        !matches!(self.flavor, Flavor::Ferro | Flavor::Crane)
    }

    /// Whether the registry refuses media types outside an allow-list
    /// (GitLab, Quay), so the store writes images, not artifacts.
    pub fn allow_lists_media_types(&self) -> bool {
        matches!(
            self.flavor,
            Flavor::Personality(Hosted::GitLab | Hosted::Quay)
        )
    }

    /// The most requests a put of `len` bytes may take beyond one body
    /// request: none, except where the registry caps request bodies (GHCR's
    /// 4 MiB): a piece per 4 MiB and the refused first try that teaches the
    /// store the cap (a 416, which is no retry of a transient failure).
    /// On Artifact Registry, which takes no chunked PATCH, an instance's
    /// first upload past one chunk is refused once, its session cancelled
    /// and a new one streamed: three more, once per instance.
    pub fn extra_body_requests(&self, len: u64) -> u64 {
        match self.flavor {
            Flavor::Personality(Hosted::Ghcr) => len.div_ceil(4 << 20),
            Flavor::Personality(Hosted::ArtifactRegistry) if len > 8 << 20 => 3,
            _ => 0,
        }
    }

    /// How `create` records deletions here (the config manifest's
    /// `io.plakar.kloset.deletion`): by the registry's DELETE, untagging
    /// first where a tagged manifest cannot be deleted (Artifact
    /// Registry), or as tombstones.
    pub fn deletion_annotation(&self) -> &'static str {
        match self.flavor {
            _ if !self.deletes => "tombstone",
            Flavor::Personality(Hosted::ArtifactRegistry) => "untag-first",
            _ => "registry",
        }
    }

    /// The most requests a delete may take: the manifest's digest and its
    /// DELETE; on Artifact Registry also the DELETE of the tag first
    /// (GOOGLE_MANIFEST_DANGLING_TAG otherwise).
    pub fn most_delete_requests(&self) -> u64 {
        // The manifest GET, the DELETE by tag (refused, once an instance,
        // where the registry deletes no tags), the DELETE by digest; or
        // the two tombstone PUTs.
        3
    }

    /// How many tags one tag-list page holds at most when the client asks
    /// for more (`n`); `None` when the registry answers every tag at once.
    /// olareg and crane's registry answer as many as `n` asks (olareg then
    /// sends a `Link` to the rest; crane's registry sends none, and the
    /// store asks for the next page with `last`).
    pub fn page_size(&self) -> Option<u64> {
        match self.flavor {
            Flavor::V3 { .. } => Some(u64::from(V3_MAX_TAGS)),
            Flavor::Personality(hosted) => hosted.page_size(),
            _ => None,
        }
    }

    /// The most tag-list requests a listing of `tags` tags may take with
    /// pages of up to `asked` (the store's `n`): one more than full pages,
    /// since distribution v3.1.1 sends a `Link` after a page that ends
    /// exactly at the last tag, then an empty page (FIELD-NOTES section 7).
    pub fn max_list_requests(&self, tags: u64, asked: u64) -> u64 {
        let page = self.page_size().map_or(asked, |p| p.min(asked));
        tags / page + 1 + u64::from(!self.keeps_lexical_last())
    }

    /// Whether the registry answers `last` with the tags after it in
    /// lexical order, so a listing of one kind asks for its range only;
    /// where it does not, the first such listing of an instance spends one
    /// request finding out (ECR's and Quay's cursors are their own).
    pub fn keeps_lexical_last(&self) -> bool {
        match self.flavor {
            Flavor::Personality(hosted) => hosted.keeps_lexical_last(),
            _ => true,
        }
    }

    /// The repository's tags, read straight from the registry, following
    /// `Link` (pages of 1000, as `n` asks).
    pub fn tags(&self) -> Vec<String> {
        let authorization = self.raw_authorization();
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("authorization", a.as_str()))
            .collect();
        self.registry.tags(&self.repo, &headers).0
    }
}

/// A MAC derived from a number.
pub fn mac(seed: u64) -> Mac {
    Mac(Sha256::digest(seed.to_le_bytes()).into())
}

/// Deterministic pseudo-random bytes (splitmix64): distinct per seed, cheap
/// enough for hundreds of MiB.
pub struct Pattern {
    state: u64,
    remaining: u64,
    spare: Vec<u8>,
}

impl Pattern {
    pub fn new(len: u64, seed: u64) -> Pattern {
        Pattern {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ len,
            remaining: len,
            spare: Vec::new(),
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        let mut filled = 0;
        while filled < n {
            if self.spare.is_empty() {
                self.spare = self.next().to_le_bytes().to_vec();
            }
            let take = self.spare.len().min(n - filled);
            buf[filled..filled + take].copy_from_slice(&self.spare[..take]);
            self.spare.drain(..take);
            filled += take;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    Pattern::new(len as u64, seed)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// sha256 of everything a reader yields.
pub fn sha256_of(mut reader: impl Read) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// Yields `data` up to `fail_after` bytes, then an I/O error: a caller's
/// input failing in the middle of a put.
pub struct FailingReader<R> {
    pub inner: R,
    pub fail_after: u64,
    pub given: u64,
}

impl<R: Read> Read for FailingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given >= self.fail_after {
            return Err(io::Error::other("the source disk went away"));
        }
        let room = (self.fail_after - self.given).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.given += n as u64;
        Ok(n)
    }
}
