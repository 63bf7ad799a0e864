//! The CNCF TAG Runtime "Wasm OCI Artifact layout", as `wkg oci` speaks it:
//! an OCI image manifest whose config (`application/vnd.wasm.config.v0+json`)
//! describes the component (`architecture: wasm`, `os: wasip2`, the layer
//! digests, and the component's imports and exports), and one
//! `application/wasm` layer holding the component itself.

use kloset_oci::digest::is_sha256_digest;
use serde::{Deserialize, Serialize};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// A content descriptor (OCI image spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// The world a component was built for, as interface names
/// (`wasi:http/types@0.2.12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interfaces {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    layer_digests: [&'a str; 1],
    component: &'a Interfaces,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Why a pulled manifest is not a Wasm component artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Wasm component artifact: {0}")]
pub struct NotAComponent(pub String);

/// The config blob of `wasm`, created at `created` (RFC 3339).
pub fn config_blob(wasm: &[u8], interfaces: &Interfaces, created: &str) -> Vec<u8> {
    let layer = sha256_digest(wasm);
    serde_json::to_vec(&WasmConfig {
        created,
        architecture: "wasm",
        os: "wasip2",
        layer_digests: [&layer],
        component: interfaces,
    })
    .expect("a config serialises")
}

pub fn manifest(config: &Descriptor, layer: &Descriptor) -> Vec<u8> {
    serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        config: config.clone(),
        layers: vec![layer.clone()],
    })
    .expect("a manifest serialises")
}

/// The component layer of a pulled manifest.
pub fn component_layer(manifest: &[u8]) -> Result<Descriptor, NotAComponent> {
    let m: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| NotAComponent(format!("unreadable manifest ({e})")))?;
    if m.schema_version != 2 {
        return Err(NotAComponent(format!("schemaVersion {}", m.schema_version)));
    }
    if let Some(media_type) = m.media_type.filter(|t| t != MANIFEST_MEDIA_TYPE) {
        return Err(NotAComponent(format!("manifest of type {media_type}")));
    }
    if m.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(NotAComponent(format!(
            "config of type {}, not {CONFIG_MEDIA_TYPE}",
            m.config.media_type
        )));
    }
    let mut wasm = m
        .layers
        .into_iter()
        .filter(|l| l.media_type == LAYER_MEDIA_TYPE);
    match (wasm.next(), wasm.next()) {
        (Some(layer), None) if is_sha256_digest(&layer.digest) => Ok(layer),
        (Some(_), None) => Err(NotAComponent("the layer's digest is not sha256".into())),
        (None, _) => Err(NotAComponent(format!("no {LAYER_MEDIA_TYPE} layer"))),
        (Some(_), Some(_)) => Err(NotAComponent(format!("several {LAYER_MEDIA_TYPE} layers"))),
    }
}

pub use kloset_oci::digest::sha256_digest;

#[cfg(test)]
mod tests {
    use super::*;

    fn interfaces() -> Interfaces {
        Interfaces {
            exports: vec!["kloset:store/store@0.1.0".into()],
            imports: vec!["wasi:http/types@0.2.12".into()],
        }
    }

    #[test]
    fn the_config_describes_the_component() {
        let wasm = b"\0asm component bytes";
        let config: serde_json::Value =
            serde_json::from_slice(&config_blob(wasm, &interfaces(), "2026-11-22T00:00:00Z"))
                .unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["created"], "2026-11-22T00:00:00Z");
        assert_eq!(config["layerDigests"][0], sha256_digest(wasm));
        assert_eq!(
            config["component"]["exports"][0],
            "kloset:store/store@0.1.0"
        );
        assert_eq!(config["component"]["imports"][0], "wasi:http/types@0.2.12");
    }

    #[test]
    fn a_built_manifest_reads_back_its_layer() {
        let layer = Descriptor::of(LAYER_MEDIA_TYPE, b"wasm");
        let config = Descriptor::of(CONFIG_MEDIA_TYPE, b"{}");
        assert_eq!(component_layer(&manifest(&config, &layer)).unwrap(), layer);
    }

    #[test]
    fn other_artifacts_are_refused() {
        let z = "0".repeat(64);
        let doc = |config: &str, layers: &str| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{config}","digest":"sha256:{z}","size":2}},"layers":[{layers}]}}"#
            )
        };
        let wasm = format!(r#"{{"mediaType":"application/wasm","digest":"sha256:{z}","size":4}}"#);
        let tar = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{z}","size":4}}"#
        );
        for (manifest, needle) in [
            ("not json".to_string(), "unreadable"),
            (
                doc("application/vnd.oci.image.config.v1+json", &wasm),
                "config of type",
            ),
            (doc(CONFIG_MEDIA_TYPE, &tar), "no application/wasm layer"),
            (doc(CONFIG_MEDIA_TYPE, &format!("{wasm},{wasm}")), "several"),
            (
                doc(
                    CONFIG_MEDIA_TYPE,
                    &wasm.replace(&format!("sha256:{z}"), "md5:00"),
                ),
                "not sha256",
            ),
        ] {
            let e = component_layer(manifest.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(
            component_layer(doc(CONFIG_MEDIA_TYPE, &format!("{tar},{wasm}")).as_bytes()).is_ok()
        );
    }
}
