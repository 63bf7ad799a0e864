//! The OCI 1.1 artifacts we write: image manifests with one layer and
//! annotations naming the key, so that no two keys ever share a manifest (a
//! registry DELETE by digest removes every tag of that digest).
//!
//! Two shapes, chosen once per repository by `create` and recorded in its
//! config manifest ([`Profile`]): the OCI 1.1 artifact (an `artifactType`
//! of our own and the empty config), and, for registries that allow-list
//! media types, an image (image config, tar layer, no `artifactType`).
//! Readers never look at the types, only at the annotations, so both read
//! the same way.

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
const PROFILE: &str = "io.plakar.kloset.media";

/// OCI image spec 1.1: the config and layer types of an image, which every
/// registry's allow-list holds.
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const IMAGE_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// The image config every manifest of the image profile references: the
/// fields the image spec requires ("Properties": `architecture`, `os`,
/// `rootfs`), naming no platform, since nothing here runs.
pub const IMAGE_CONFIG_CONTENT: &[u8] =
    br#"{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// Which shape our manifests take in a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// An OCI 1.1 artifact: `artifactType` `<family>.<role>`, the empty
    /// config, a layer of that type. Every repository made before profiles
    /// existed has this one (its config manifest names none).
    #[default]
    Artifact,
    /// An OCI image: the image config ([`IMAGE_CONFIG_CONTENT`]), a tar
    /// layer, no `artifactType`. For registries that refuse media types
    /// outside an allow-list: GitLab ("Any manifest or any of its
    /// references with a media type outside this list will lead to a 400
    /// Bad Request", GitLab container registry docs/supported-media-types.md)
    /// and Quay (`ALLOWED_OCI_ARTIFACT_TYPES`, quay/quay config.py, whose
    /// default holds no empty config).
    Image,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Artifact => "artifact",
            Profile::Image => "image",
        }
    }
}

/// How our manifests are typed: the family of artifact types (option
/// `media_type`) and the repository's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media<'a> {
    pub family: &'a str,
    pub profile: Profile,
}

impl<'a> Media<'a> {
    pub const fn artifact(family: &'a str) -> Self {
        Media {
            family,
            profile: Profile::Artifact,
        }
    }

    pub const fn image(family: &'a str) -> Self {
        Media {
            family,
            profile: Profile::Image,
        }
    }
}

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
    /// The registry deletes a manifest by digest only once no tag references
    /// it (Google Artifact Registry's `GOOGLE_MANIFEST_DANGLING_TAG`): the
    /// tag is deleted first, then the digest.
    UntagFirst,
}

impl Deletion {
    fn name(self) -> &'static str {
        match self {
            Deletion::Registry => "registry",
            Deletion::Tombstone => "tombstone",
            Deletion::UntagFirst => "untag-first",
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

/// The blob of [`IMAGE_CONFIG_CONTENT`].
pub fn image_config_blob() -> BlobRef {
    BlobRef {
        digest: crate::digest::sha256_digest(IMAGE_CONFIG_CONTENT),
        size: IMAGE_CONFIG_CONTENT.len() as u64,
    }
}

fn image_config_descriptor() -> Descriptor {
    blob_descriptor(IMAGE_CONFIG_MEDIA_TYPE.into(), &image_config_blob())
}

fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: EMPTY_MEDIA_TYPE.into(),
        digest: EMPTY_DIGEST.into(),
        size: 2,
    }
}

/// A manifest of `role` (`object`, `config`, ...) whose layer is `blob`,
/// or the empty blob for markers and probes.
fn build(
    media: &Media,
    role: &str,
    blob: Option<&BlobRef>,
    annotations: &[(&str, &str)],
) -> Vec<u8> {
    let (artifact_type, config, layer) = match media.profile {
        Profile::Artifact => {
            let artifact = format!("{}.{role}", media.family);
            let layer = match blob {
                Some(blob) => blob_descriptor(artifact.clone(), blob),
                None => empty_descriptor(),
            };
            (Some(artifact), empty_descriptor(), layer)
        }
        Profile::Image => {
            let empty = BlobRef {
                digest: EMPTY_DIGEST.into(),
                size: EMPTY_CONTENT.len() as u64,
            };
            let layer = blob_descriptor(IMAGE_LAYER_MEDIA_TYPE.into(), blob.unwrap_or(&empty));
            (None, image_config_descriptor(), layer)
        }
    };
    let mut annotations: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if media.profile == Profile::Image {
        annotations.insert(PROFILE.into(), Profile::Image.name().into());
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        artifact_type,
        config,
        layers: vec![layer],
        annotations,
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
    media: &Media,
    kind: Resource,
    mac: &Mac,
    prefix: Option<&str>,
    blob: &BlobRef,
) -> Vec<u8> {
    let mac = mac.to_hex();
    build(
        media,
        kind.name(),
        Some(blob),
        &key_annotations("object", kind, &mac, prefix),
    )
}

/// A tombstone (at the object tag and the `.d` marker) or a revival marker.
pub fn marker_manifest(
    media: &Media,
    kind: Resource,
    mac: &Mac,
    prefix: Option<&str>,
    revived: bool,
) -> Vec<u8> {
    let role = if revived { "revived" } else { "tombstone" };
    let mac = mac.to_hex();
    build(
        media,
        role,
        None,
        &key_annotations(role, kind, &mac, prefix),
    )
}

/// The configuration manifest. `creator` is a random value a `create`
/// writes, so that reading the tag back tells whether a concurrent
/// `create` overwrote it. The profile is recorded by every manifest of the
/// image profile (an annotation); this one is what `open` reads.
pub fn config_manifest(
    media: &Media,
    prefix: Option<&str>,
    blob: &BlobRef,
    deletion: Deletion,
    creator: Option<&str>,
) -> Vec<u8> {
    let mut annotations = vec![
        (ROLE, "config"),
        (PREFIX, prefix.unwrap_or("")),
        (DELETION, deletion.name()),
    ];
    if let Some(creator) = creator {
        annotations.push((CREATOR, creator));
    }
    build(media, "config", Some(blob), &annotations)
}

/// A throwaway manifest `create` tags and deletes to learn whether DELETE
/// works, and whether the registry takes this profile's media types.
pub fn probe_manifest(media: &Media, prefix: Option<&str>) -> Vec<u8> {
    build(
        media,
        "probe",
        None,
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

/// What a repository's config manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The configuration's bytes.
    pub blob: BlobRef,
    pub deletion: Deletion,
    pub profile: Profile,
}

pub fn parse_config(bytes: &[u8], tag: &str) -> Result<ConfigEntry, StoreError> {
    let what = format!("tag {tag}");
    let m = parse(bytes, &what)?;
    let ann = |k: &str| m.annotations.get(k).map(String::as_str);
    if ann(ROLE) != Some("config") {
        return Err(StoreError::Integrity(format!(
            "{what} holds no Kloset configuration"
        )));
    }
    let deletion = match ann(DELETION) {
        Some("tombstone") => Deletion::Tombstone,
        Some("untag-first") => Deletion::UntagFirst,
        _ => Deletion::Registry,
    };
    let profile = match ann(PROFILE) {
        Some("image") => Profile::Image,
        _ => Profile::Artifact,
    };
    let layer = &m.layers[0];
    Ok(ConfigEntry {
        blob: BlobRef {
            digest: layer.digest.clone(),
            size: layer.size,
        },
        deletion,
        profile,
    })
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
