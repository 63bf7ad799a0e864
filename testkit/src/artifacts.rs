//! What a client must see in every manifest the store writes: an OCI 1.1
//! artifact (image-spec 1.1 "Guidelines for artifact usage": `artifactType`,
//! the empty config descriptor, layers), named by the tag layout of docs/architecture.md.

use sha2::{Digest, Sha256};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// sha256 of `{}`, the empty descriptor's content (image-spec 1.1).
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const TYPE_PREFIX: &str = "application/vnd.plakar.kloset.v1.";

/// One layer a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: String,
    pub size: u64,
}

/// Checks `raw` (the manifest at `tag`, byte for byte as served) is a valid
/// OCI 1.1 artifact of the store's layout, and returns its layers.
pub fn validate(tag: &str, raw: &[u8]) -> Vec<Layer> {
    let m: serde_json::Value = serde_json::from_slice(raw)
        .unwrap_or_else(|e| panic!("{tag}: the manifest is not JSON ({e})"));
    assert_eq!(m["schemaVersion"], 2, "{tag}: schemaVersion");
    assert_eq!(m["mediaType"], MANIFEST_TYPE, "{tag}: mediaType");
    let artifact_type = m["artifactType"]
        .as_str()
        .unwrap_or_else(|| panic!("{tag}: no artifactType"));
    let role = artifact_type
        .strip_prefix(TYPE_PREFIX)
        .unwrap_or_else(|| panic!("{tag}: artifactType {artifact_type}"));
    assert_eq!(
        m["config"]["mediaType"], EMPTY_TYPE,
        "{tag}: config mediaType"
    );
    assert_eq!(m["config"]["digest"], EMPTY_DIGEST, "{tag}: config digest");
    assert_eq!(m["config"]["size"], 2, "{tag}: config size");
    let layers: Vec<Layer> = m["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{tag}: no layers"))
        .iter()
        .map(|l| {
            assert!(l["mediaType"].is_string(), "{tag}: layer mediaType");
            let digest = l["digest"].as_str().expect("layer digest").to_string();
            assert!(
                digest.starts_with("sha256:") && digest.len() == 71,
                "{tag}: layer digest {digest}"
            );
            Layer {
                digest,
                size: l["size"].as_u64().expect("layer size"),
            }
        })
        .collect();
    assert_eq!(layers.len(), 1, "{tag}: one layer");

    // The tag says what the artifact is.
    let annotations = &m["annotations"];
    if tag == "config" {
        assert_eq!(role, "config", "{tag}");
    } else if tag == "config.probe" {
        // create's DELETE probe, left behind where DELETE is refused.
        assert_eq!(role, "probe", "{tag}");
    } else if tag.ends_with(".d") || tag.ends_with(".r") || role == "tombstone" {
        let want = if tag.ends_with(".r") {
            "revived"
        } else {
            "tombstone"
        };
        assert_eq!(role, want, "{tag}: a marker");
        assert_eq!(annotations["io.plakar.kloset.role"], want, "{tag}");
        assert_eq!(
            layers[0].digest, EMPTY_DIGEST,
            "{tag}: a marker holds nothing"
        );
    } else {
        let (kind, mac) = tag.rsplit_once('-').unwrap_or_else(|| panic!("tag {tag}"));
        assert_eq!(role, kind, "{tag}: artifactType names the kind");
        assert_eq!(annotations["io.plakar.kloset.resource"], kind, "{tag}");
        assert_eq!(annotations["io.plakar.kloset.mac"], mac, "{tag}");
        assert_eq!(annotations["io.plakar.kloset.role"], "object", "{tag}");
    }
    layers
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
