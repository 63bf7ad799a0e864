//! Pulled components on disk, by digest: `components/<hex>.wasm` holds a
//! component layer, `manifests/<hex>` the manifest itself. A reference
//! pinned by digest whose manifest and layer are here loads with no request
//! at all; every file read back is checked against its digest (the
//! manifest against the pinned digest, then the layer against the digest
//! the manifest names), so a damaged or swapped entry is refetched, never
//! loaded. A cache directory others can write is not used at all.

use std::fs;
use std::path::PathBuf;

use super::layout::{component_layer, sha256_digest};
use super::reference::is_sha256_digest;
use super::registry::Resolved;
use crate::plugin::cache::write_atomically;

pub struct ComponentCache {
    /// `None`: no cache directory; every pull downloads.
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// Under the host's cache directory (`$KLOSET_HOST_CACHE`, else the
    /// user's cache directory), beside the compiled components.
    pub fn open() -> ComponentCache {
        ComponentCache {
            dir: crate::plugin::cache::cache_dir()
                .filter(|d| crate::plugin::cache_dir::trusted(d).is_some())
                .map(|d| d.join("artifacts")),
        }
    }

    fn path(&self, kind: &str, digest: &str, suffix: &str) -> Option<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| is_sha256_digest(digest))?;
        Some(self.dir.as_ref()?.join(kind).join(format!("{hex}{suffix}")))
    }

    /// The component a pinned manifest names, if both are here and whole:
    /// the manifest must have `manifest_digest`, and the component the
    /// digest of the layer that manifest names.
    pub fn by_manifest(&self, manifest_digest: &str) -> Option<Vec<u8>> {
        let manifest = fs::read(self.path("manifests", manifest_digest, "")?).ok()?;
        if sha256_digest(&manifest) != manifest_digest {
            return None;
        }
        let layer = component_layer(&manifest).ok()?;
        self.component(&layer.digest)
    }

    /// A component layer, if it is here and matches its digest.
    pub fn component(&self, layer_digest: &str) -> Option<Vec<u8>> {
        let bytes = fs::read(self.path("components", layer_digest, ".wasm")?).ok()?;
        (sha256_digest(&bytes) == layer_digest).then_some(bytes)
    }

    /// Keeps a verified component and what its manifest names. A cache that
    /// cannot be written costs a download next time, nothing else.
    pub fn keep(&self, resolved: &Resolved, wasm: &[u8]) {
        let (Some(component), Some(manifest)) = (
            self.path("components", &resolved.layer.digest, ".wasm"),
            self.path("manifests", &resolved.manifest_digest, ""),
        ) else {
            return;
        };
        let write = |path: &PathBuf, bytes: &[u8]| {
            if let Some(dir) = path.parent() {
                let _ = write_atomically(dir, path, bytes, "caching a pulled component in");
            }
        };
        if !component.is_file() {
            write(&component, wasm);
        }
        write(&manifest, &resolved.manifest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::layout::{manifest, Descriptor, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE};

    fn cache_in(dir: &std::path::Path) -> ComponentCache {
        ComponentCache {
            dir: Some(dir.to_path_buf()),
        }
    }

    #[test]
    fn kept_components_come_back_by_manifest_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let wasm = b"\0asm pretend component".to_vec();
        let resolved = resolved_for(&wasm);
        assert!(cache.by_manifest(&resolved.manifest_digest).is_none());
        cache.keep(&resolved, &wasm);
        assert_eq!(
            cache.by_manifest(&resolved.manifest_digest),
            Some(wasm.clone())
        );
        assert_eq!(cache.component(&resolved.layer.digest), Some(wasm));

        let file = cache
            .path("components", &resolved.layer.digest, ".wasm")
            .unwrap();
        fs::write(&file, b"\0asm tampered").unwrap();
        assert!(cache.by_manifest(&resolved.manifest_digest).is_none());
        assert!(cache.component("sha256:not-hex").is_none());
    }

    fn resolved_for(wasm: &[u8]) -> Resolved {
        let layer = Descriptor::of(LAYER_MEDIA_TYPE, wasm);
        let bytes = manifest(&Descriptor::of(CONFIG_MEDIA_TYPE, b"{}"), &layer);
        Resolved {
            manifest_digest: sha256_digest(&bytes),
            layer,
            manifest: bytes,
        }
    }

    #[test]
    fn a_swapped_manifest_entry_is_refused() {
        // Two components cached; the entry of A's manifest is made to name
        // B (what the old mapping file, a bare layer digest, allowed).
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let a = resolved_for(b"\0asm component A");
        let b = resolved_for(b"\0asm component B");
        cache.keep(&a, b"\0asm component A");
        cache.keep(&b, b"\0asm component B");
        let a_entry = cache.path("manifests", &a.manifest_digest, "").unwrap();
        fs::write(&a_entry, &b.manifest).unwrap();
        assert_eq!(cache.by_manifest(&a.manifest_digest), None);
        fs::write(&a_entry, b.layer.digest.as_bytes()).unwrap();
        assert_eq!(cache.by_manifest(&a.manifest_digest), None);
        assert!(cache.by_manifest(&b.manifest_digest).is_some());
    }
}
