//! The component as an OCI artifact: published to a registry in the CNCF
//! Wasm OCI artifact layout, and pulled by reference (verified and cached by
//! digest) to be loaded like a file.

mod cache;
pub mod layout;
pub mod reference;
pub mod registry;

pub use reference::{looks_like_reference, Reference};

use crate::error::Error;
use crate::plugin::Plugin;
use layout::Interfaces;
use registry::ArtifactRegistry;

/// A component pulled by reference.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference it was pulled by, pinned to its manifest's digest.
    pub pinned: Reference,
    pub wasm: Vec<u8>,
    /// Whether its bytes came over the network (`false`: from the cache).
    pub downloaded: bool,
}

/// Publishes `wasm` at `reference` (a tag; `latest` when it names none) with
/// the registry `options` a store would take. Returns the reference pinned
/// to the manifest's digest.
pub fn publish(
    reference: &Reference,
    options: &[(String, String)],
    wasm: &[u8],
) -> Result<Reference, Error> {
    let interfaces = interfaces_of(wasm)?;
    let created = crate::rfc3339::rfc3339_now();
    let registry = ArtifactRegistry::connect(reference, options)?;
    let digest = registry.publish(wasm, &interfaces, &created)?;
    Ok(reference.pinned(&digest))
}

/// The component at `reference`: from the cache when pinned by a digest it
/// holds, else resolved at the registry and downloaded unless its layer is
/// cached. Every byte is checked against its digest.
pub fn pull(reference: &Reference, options: &[(String, String)]) -> Result<Pulled, Error> {
    let cache = cache::ComponentCache::open();
    if let Some(pinned) = &reference.digest {
        if let Some(wasm) = cache.by_manifest(pinned) {
            return Ok(Pulled {
                pinned: reference.clone(),
                wasm,
                downloaded: false,
            });
        }
    }
    let registry = ArtifactRegistry::connect(reference, options)?;
    let resolved = registry.resolve()?;
    let (wasm, downloaded) = match cache.component(&resolved.layer.digest) {
        Some(wasm) => (wasm, false),
        None => (registry.fetch(&resolved.layer)?, true),
    };
    cache.keep(&resolved, &wasm);
    Ok(Pulled {
        pinned: reference.pinned(&resolved.manifest_digest),
        wasm,
        downloaded,
    })
}

/// Pulls the component at `reference` and loads it.
pub fn load(
    reference: &Reference,
    options: &[(String, String)],
) -> Result<(Plugin, Pulled), Error> {
    let pulled = pull(reference, options)?;
    let plugin = Plugin::load_bytes(&pulled.wasm)?;
    Ok((plugin, pulled))
}

/// The interfaces a component imports and exports, as its world names them.
pub fn interfaces_of(wasm: &[u8]) -> Result<Interfaces, Error> {
    let engine = Plugin::engine_for_components()?;
    let component = crate::plugin::cache::load_or_compile(&engine, wasm)?;
    let ty = component.component_type();
    Ok(Interfaces {
        exports: ty
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect(),
        imports: ty
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect(),
    })
}
