//! The host's one error type, [`Error`]: a case of the store contract (the
//! protocol crate's [`ContractError`], the one list of the WIT `error`
//! variant's cases, carried whole and never restated), or what only the
//! host can see (the caller's input broke, the component would not load or
//! run, a limit was hit, publishing or pulling the component failed).
//!
//! Messages are single lines so the CLI can print them as `kloset-host: <error>`.
//! Nothing here ever holds configuration values: option values may be secrets.

use std::path::PathBuf;

pub use kloset_oci::config::reference::BadReference;
pub use kloset_oci::StoreError as ContractError;

/// Why a call of the host failed. `Display` is one line; no case ever
/// holds a secret (the component promises that for its messages, the host
/// for its own).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure the store contract names (not found, unauthorized, ...),
    /// from the component or from the host checking its own options.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The caller's reader failed during `put`; the object was abandoned.
    #[error("input: {0}")]
    Input(String),
    /// The component file could not be read.
    #[error("cannot read component {}: {source}", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// wasmtime refused to compile the bytes (not a component, bad wasm, ...).
    #[error("cannot compile component: {0}")]
    Compile(String),
    /// The component's imports could not be satisfied or its start failed.
    #[error("cannot instantiate component: {0}")]
    Instantiate(String),
    /// The component trapped during a call; its instance is discarded.
    #[error("component trapped: {0}")]
    Trap(String),
    /// An instance asked for more linear memory than `max_guest_memory`
    /// allows; the call failed and the instance is discarded.
    #[error("component instance exceeded its memory limit (max_guest_memory = {limit} bytes; it asked for {desired}); the instance is discarded")]
    MemoryLimit { limit: u64, desired: u64 },
    /// Every instance stayed busy for `instance_wait`.
    #[error("no component instance came free within {waited_secs} s (all {instances} busy; see instance_wait, max_instances)")]
    PoolTimeout { waited_secs: u64, instances: usize },
    /// A whole `get` would hold more than `max_get_size` bytes.
    #[error("the object is larger than max_get_size ({limit} bytes); read it with a stream")]
    TooLarge { limit: u64 },
    /// The component answered something the WIT contract rules out.
    #[error("component broke its contract: {0}")]
    BrokenContract(String),
    /// The host's own configuration is wrong (engine set-up, runtime).
    #[error("host configuration: {0}")]
    Config(String),
    /// A host-side file operation failed (the compiled-code cache, ...).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A component reference that does not parse.
    #[error(transparent)]
    Reference(#[from] BadReference),
    /// A bad option, credentials or TLS file for the component's registry.
    #[error("component registry settings: {0}")]
    ComponentSettings(Box<Error>),
    /// The component's registry refused or failed, typed as for a store.
    #[error("component registry: {0}")]
    ComponentRegistry(ContractError),
    /// Nothing is published at the reference.
    #[error("{reference}: no such component")]
    NoSuchComponent { reference: String },
    /// What is published there is no Wasm component artifact.
    #[error("{reference}: not a Wasm component artifact: {why}")]
    NotAComponent { reference: String, why: String },
    /// Bytes that do not match the digest they were asked or listed by.
    #[error("{reference}: {what}")]
    ComponentIntegrity { reference: String, what: String },
}

impl Error {
    /// Whether this is the component saying the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Contract(e) if e.is_not_found())
    }

    /// The contract case, if this is one.
    pub fn contract(&self) -> Option<&ContractError> {
        match self {
            Error::Contract(e) => Some(e),
            _ => None,
        }
    }

    /// A configuration the host refuses (a host option, a credential file).
    pub(crate) fn invalid_config(message: impl Into<String>) -> Error {
        Error::Contract(ContractError::InvalidConfig(message.into()))
    }

    // Docker logins (`configure/docker_config.rs`, `configure/helper.rs`).
    // A broken login source is the store's configuration being wrong, so
    // each is the contract's `invalid-config`, worded here once. `path` and
    // `helper` come already quoted for a message (`echo`); `reason` says what
    // is wrong, never what the file or the helper holds (passwords).

    /// Docker's `config.json` at `path` exists but cannot be read.
    pub(crate) fn docker_config_unreadable(path: &str, reason: &str) -> Error {
        Error::invalid_config(format!("cannot read Docker config {path}: {reason}"))
    }

    /// Docker's `config.json` at `path` is read but is not a usable config.
    pub(crate) fn docker_config_malformed(path: &str, reason: &str) -> Error {
        Error::invalid_config(format!("Docker config {path}: {reason}"))
    }

    /// The credential helper `docker-credential-<helper>` named by the
    /// config could not give a login.
    pub(crate) fn credential_helper(helper: &str, reason: &str) -> Error {
        Error::invalid_config(format!(
            "credential helper docker-credential-{helper}: {reason}"
        ))
    }
}

/// Flattens a wasmtime error chain into one line.
///
/// Traps carry a multi-line wasm backtrace as one layer of context; the CLI
/// promises a one-line message, so that layer is dropped and every other layer
/// keeps only its first line.
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    let parts: Vec<String> = err
        .chain()
        .map(|layer| layer.to_string())
        .filter(|text| !text.starts_with("error while executing at wasm backtrace"))
        .map(|text| text.lines().next().unwrap_or_default().trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    if parts.is_empty() {
        "unknown wasmtime error".to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_the_chain_and_drops_backtraces() {
        let err = wasmtime::Error::msg("wasm trap: unreachable")
            .context("error while executing at wasm backtrace:\n    0: 0x1 - f")
            .context("calling put");
        assert_eq!(one_line(&err), "calling put: wasm trap: unreachable");
    }

    #[test]
    fn load_error_names_the_path() {
        let err = Error::Load {
            path: PathBuf::from("/x/y.wasm"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(err
            .to_string()
            .starts_with("cannot read component /x/y.wasm: "));
    }

    #[test]
    fn contract_cases_display_as_the_core_writes_them() {
        let err = Error::from(ContractError::Registry {
            status: 502,
            code: String::new(),
            message: "gateway".into(),
        });
        assert_eq!(err.to_string(), "registry answered 502: gateway");
        assert!(Error::from(ContractError::NotFound("x".into())).is_not_found());
        assert!(!Error::Input("x".into()).is_not_found());
    }

    #[test]
    fn host_cases_say_what_the_host_saw() {
        let err = Error::Trap("wasm trap: unreachable".into());
        assert_eq!(err.to_string(), "component trapped: wasm trap: unreachable");
        let nested = Error::ComponentSettings(Box::new(Error::invalid_config("x")));
        assert_eq!(
            nested.to_string(),
            "component registry settings: invalid configuration: x"
        );
    }
}
