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
        return Err(format!(
            "the location {given:?} has no protocol (such as oci:// or fs://)"
        ));
    };
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid {
        return Err(format!("the location {given:?} has no valid protocol"));
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Ok((scheme.to_string(), format!("{scheme}://{rest}")))
}

/// A location as a report shows it: any `user:password@` (or `user@`)
/// before the host is left out.
pub fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => location.to_string(),
    }
}

/// A location of a connector flagged `localfs` in its manifest, as
/// Kloset makes it (`location.FLAG_LOCALFS`): a relative path is joined
/// to the working directory (`fs:repo` is `fs:///cwd/repo`).
pub fn localfs(location: &str, cwd: &std::path::Path) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_string();
    };
    if rest.starts_with('/') {
        return location.to_string();
    }
    // filepath.Join cleans: "." and ".." are resolved lexically.
    let mut parts: Vec<String> = Vec::new();
    for part in cwd.to_string_lossy().split('/').chain(rest.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_string()),
        }
    }
    format!("{scheme}:///{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_are_left_out_of_a_shown_location() {
        assert_eq!(
            super::redact("oci://u:p@host:5000/repo"),
            "oci://host:5000/repo"
        );
        assert_eq!(super::redact("s3://key@bucket/a@b"), "s3://bucket/a@b");
        assert_eq!(super::redact("fs:///tmp/a@b"), "fs:///tmp/a@b");
        assert_eq!(super::redact("oci://host/repo"), "oci://host/repo");
    }

    #[test]
    fn a_localfs_location_is_made_absolute_as_kloset_does() {
        let cwd = std::path::Path::new("/home/me/work");
        assert_eq!(super::localfs("fs://repo", cwd), "fs:///home/me/work/repo");
        assert_eq!(super::localfs("fs://../x/./y", cwd), "fs:///home/me/x/y");
        assert_eq!(super::localfs("fs:///abs", cwd), "fs:///abs");
    }

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
