//! A wasmtime host for the `kloset-store` component (WIT world
//! `kloset:store/kloset-store`): load it once ([`Plugin`]), configure a store
//! ([`StoreHandle`]), call it from as many threads as needed.
//!
//! Design decisions:
//! - Each handle keeps a pool of component instances: a component instance
//!   is single-threaded, while the Kloset engine puts and reads in parallel.
//! - The component's HTTP goes through the host's own `send_request` hook
//!   (the `egress` module): one pooled client per handle (wasmtime's default opens a
//!   connection per request), extra CA certificates, an allow-list that
//!   admits the registry, and its token realm and redirect targets only for
//!   what they were named for, and timeouts so a stalled registry fails.
//! - Compiled code is cached on disk, keyed by the wasm's digest: a debug
//!   host compiles the component in seconds, loads the cache in milliseconds.

// The rooms of the host. Lowest first they are: `error`, `echo`,
// `rfc3339`; `local_file`; `egress`; `configure`; `plugin`; `store`;
// `artifact` and `probe`. Each uses only those before it
// (docs/architecture.md; `tests::rooms_import_only_rooms_below_them`
// checks it). The CLI (main.rs, commands.rs) sits on top.
pub mod artifact;
mod configure;
pub mod echo;
mod egress;
mod error;
mod local_file;
mod plugin;
pub mod probe;
mod rfc3339;
mod store;

// The public face: what the plugin, the CLI, the tests and the bench use.
pub use configure::HOST_KEYS;
pub use egress::native_transport::NativeTransport;
pub use error::{ContractError, Error};
pub use kloset_oci::config::options::{Consumer as OptionConsumer, Kind as OptionKind, OPTIONS};
pub use kloset_oci::resource::{Mac, MacParseError, Resource};
pub use plugin::cache::CACHE_ENV;
pub use plugin::{Plugin, COMPONENT_ENV};
pub use rfc3339::{rfc3339_now, rfc3339_utc};
pub use store::handle::StoreHandle;
pub use store::reader::{store_error_from_io, ObjectReader};
pub use store::serve::{Fetch, Fetched, Served};

/// This crate's version, for the CLI: its `main.rs` is also built as a
/// target of the tests' package (tests/Cargo.toml), where
/// `CARGO_PKG_VERSION` would be that package's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    /// The handle is shared between threads; a reader may move to another.
    #[test]
    fn thread_safety_of_the_public_types() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<Plugin>();
        shared::<StoreHandle>();
        movable::<ObjectReader>();
        // A fetch goes to a blocking thread, and its stream to another.
        movable::<Fetch>();
        movable::<Fetched>();
        shared::<Error>();
    }

    /// The rooms, lowest first: each may use only the rooms of the tiers
    /// before its own (docs/architecture.md states the same order).
    const TIERS: &[&[&str]] = &[
        &["error", "echo", "rfc3339"],
        &["local_file"],
        &["egress"],
        &["configure"],
        &["plugin"],
        &["store"],
        &["artifact", "probe"],
    ];

    fn tier(room: &str) -> Option<usize> {
        TIERS.iter().position(|tier| tier.contains(&room))
    }

    /// The room each name `lib.rs` re-exports comes from.
    fn re_exports(lib: &str) -> Vec<(String, String)> {
        let mut names = Vec::new();
        for line in lib.lines() {
            let Some(rest) = line.strip_prefix("pub use ") else {
                continue;
            };
            let room = rest.split("::").next().unwrap_or_default();
            if tier(room).is_none() {
                continue;
            }
            let items = rest.rsplit("::").next().unwrap_or_default();
            for item in items.trim_matches(|c| "{};".contains(c)).split(',') {
                let name = item.split(" as ").last().unwrap_or_default().trim();
                names.push((name.to_string(), room.to_string()));
            }
        }
        names
    }

    /// Every `crate::X` a module's non-test code names, X as a room.
    fn rooms_named(code: &str, names: &[(String, String)]) -> Vec<String> {
        // Unit tests may reach anywhere: only the code above them counts.
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let mut found = Vec::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let first: Vec<&str> = if let Some(list) = rest.strip_prefix('{') {
                    let list = list.split('}').next().unwrap_or_default();
                    list.split(',')
                        .map(|i| i.split("::").next().unwrap_or("").trim())
                        .collect()
                } else {
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    vec![&rest[..end]]
                };
                for name in first {
                    if tier(name).is_some() {
                        found.push(name.to_string());
                    } else if let Some((_, room)) = names.iter().find(|(n, _)| n == name) {
                        found.push(room.clone());
                    }
                }
            }
        }
        found
    }

    #[test]
    fn rooms_named_reads_paths_lists_and_re_exports() {
        let names = re_exports(
            "pub use store::handle::StoreHandle;\npub use error::{ContractError, Error};",
        );
        let code = "use crate::plugin::Plugin;\nuse crate::{Error, StoreHandle};\n// crate::artifact\nfn f() { crate::egress::x() }\n#[cfg(test)]\nuse crate::probe;";
        assert_eq!(
            rooms_named(code, &names),
            ["plugin", "error", "store", "egress"]
        );
    }

    /// No module of the host imports from a room above its own, so each
    /// room can be read, and tested, with only those below it in mind.
    #[test]
    fn rooms_import_only_rooms_below_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let names = re_exports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
        assert!(
            names
                .iter()
                .any(|(n, r)| n == "StoreHandle" && r == "store"),
            "{names:?}"
        );
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut checked = 0;
        let mut wrong = Vec::new();
        for path in files {
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.iter().next().unwrap().to_str().unwrap();
            let room = first.trim_end_matches(".rs");
            let name = relative.file_name().unwrap().to_str().unwrap();
            let Some(own) = tier(room) else {
                // lib.rs, and the CLI on top (main.rs, commands.rs).
                continue;
            };
            if name.ends_with("_tests.rs") {
                continue;
            }
            checked += 1;
            let code = std::fs::read_to_string(&path).unwrap();
            for used in rooms_named(&code, &names) {
                if used != room && tier(&used).is_some_and(|t| t >= own) {
                    wrong.push(format!("{} uses {used}", relative.display()));
                }
            }
        }
        assert!(checked > 40, "only {checked} files read");
        wrong.sort();
        wrong.dedup();
        assert!(
            wrong.is_empty(),
            "imports from rooms above or beside: {wrong:#?}"
        );
    }
}
