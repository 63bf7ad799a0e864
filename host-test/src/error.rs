//! Failures of the host itself: loading, compiling and running the component.
//!
//! Messages are single lines so the CLI can print them as `kloset-host: <error>`.
//! Nothing here ever holds configuration values: option values may be secrets.

use std::path::PathBuf;

/// Why the host could not load, compile or run the component.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
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
        let err = HostError::Load {
            path: PathBuf::from("/x/y.wasm"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(err
            .to_string()
            .starts_with("cannot read component /x/y.wasm: "));
    }
}
