//! `kloset-testkit`: what the integration tests and the bench run against.
//!
//! - [`component`]: the store component, built by this crate's build
//!   script from the workspace's sources (never a file left from an earlier
//!   build), loaded once per process;
//! - real servers on free loopback ports: [`registry`] (distribution 2.8 or
//!   v3, ferro-oci-server; htpasswd, token auth, TLS), [`token_server`], and
//!   [`tls`], a throwaway PKI;
//! - what no real server can be made to do: [`faults`] (a proxy that breaks
//!   exchanges on purpose), [`fake`] and [`deaf`] (scripted and silent
//!   servers), [`proxy`] and [`proxied`];
//! - [`personality`]: a proxy applying one hosted registry's documented
//!   rules (GitLab, GHCR, ECR, Artifact Registry, Docker Hub, Quay,
//!   Harbor, ACR) in front of a real registry;
//! - independent OCI clients to check what the store wrote: [`skopeo`],
//!   [`clients`] (oras, regctl, crane, skopeo), [`artifacts`], and [`tags`]
//!   (a repository's tags read straight from the registry);
//! - [`requests`]: the requests one operation sends through a store
//!   handle, retried attempts apart;
//! - plakar: [`plakar`] (the CLI in a throwaway home), [`tree`] (generated
//!   trees), [`netns`] (a network namespace with loopback only).
//!
//! A missing tool or registry fails the test that needs it; nothing here
//! skips.

pub mod artifacts;
pub mod auth;
pub mod clients;
pub mod component;
pub mod deaf;
pub mod fake;
pub mod faults;
pub mod http;
pub mod netns;
pub mod openssl;
pub mod personality;
pub mod plakar;
pub mod proxied;
pub mod proxy;
pub mod registry;
pub mod requests;
pub mod skopeo;
pub mod tags;
pub mod tls;
pub mod token_server;
pub mod tree;
pub mod wire;

pub use auth::{RegistryAuth, TokenAuth, TokenUser};
pub use registry::{unique_repo, Implementation, Registry, RegistryOptions, TlsFiles};
pub use skopeo::{skopeo_inspect_raw, skopeo_inspect_raw_as};
pub use tls::TestPki;
pub use token_server::TokenServer;

/// The workspace's root folder (where `Cargo.toml`, `src/` and `docs/`
/// are).
pub fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ sits in the workspace root")
}
