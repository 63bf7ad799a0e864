//! The OCI 1.1 artifacts we write: image manifests with an `artifactType`,
//! the empty config descriptor, one layer, and annotations naming the key so
//! that no two keys ever share a manifest (a registry DELETE by digest removes
//! every tag of that digest).

use crate::digest::is_sha256_digest;
use crate::error::StoreError;
use crate::registry_error::excerpt;
use crate::resource::{Mac, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image spec 1.1, "Guidance for an Empty Descriptor".
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
pub const EMPTY_CONTENT: &[u8] = b"{}";
/// Registries commonly cap manifests at 4 MiB; ours are under 1 KiB, so a
/// larger answer is not ours and is refused before parsing.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

const ROLE: &str = "io.plakar.kloset.role";
const RESOURCE: &str = "io.plakar.kloset.resource";
const MAC: &str = "io.plakar.kloset.mac";
const DELETION: &str = "io.plakar.kloset.deletion";
const PREFIX: &str = "io.plakar.kloset.prefix";
const CREATOR: &str = "io.plakar.kloset.creator";

/// A blob as a descriptor names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
}

/// How deletions are carried out, decided by `create` and kept in the config
/// manifest so every later store instance behaves the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The registry removes manifests (`DELETE /v2/<name>/manifests/<digest>`).
    Registry,
    /// The registry refuses DELETE: deletions are recorded as tombstones.
    Tombstone,
}

impl Deletion {
    fn name(self) -> &'static str {
        match self {
            Deletion::Registry => "registry",
            Deletion::Tombstone => "tombstone",
        }
    }
}

/// What an object tag holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectEntry {
    Object(BlobRef),
    Tombstone,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

/// The descriptor of a blob, as a layer of type `media_type`.
fn blob_descriptor(media_type: String, blob: &BlobRef) -> Descriptor {
    Descriptor {
        media_type,
        digest: blob.digest.clone(),
        size: blob.size,
    }
}

fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: EMPTY_MEDIA_TYPE.into(),
        digest: EMPTY_DIGEST.into(),
        size: 2,
    }
}

fn build(artifact_type: String, layer: Descriptor, annotations: &[(&str, &str)]) -> Vec<u8> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        artifact_type: Some(artifact_type),
        config: empty_descriptor(),
        layers: vec![layer],
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    serde_json::to_vec(&manifest).expect("a manifest always serializes")
}

/// The annotations naming a key, and the prefix (empty without one): two
/// stores sharing a repository under different prefixes, or one with a
/// prefix and one without, may hold one key with the same bytes, and a
/// DELETE by digest of a manifest they shared would delete the key from
/// both. Manifests written before the prefix annotation existed carry
/// none, so an unprefixed store's manifest names its (empty) prefix too:
/// it then differs from any older one.
fn key_annotations<'a>(
    role: &'a str,
    kind: Resource,
    mac: &'a str,
    prefix: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    vec![
        (ROLE, role),
        (RESOURCE, kind.name()),
        (MAC, mac),
        (PREFIX, prefix.unwrap_or("")),
    ]
}

/// The manifest of a stored object: its one layer is the object's bytes.
pub fn object_manifest(
    media_type: &str,
    kind: Resource,
    mac: &Mac,
    prefix: Option<&str>,
    blob: &BlobRef,
) -> Vec<u8> {
    let artifact = format!("{media_type}.{}", kind.name());
    let layer = blob_descriptor(artifact.clone(), blob);
    let mac = mac.to_hex();
    build(
        artifact,
        layer,
        &key_annotations("object", kind, &mac, prefix),
    )
}

/// A tombstone (at the object tag and the `.d` marker) or a revival marker.
pub fn marker_manifest(
    media_type: &str,
    kind: Resource,
    mac: &Mac,
    prefix: Option<&str>,
    revived: bool,
) -> Vec<u8> {
    let role = if revived { "revived" } else { "tombstone" };
    let artifact = format!("{media_type}.{role}");
    let mac = mac.to_hex();
    build(
        artifact,
        empty_descriptor(),
        &key_annotations(role, kind, &mac, prefix),
    )
}

