//! skopeo, an OCI client independent of the one under test, to check what
//! the store really wrote to a registry.

use std::io;
use std::process::{Command, Stdio};

/// Runs `skopeo inspect --raw --tls-verify=false docker://<reference>` and
/// returns its output (the raw manifest) as JSON. Panics with skopeo's stderr
/// if it fails. `reference` is `HOST:PORT/REPO:TAG` or `HOST:PORT/REPO@DIGEST`.
pub fn skopeo_inspect_raw(reference: &str) -> serde_json::Value {
    skopeo_inspect_raw_as(reference, None)
}

/// [`skopeo_inspect_raw`] logged in with `user:password` (skopeo does the
/// Basic or token flow itself).
pub fn skopeo_inspect_raw_as(reference: &str, creds: Option<&str>) -> serde_json::Value {
    let mut command = Command::new("skopeo");
    command.args(["inspect", "--raw", "--tls-verify=false"]);
    match creds {
        Some(creds) => command.arg(format!("--creds={creds}")),
        None => command.arg("--no-creds"),
    };
    let output = command
        .arg(format!("docker://{reference}"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                panic!("skopeo not found in PATH: install Debian's skopeo package (scripts/setup)")
            }
            panic!("cannot run skopeo: {e}")
        });
    if !output.status.success() {
        panic!(
            "skopeo inspect --raw docker://{reference} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end(),
        );
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "skopeo inspect --raw docker://{reference} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
