//! An exerciser for any Plakar storage plugin: it starts the plugin as
//! plakar v1.1.4 does (from a `.ptar` package, or an executable and its
//! arguments), speaks Plakar's storage protocol to it over its stdin and
//! stdout exactly as plakar's gRPC client does, and runs the Kloset store
//! contract against it, check by check, with the exchange that proves
//! each failure.
//!
//! - `plugin`: the process and the connection on its pipes;
//! - `package`: a `.ptar` unpacked by plakar itself, its manifest read;
//! - `wire`: calls as plakar makes them, each written down;
//! - `checks`: the contract;
//! - `report`: the table, the failures' exchanges, JSON.

pub mod checks;
pub mod data;
pub mod package;
pub mod plugin;
pub mod proto;
pub mod report;
pub mod wire;

pub use checks::{Options, Verdict, CHECKS};
pub use plugin::PluginCommand;
pub use report::Report;

/// Runs every check (on a runtime of its own: call it from outside one).
pub fn run(opts: Options) -> Report {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(checks::run(opts))
}

/// The same, from within a runtime.
pub async fn exercise(opts: Options) -> Report {
    checks::run(opts).await
}

/// A location as plakar hands it to Init, and its protocol: `proto:rest`
/// and `proto://rest` are the same location (`proto://rest`).
pub fn location(given: &str) -> Result<(String, String), String> {
    let Some((scheme, rest)) = given.split_once(':') else {
        return Err(format!("the location {given:?} has no protocol (such as oci:// or fs://)"));
    };
    let valid = !scheme.is_empty()
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid {
        return Err(format!("the location {given:?} has no valid protocol"));
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Ok((scheme.to_string(), format!("{scheme}://{rest}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_are_normalised_as_plakar_does() {
        assert_eq!(
            super::location("oci:localhost:5000/repo").unwrap(),
            ("oci".into(), "oci://localhost:5000/repo".into())
        );
        assert_eq!(
            super::location("fs:///tmp/x").unwrap(),
            ("fs".into(), "fs:///tmp/x".into())
        );
        assert!(super::location("/tmp/x").is_err());
    }
}
