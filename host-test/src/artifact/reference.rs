//! Telling a component reference from a file on the command line. The
//! reference grammar itself is the core's (`kloset_oci::config::reference`).

pub use kloset_oci::config::reference::{BadReference, Reference, DEFAULT_TAG};
pub use kloset_oci::digest::is_sha256_digest;

/// Whether `--component VALUE` names a registry rather than a file: an
/// existing file always wins; otherwise `oci://...`, or a first path part
/// that is a host name as Docker tells them (a '.', a ':' or `localhost`;
/// `./` and `../` are paths).
pub fn looks_like_reference(value: &str) -> bool {
    if std::path::Path::new(value).exists() {
        return false;
    }
    if value.starts_with("oci://") {
        return true;
    }
    match value.split_once('/') {
        // `./x` and `../x` are paths: a host name starts with a letter or digit.
        Some((first, _)) => {
            first.starts_with(|c: char| c.is_ascii_alphanumeric())
                && (first.contains(['.', ':']) || first == "localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_references_from_paths() {
        assert!(looks_like_reference("r.example/plugin:1"));
        assert!(looks_like_reference("localhost/plugin"));
        assert!(looks_like_reference("127.0.0.1:5000/plugin"));
        assert!(looks_like_reference("oci://anything/p"));
        assert!(!looks_like_reference("target/kloset_oci.wasm"));
        assert!(!looks_like_reference("kloset_oci.wasm"));
        assert!(!looks_like_reference("./build/x.wasm"));
        assert!(!looks_like_reference("../r.example/x.wasm"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.example");
        std::fs::create_dir(&file).unwrap();
        let existing = file.to_str().unwrap();
        assert!(!looks_like_reference(existing));
    }
}
