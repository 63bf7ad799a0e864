//! Support shared by the integration tests: a real registry to talk to, and
//! an independent OCI client (skopeo) to check what the store wrote.
//!
//! Each test file that needs it says `mod common;`. A file rarely uses all of
//! this module, hence the allowances below (each test file compiles its own
//! copy, and dead code is judged per copy).
#![allow(dead_code)]

pub mod auth;
pub mod component;
pub mod deaf;
pub mod fake;
pub mod faults;
pub mod http;
pub mod openssl;
pub mod proxied;
pub mod proxy;
pub mod registry;
pub mod skopeo;
pub mod tls;
pub mod token_server;
pub mod wire;

// Shortcuts for the common names; a file that uses only some of them would
// otherwise warn about the rest.
#[allow(unused_imports)]
pub use auth::{RegistryAuth, TokenAuth, TokenUser};
#[allow(unused_imports)]
pub use registry::{unique_repo, Implementation, Registry, RegistryOptions, TlsFiles};
#[allow(unused_imports)]
pub use skopeo::{skopeo_inspect_raw, skopeo_inspect_raw_as};
#[allow(unused_imports)]
pub use tls::TestPki;
#[allow(unused_imports)]
pub use token_server::TokenServer;