/// The configuration manifest. `creator` is a random value a `create`
/// writes, so that reading the tag back tells whether a concurrent
/// `create` overwrote it.
pub fn config_manifest(
    media_type: &str,
    prefix: Option<&str>,
    blob: &BlobRef,
    deletion: Deletion,
    creator: Option<&str>,
) -> Vec<u8> {
    let artifact = format!("{media_type}.config");
    let layer = blob_descriptor(artifact.clone(), blob);
    let mut annotations = vec![
        (ROLE, "config"),
        (PREFIX, prefix.unwrap_or("")),
        (DELETION, deletion.name()),
    ];
    if let Some(creator) = creator {
        annotations.push((CREATOR, creator));
    }
    build(artifact, layer, &annotations)
}

/// A throwaway manifest `create` tags and deletes to learn whether DELETE works.
pub fn probe_manifest(media_type: &str, prefix: Option<&str>) -> Vec<u8> {
    build(
        format!("{media_type}.probe"),
        empty_descriptor(),
        &[(ROLE, "probe"), (PREFIX, prefix.unwrap_or(""))],
    )
}

fn parse(bytes: &[u8], what: &str) -> Result<Manifest, StoreError> {
    let not_ours =
        |why: &str| StoreError::Integrity(format!("{what} holds no Kloset manifest: {why}"));
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(not_ours("manifest too large"));
    }
    // serde_json's message quotes the offending value, which can be most
    // of the manifest: quote an excerpt.
    let m: Manifest = crate::json::from_object(bytes).map_err(|e| {
        not_ours(&format!(
            "unreadable JSON ({})",
            excerpt(&e.to_string(), 200)
        ))
    })?;
    if m.schema_version != 2 || (m.media_type != OCI_MANIFEST && !m.media_type.is_empty()) {
        return Err(not_ours("not an OCI image manifest"));
    }
    if m.layers.len() != 1 || !is_sha256_digest(&m.layers[0].digest) {
        return Err(not_ours("expected exactly one sha256 layer"));
    }
    Ok(m)
}

/// Reads the manifest found at an object tag, checking it is the one for
/// this key (a registry or a neighbour could have put anything there): its
/// resource and MAC, and its prefix when it names one (manifests written
/// before prefixes were annotated name none, and are read as before).
pub fn parse_object(
    bytes: &[u8],
    kind: Resource,
    mac: &Mac,
    prefix: Option<&str>,
    tag: &str,
) -> Result<ObjectEntry, StoreError> {
    let what = format!("tag {tag}");
    let m = parse(bytes, &what)?;
    let ann = |k: &str| m.annotations.get(k).map(String::as_str);
    let prefix_ok = ann(PREFIX).is_none_or(|p| p == prefix.unwrap_or(""));
    if ann(RESOURCE) != Some(kind.name()) || ann(MAC) != Some(mac.to_hex().as_str()) || !prefix_ok {
        return Err(StoreError::Integrity(format!(
            "{what} holds a manifest for another key"
        )));
    }
    match ann(ROLE) {
        Some("object") => {
            let layer = &m.layers[0];
            Ok(ObjectEntry::Object(BlobRef {
                digest: layer.digest.clone(),
                size: layer.size,
            }))
        }
        Some("tombstone") => Ok(ObjectEntry::Tombstone),
        other => Err(StoreError::Integrity(format!(
            "{what} holds a manifest of role {:?}",
            other.map(|r| excerpt(r, 40))
        ))),
    }
}

/// Whether a manifest of ours names `prefix` (the empty one for unprefixed
/// stores): one that does not was written before prefixes were annotated,
/// and may be shared with a store under another prefix, or none.
pub fn names_prefix(bytes: &[u8], prefix: Option<&str>) -> bool {
    let prefix = prefix.unwrap_or("");
    parse(bytes, "manifest")
        .is_ok_and(|m| m.annotations.get(PREFIX).map(String::as_str) == Some(prefix))
}

pub fn parse_config(bytes: &[u8], tag: &str) -> Result<(BlobRef, Deletion), StoreError> {
    let what = format!("tag {tag}");
    let m = parse(bytes, &what)?;
    if m.annotations.get(ROLE).map(String::as_str) != Some("config") {
        return Err(StoreError::Integrity(format!(
            "{what} holds no Kloset configuration"
        )));
    }
    let deletion = match m.annotations.get(DELETION).map(String::as_str) {
        Some("tombstone") => Deletion::Tombstone,
        _ => Deletion::Registry,
    };
    let layer = &m.layers[0];
    Ok((
        BlobRef {
            digest: layer.digest.clone(),
            size: layer.size,
        },
        deletion,
    ))
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
